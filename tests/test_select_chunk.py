"""``harness select --chunk``: one candidate per process unless the user says the pool is trusted."""

from __future__ import annotations

import pytest

from harness.selection.engine import EngineConfig
from harness.selection.run import SelectConfig, _engine_config

pytestmark = pytest.mark.unit

BASE = {"suite": "humaneval", "pool_solutions": "s", "pool_tests": "t", "strategies": ["codet"]}


def test_each_candidate_has_a_process_of_its_own_by_default() -> None:
    assert EngineConfig().chunk == 1
    assert _engine_config(SelectConfig.model_validate(BASE)).chunk == 1


def test_a_trusted_pool_can_share_children_and_keeps_its_timeout() -> None:
    engine = _engine_config(SelectConfig.model_validate({**BASE, "chunk": 16, "timeout_s": 0.5}))
    assert (engine.chunk, engine.timeout_s) == (16, 0.5)
    assert (
        _engine_config(SelectConfig.model_validate({**BASE, "chunk": 16})).timeout_s
        == EngineConfig().timeout_s
    )


def test_a_run_made_before_the_option_resumes_with_one_candidate_per_process() -> None:
    old_manifest = dict(BASE)  # no "chunk" key: a run of an earlier harness
    assert SelectConfig.model_validate(old_manifest).chunk == 1


def test_the_clock_is_the_wall_by_default_and_cpu_when_asked() -> None:
    """``--clock cpu`` reaches the engine (tests timed on their own CPU time, which load does not move);
    a run made before the option resumes with CodeT's wall clock."""
    assert SelectConfig.model_validate(BASE).clock == "wall"
    assert _engine_config(SelectConfig.model_validate(BASE)).clock == "wall"
    assert _engine_config(SelectConfig.model_validate({**BASE, "clock": "cpu"})).clock == "cpu"
    with pytest.raises(ValueError):
        SelectConfig.model_validate({**BASE, "clock": "gpu"})


def test_select_takes_clock_on_the_command_line() -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    res = CliRunner().invoke(app, ["select", "--help"], terminal_width=200)
    assert "--clock" in res.output
    bad = CliRunner().invoke(app, ["select", "--suite", "humaneval", "--clock", "sundial"])
    assert bad.exit_code == 2 and "sundial" in bad.output
