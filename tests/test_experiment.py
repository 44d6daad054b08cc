"""run_experiment: protocols, subsampling, seeds, labels and output shapes."""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from harness.errors import ConfigError, DataError
from harness.selection import PassMatrix, TaskData, run_experiment
from harness.selection.experiment import subsample


def task(task_id: str, rows: list[list[int]], counts: list[int], correct: list[bool], n: int) -> TaskData:
    cells = np.array(rows, dtype=np.int8)
    m = PassMatrix(
        task_id,
        [f"{task_id}/c{i}" for i in range(cells.shape[0])],
        [f"x{j}" for j in range(cells.shape[1])],
        cells,
        candidate_counts=np.array(counts, dtype=np.int64),
    )
    return TaskData(m, np.array(correct, dtype=np.bool_), n)


TASKS = {
    # CodeT picks c0 (right); one of 3 distinct right (B4 keeps it), 3 of 10 samples right.
    "a": task("a", [[1, 1], [1, 0], [0, 0]], [3, 5, 2], [True, False, False], 10),
    # Nothing passes: unranked -> random fallback 4/10 under CodeT; B4 keeps it (p = 1/2), random = 1/2.
    "b": task("b", [[0, 0], [0, 0]], [4, 6], [True, False], 10),
    # Every candidate right: CodeT counts 1.0; B4 drops the task (p = 1).
    "c": task("c", [[1, 0], [0, 1]], [5, 5], [True, True], 10),
}


def test_both_protocols_with_their_own_task_sets() -> None:
    res = run_experiment(TASKS, strategies=["codet", "random"])
    by = {(r.protocol, r.strategy): r for r in res.rows}
    assert by["codet", "codet"].pass_at_1 == pytest.approx(100 * (1.0 + 0.4 + 1.0) / 3)
    assert by["codet", "random"].pass_at_1 == pytest.approx(100 * (0.3 + 0.4 + 1.0) / 3)
    assert by["b4", "codet"].pass_at_1 == pytest.approx(100 * (1.0 + 0.5) / 2)
    assert by["b4", "random"].pass_at_1 == pytest.approx(100 * (1 / 3 + 0.5) / 2)
    assert by["codet", "oracle"].pass_at_1 == pytest.approx(100.0)
    assert by["codet", "codet"].n_tasks == 3 and by["b4", "codet"].n_tasks == 2
    assert all(r.std == 0.0 for r in res.rows)


def test_outputs_are_labelled_and_serialisable() -> None:
    res = run_experiment(TASKS, strategies=["b4", "b4:wide"], params={"b4:wide": {"beta0": 1e4}})
    js = res.to_json()
    assert js["unit"] == "percent"
    assert set(js["protocols"]) == {"codet", "b4"}
    assert "label" in js["protocols"]["b4"] and "b4:wide" in js["protocols"]["b4"]["strategies"]
    console = Console(record=True, width=120)
    console.print(res.table())
    text = console.export_text()
    assert "CodeT" in text and "B4" in text
    assert {r.protocol for r in res.rankings} == {"codet", "b4"}
    assert res.model_dump_json()


def test_single_protocol_and_bad_strategy() -> None:
    res = run_experiment(TASKS, strategies=["maxpass"], protocol="codet")
    assert {r.protocol for r in res.rows} == {"codet"}
    with pytest.raises(ConfigError):
        run_experiment(TASKS, strategies=["nope"])
    with pytest.raises(ConfigError):
        run_experiment(TASKS, strategies=["b4"], params={"b4": {"bogus": 1}})


def test_subsample_draws_samples_without_replacement_respecting_multiplicity() -> None:
    t = task("s", [[1, 0], [0, 1], [1, 1]], [1, 2, 7], [False, True, False], 12)
    rng = np.random.default_rng(0)
    seen = np.zeros(3)
    for _ in range(2000):
        s = subsample(t, 4, rng)
        assert s.n_samples == 4 and int(s.matrix.candidate_counts.sum()) <= 4
        for cid, c in zip(s.matrix.candidate_ids, s.matrix.candidate_counts, strict=True):
            seen[int(cid[-1])] += c
            assert c <= [1, 2, 7][int(cid[-1])]
    # Expected draws per candidate: 4 * count / 12 per subsample.
    assert seen / 2000 == pytest.approx(np.array([1, 2, 7]) * 4 / 12, rel=0.08)
    assert subsample(t, 12, rng) is t


def test_seeds_average_and_std_and_determinism() -> None:
    a = run_experiment(TASKS, strategies=["codet"], n_samples=3, seeds=[0, 1, 2, 3])
    b = run_experiment(TASKS, strategies=["codet"], n_samples=3, seeds=[0, 1, 2, 3])
    assert a.rows == b.rows
    row = next(r for r in a.rows if r.protocol == "codet" and r.strategy == "codet")
    per_seed = [
        np.mean(
            [
                x.pass_at_1
                for x in a.rankings
                if x.seed == s and x.strategy == "codet" and x.protocol == "codet"
            ]
        )
        for s in range(4)
    ]
    assert row.pass_at_1 == pytest.approx(100 * np.mean(per_seed))
    assert row.std == pytest.approx(100 * np.std(per_seed))


def test_task_data_validates_shapes() -> None:
    m = TASKS["a"].matrix
    with pytest.raises(DataError):
        TaskData(m, np.array([True]), 10)
    with pytest.raises(DataError):
        TaskData(m, np.array([True, False, False]), 5)
