"""One sandbox Protocol (issue 16, item 5): ``run(cmd, *, timeout, cwd, env, stdin)`` is declared once,
in :class:`harness.sandbox.CommandRunner`; the narrower protocols of what a stage uses of a sandbox
extend it, and mypy checks every implementation against them (the backends and the test fakes)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

import harness
from harness.ensemble._runs import RunSandbox
from harness.pipeline.loops import LoopSandbox
from harness.sandbox import CommandRunner, EvalSandbox, Sandbox

ROOT = Path(harness.__file__).resolve().parent
TESTS = Path(__file__).resolve().parent


def test_run_is_declared_once_among_the_protocols() -> None:
    """No ``class ...(Protocol)`` in the package other than CommandRunner declares ``run(cmd, ...)``
    (search's ``Executor.run(program, tests)`` is another idea)."""
    declaring = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = {ast.unparse(b) for b in node.bases}
            if "Protocol" not in bases:
                continue
            if any(
                isinstance(s, ast.AsyncFunctionDef) and s.name == "run" and s.args.args[1].arg == "cmd"
                for s in node.body
            ):
                declaring.append(f"{path.relative_to(ROOT.parent)}:{node.name}")
    assert declaring == ["harness/sandbox/_types.py:CommandRunner"]


@pytest.mark.parametrize("proto", [Sandbox, EvalSandbox, LoopSandbox, RunSandbox])
def test_each_stage_protocol_takes_run_from_command_runner(proto: type) -> None:
    assert CommandRunner in proto.__mro__ and proto.run is CommandRunner.run  # type: ignore[attr-defined]


_CHECKED = """
from __future__ import annotations
from collections.abc import Sequence
from harness.cluster import RaySandbox
from harness.ensemble._runs import RunSandbox
from harness.pipeline.loops import LoopSandbox
from harness.sandbox import CommandRunner, DockerSandbox, EvalContainer, EvalSandbox, ExecResult, Sandbox
from pipeline_host import HostSandbox
from test_engine_lanes import Failing


def backends(d: DockerSandbox, e: EvalContainer, r: RaySandbox, h: HostSandbox, f: Failing) -> None:
    runners: list[CommandRunner] = [d, e, r, h, f]
    full: list[Sandbox] = [d, r]
    evals: list[EvalSandbox] = [d, e, r, f]
    loops: list[LoopSandbox] = [d, r, h]
    runs: list[RunSandbox] = [d, r]


class NoStdin:
    async def run(self, cmd: str | Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
                  env: dict[str, str] | None = None) -> ExecResult:
        raise NotImplementedError


wrong: CommandRunner = NoStdin()
"""


def test_mypy_checks_every_implementation_against_the_one_signature(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = pytest.importorskip("mypy.api")
    probe = tmp_path / "sandbox_protocol_probe.py"
    probe.write_text(_CHECKED, encoding="utf-8")
    monkeypatch.setenv("MYPYPATH", str(TESTS))  # the fakes: pipeline_host, test_engine_lanes
    out, err, _ = api.run(
        [
            "--config-file",
            str(ROOT.parent / "pyproject.toml"),
            "--follow-imports=silent",
            "--no-error-summary",
            "--cache-dir",
            str(ROOT.parent / ".mypy_cache"),
            str(probe),
        ]
    )
    errors = [line for line in out.splitlines() if ": error:" in line]
    # Only the stand-in without stdin is refused: every backend and fake fits its protocols.
    assert len(errors) == 1, out + err
    assert "wrong: CommandRunner" in _CHECKED.splitlines()[int(errors[0].split(":")[1]) - 1]
    assert '"NoStdin"' in errors[0] and "CommandRunner" in errors[0]


def test_signature_of_run_is_the_protocols_in_every_backend() -> None:
    from harness.cluster import RaySandbox
    from harness.sandbox import DockerSandbox, EvalContainer

    want = inspect.signature(CommandRunner.run)
    for impl in (DockerSandbox, EvalContainer, RaySandbox):
        got = inspect.signature(impl.run)
        assert list(got.parameters) == list(want.parameters), impl
        assert [p.kind for p in got.parameters.values()] == [p.kind for p in want.parameters.values()], impl
