"""Sandbox parts that need no engine: profiles to container settings, output capping, run ids, recipes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.sandbox import SandboxProfile, images, resolve_run_id
from harness.sandbox._config import base_env, command_env, container_kwargs, to_bytes
from harness.sandbox._server import Capped


def test_sizes() -> None:
    assert to_bytes("512m") == 512 << 20 and to_bytes("1g") == 1 << 30 and to_bytes("2GiB") == 2 << 30
    assert to_bytes(42) == 42 and to_bytes("10k") == 10240
    with pytest.raises(ConfigError):
        to_bytes("lots")


def test_strict_container_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    prof = SandboxProfile.strict(env={"MY": "1"})
    kw = container_kwargs(prof, "img", {"harness.managed": "1"}, "name")
    assert kw["network_mode"] == "none" and kw["read_only"] and kw["cap_drop"] == ["ALL"]
    assert kw["security_opt"] == ["no-new-privileges"] and kw["init"] and kw["auto_remove"]
    assert kw["mem_limit"] == kw["memswap_limit"] == 1 << 30 and kw["nano_cpus"] == 10**9
    assert kw["pids_limit"] == 256 and {u.name for u in kw["ulimits"]} == {"nofile", "fsize"}
    assert kw["entrypoint"] == ["sleep"] and kw["command"] == ["3600"] and kw["user"] == "0:0"
    assert "uid=1000,gid=1000" in kw["tmpfs"]["/workspace"] and "size=536870912" in kw["tmpfs"]["/workspace"]
    assert "size=268435456" in kw["tmpfs"]["/tmp"]
    assert "volumes" not in kw and "mounts" not in kw  # never the Docker socket
    env = kw["environment"]
    assert "OPENAI_API_KEY" not in env and env["MY"] == "1" and env["HOME"] == "/tmp"
    assert set(env) == {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "MY"}
    assert command_env(prof, {"X": "y"}) == {**base_env(prof), "X": "y"}


def test_compat_container_settings() -> None:
    kw = container_kwargs(SandboxProfile.compat(), "img", {}, "name")
    assert not kw["read_only"] and "cap_drop" not in kw and kw["network_mode"] == "none"
    assert "uid=0,gid=0" in kw["tmpfs"]["/workspace"] and kw["environment"]["HOME"] == "/root"


def test_capped_keeps_head_and_tail() -> None:
    c = Capped(10)
    for chunk in (b"abc", b"defgh", b"ijklmnop", b"qrstuvwxyz"):
        c.add(chunk)
    assert c.truncated and c.total == 26
    assert (
        c.value().startswith(b"abcde") and c.value().endswith(b"vwxyz") and b"16 bytes truncated" in c.value()
    )
    small = Capped(10)
    small.add(b"0123456789")
    assert not small.truncated and small.value() == b"0123456789"


def test_run_id_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_RUN_ID", raising=False)
    per_process = resolve_run_id()
    assert per_process == resolve_run_id() and per_process.startswith("adhoc-")
    monkeypatch.setenv("HARNESS_RUN_ID", "from-env")
    assert resolve_run_id() == "from-env" and resolve_run_id("explicit") == "explicit"


def test_tags_follow_the_recipes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(images.RECIPES, tmp_path / "sandboxes")
    monkeypatch.setattr(images, "RECIPES", tmp_path / "sandboxes")
    base, py = images.base_spec(), images.python_spec()
    assert base.tag.startswith("harness-base:") and len(base.tag.split(":")[1]) == 12
    assert py.alias == "harness-python:latest" and "python3" in images.packages()
    (tmp_path / "sandboxes/base/packages.txt").write_text("python3\ngit\n# a comment\ncurl\n")
    assert images.packages() == ["python3", "git", "curl"]
    assert images.base_spec().tag != base.tag and images.python_spec().tag != py.tag, (
        "the base change cascades"
    )
    (tmp_path / "sandboxes/python/Dockerfile").write_text("FROM x\n")
    assert images.python_spec().tag != py.tag
