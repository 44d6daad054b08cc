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
