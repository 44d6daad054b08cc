"""From a :class:`SandboxProfile` to the container's settings (pure functions, no engine needed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.errors import ConfigError
from harness.sandbox._types import SandboxProfile

PATH_ENV = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def to_bytes(size: str | int) -> int:
    """``"512m"`` -> 536870912 (binary units, as Docker reads them)."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?\s*", size.lower())
    if m is None:
        raise ConfigError(f"size {size!r} is not understood: use e.g. '512m' or '2g'")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def base_env(profile: SandboxProfile) -> dict[str, str]:
    """The whole environment a sandbox sees: a minimal PATH/HOME/LANG plus ``profile.env``. Never the host's."""
    home = "/root" if profile.user.split(":")[0] in {"0", "root"} else "/tmp"
    env = {"PATH": PATH_ENV, "HOME": home, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    return {**env, **profile.env}


def command_env(profile: SandboxProfile, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {**base_env(profile), **(extra or {})}


def container_kwargs(
    profile: SandboxProfile, image: str, labels: Mapping[str, str], name: str
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.run`` (detached, auto-removed).

    The main process is ``sleep <max_lifetime>`` as root: commands (uid 1000 in the strict profile) cannot
    kill it, and when it ends the container stops and is removed, whatever happened to the harness.
    """
    from docker.types import Ulimit

    uid, _, gid = profile.user.partition(":")
    owner = f"uid={uid or 0},gid={gid or uid or 0}" if uid.isdigit() else "uid=0,gid=0"
    tmpfs = {
        "/tmp": f"rw,exec,nosuid,nodev,size={to_bytes(profile.tmp_size)},mode=1777",
        profile.workspace: f"rw,exec,nosuid,nodev,size={to_bytes(profile.workspace_size)},mode=0755,{owner}",
    }
    mem = to_bytes(profile.memory)
    fsize = to_bytes(profile.fsize)
    kwargs: dict[str, Any] = {
        "image": image,
        "entrypoint": ["sleep"],
        "command": [str(int(profile.max_lifetime_s))],
        "name": name,
        "detach": True,
        "auto_remove": True,
        "user": "0:0",
        "working_dir": "/",
        "environment": base_env(profile),
        # docker-py otherwise adds the proxies of the client's config.json (often with credentials).
        "use_config_proxy": False,
        "labels": dict(labels),
        "init": True,
        "network_mode": "bridge" if profile.network else "none",
        "read_only": profile.read_only_root,
        "tmpfs": tmpfs,
        "security_opt": ["no-new-privileges"],
        "pids_limit": profile.pids,
        "mem_limit": mem,
        "memswap_limit": mem,
        "nano_cpus": int(profile.cpus * 1e9),
        "ulimits": [
            Ulimit(name="nofile", soft=profile.nofile, hard=profile.nofile),
            Ulimit(name="fsize", soft=fsize, hard=fsize),
        ],
    }
    if profile.name == "strict":
        kwargs["cap_drop"] = ["ALL"]
    if profile.cap_add:
        kwargs["cap_add"] = list(profile.cap_add)
    return kwargs
