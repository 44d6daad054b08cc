"""Dedup of candidate patches, votes and B4 on hand-made patch matrices, and ensembles' predictions files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import ConfigError, DataError
from harness.evaluation import load_predictions
from harness.pipeline.ensemble import load_external, merge_candidates, our_candidates, write_predictions
from harness.pipeline.voting import PatchMatrix, dedup, normalize_diff, rank_patches
from harness.selection import Cell, PassMatrix

P, F, E = Cell.PASS, Cell.FAIL, Cell.ERROR

FIX = """\
diff --git a/m/a.py b/m/a.py
--- a/m/a.py
+++ b/m/a.py
@@ -1,3 +1,3 @@
 def f(x):
-    return x
+    return x + 1
 # end
"""
# Same change, other context, other indentation width, an extra comment and blank line.
FIX_NOISY = """\
diff --git a/m/a.py b/m/a.py
index 111..222 100644
--- a/m/a.py
+++ b/m/a.py
@@ -2,2 +2,4 @@ def f(x):
-    return x
+    # add one
+
+    return  x + 1
"""
OTHER = FIX.replace("x + 1", "x + 2")


def test_dedup_exact_and_normalised() -> None:
    d = dedup([FIX, OTHER, FIX, FIX_NOISY, "", "   \n"])
    assert d.unique == [FIX, OTHER, ""]
    assert d.groups == [[0, 2, 3], [1], [4, 5]]
    assert d.counts == [3, 1, 2] and d.index_of(3) == 0
    assert normalize_diff(FIX) == normalize_diff(FIX_NOISY) != normalize_diff(OTHER)


def _pm(cells: list[list[Cell]], baseline: list[Cell], counts: list[int] | None = None) -> PatchMatrix:
    n, m = len(cells), len(baseline)
    matrix = PassMatrix(
        "t",
        [f"c{i}" for i in range(n)],
        [f"t{j}" for j in range(m)],
        np.array(cells, dtype=np.int8),
        candidate_counts=np.array(counts, dtype=np.int64) if counts else None,
    )
    return PatchMatrix(matrix, np.array(baseline, dtype=np.int8), [True] * n)


def test_votes_discount_tests_that_pass_on_the_unedited_repo() -> None:
    # t0 already passes unedited: it votes for nobody. c1 passes the two informative tests.
    pm = _pm([[P, F, F], [F, P, P], [P, P, F]], [P, F, F])
    r = rank_patches(pm, "votes")
    assert r.scores == [0.0, 2.0, 1.0]
    assert r.groups == [[1], [2], [0]] and r.ranked


def test_votes_tie_break_on_multiplicity_then_stay_tied() -> None:
    pm = _pm([[P, F], [P, F], [F, P], [F, F]], [F, F], counts=[1, 3, 1, 1])
    r = rank_patches(pm, "votes")
    assert r.groups == [[1], [0, 2], [3]]


def test_votes_with_no_informative_test_are_unranked() -> None:
    r = rank_patches(_pm([[P], [F]], [P]), "votes")
    assert not r.ranked and r.scores == [0.0, 0.0]


def test_b4_prefers_the_consensus_of_agreeing_patches_and_tests() -> None:
    # Three patches agree on tests t0..t3; a lone patch passes only t4 (a wrong test it satisfies).
    # Votes tie the lone patch with nobody; B4 puts the consensus first.
    cells = [[P, P, P, P, F], [P, P, P, P, F], [P, P, P, F, F], [F, F, F, F, P], [F, F, F, F, F]]
    pm = _pm(cells, [F, F, F, F, F])
    b4 = rank_patches(pm, "b4")
    assert b4.selector == "b4" and set(b4.top) == {0, 1}
    assert b4.groups[-1] != [0]
    votes = rank_patches(pm, "votes")
    assert set(votes.top) == {0, 1}
    with pytest.raises(ConfigError):
        rank_patches(pm, "nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        rank_patches(pm, "b4", gamma=1)


def test_b4_and_votes_can_disagree() -> None:
    # c0 passes 3 tests no other patch passes; c1..c3 agree on 2 tests each. Votes pick c0 (3 > 2);
    # B4 believes the three agreeing patches.
    cells = [[P, P, P, F, F], [F, F, F, P, P], [F, F, F, P, P], [F, F, F, P, P]]
    pm = _pm(cells, [F] * 5)
    assert rank_patches(pm, "votes").top == [0]
    assert set(rank_patches(pm, "b4").top) == {1, 2, 3}


def test_patch_matrix_json_round_trip() -> None:
    pm = _pm([[P, E], [F, P]], [F, F], counts=[2, 1])
    pm.outputs = [["a", "b"], ["c", "d"]]
    back = PatchMatrix.from_json(json.loads(json.dumps(pm.to_json())))
    assert back.matrix.cells.tolist() == pm.matrix.cells.tolist()
    assert back.baseline.tolist() == pm.baseline.tolist() and back.outputs == pm.outputs
    assert back.matrix.candidate_counts.tolist() == [2, 1]


def test_ensemble_round_trip(tmp_path: Path) -> None:
    ext = tmp_path / "other.jsonl"
    rows = [
        {"instance_id": "a-1", "model_name_or_path": "sys-x", "model_patch": FIX},
        {"instance_id": "b-2", "model_name_or_path": "sys-x", "model_patch": ""},
        {"instance_id": "c-3", "model_name_or_path": "sys-x", "model_patch": None},
    ]
    ext.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ext2 = tmp_path / "third.json"
    ext2.write_text(json.dumps([{"instance_id": "a-1", "model_name_or_path": "sys-y", "model_patch": OTHER}]))
    external = load_external([ext, ext2])
    assert list(external) == ["a-1"]  # empty and missing patches dropped
    assert [c.provenance.model for c in external["a-1"]] == ["sys-x", "sys-y"]
    assert external["a-1"][0].provenance.source == f"predictions:{ext}"
    ours = our_candidates("a-1", [OTHER, FIX], model="scripted")
    merged = merge_candidates(ours, external["a-1"])
    assert [c.id for c in merged] == ["ours:0", "ours:1", "ext:other:0", "ext:third:0"]
    assert dedup([c.code for c in merged]).groups == [[0, 3], [1, 2]]

    out = write_predictions(
        tmp_path / "preds.jsonl", {"b-2": OTHER, "a-1": FIX, "c-3": None}, model_name="harness-x"
    )
    preds = load_predictions(out)
    assert [(p.instance_id, p.model_name_or_path, p.model_patch) for p in preds] == [
        ("a-1", "harness-x", FIX),
        ("b-2", "harness-x", OTHER),
        ("c-3", "harness-x", None),
    ]
    dup = tmp_path / "dup.jsonl"
    dup.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(DataError):
        load_external([dup])


def test_exit_codes_map_to_cells() -> None:
    from harness.pipeline.voting import cell_of
    from harness.sandbox import ExecResult

    def res(status: str, code: int | None) -> ExecResult:
        return ExecResult(status=status, exit_code=code, stdout="", stderr="", duration_ms=1.0)  # type: ignore[arg-type]

    assert cell_of(res("ok", 0)) == P
    assert cell_of(res("nonzero", 2)) == F
    assert cell_of(res("nonzero", 1)) == E and cell_of(res("killed", None)) == E
    assert cell_of(res("timeout", 124)) == Cell.TIMEOUT


def test_patch_matrix_refuses_the_full_task() -> None:
    import asyncio

    from harness.pipeline.voting import build_patch_matrix
    from harness.tasks import RepoTask

    task = RepoTask(instance_id="x-1", repo="x/x", base_commit="0" * 40, problem_statement="p", patch="GOLD")
    with pytest.raises(ConfigError, match="PublicRepoTask"):
        asyncio.run(build_patch_matrix(task, [FIX], ["exit(0)"], image="unused"))  # type: ignore[arg-type]


# -- the patch matrix's row cache (host-folder sandboxes: tests/pipeline_host.py) ------------------

NOTE = """\
diff --git a/NOTES.txt b/NOTES.txt
new file mode 100644
--- /dev/null
+++ b/NOTES.txt
@@ -0,0 +1 @@
+a note that fixes nothing
"""
PASSES = "import sys\nsys.exit(0)\n"


class _Counting:
    """Host-folder sandboxes (real processes, real git), counting how many were started."""

    def __init__(self, parent: Path) -> None:
        self.parent, self.started = parent, 0
        parent.mkdir(parents=True, exist_ok=True)

    async def __call__(self, image: str) -> Any:
        from pipeline_host import HostSandbox

        self.started += 1
        return HostSandbox(image, self.parent)


def _unitconv(tmp_path: Path) -> Any:
    from harness.tasks import load_local_task

    return load_local_task(
        Path(__file__).parents[1] / "tasks" / "local" / "unitconv", cache_dir=tmp_path / "tc"
    )


def _build(
    task: Any, cands: list[str], tests: list[str], sb: _Counting, cache: Path | None, **kw: Any
) -> PatchMatrix:
    import asyncio

    from harness.pipeline.voting import build_patch_matrix

    image = task.repo_source().location
    return asyncio.run(
        build_patch_matrix(
            task.public_view(), cands, tests, image=image, sandbox_factory=sb, cache=cache, **kw
        )
    )


def test_a_rebuild_from_the_cache_starts_no_sandbox_and_gives_the_same_matrix(tmp_path: Path) -> None:
    from pipeline_policy import REPRO

    task = _unitconv(tmp_path)
    cands, tests = [task.patch, NOTE, FIX], [REPRO["local__unitconv-1"], PASSES]
    cache, sb = tmp_path / "cache", _Counting(tmp_path / "sb")
    first = _build(task, cands, tests, sb, cache)
    assert sb.started == 4  # the unedited repository and three candidates
    # Real cells: the gold patch fixes it, the note does not, FIX does not apply; PASSES passes everywhere.
    assert first.matrix.cells.tolist() == [[P, P], [F, P], [E, E]]
    assert first.baseline.tolist() == [F, P] and first.applied == [True, True, False]
    assert "does not apply" in first.outputs[2][0] and "1 km^2 in m^2 =" in first.baseline_outputs[0]
    assert (cache / "pass_matrix.sqlite").is_file()  # the engine's store

    again = _Counting(tmp_path / "sb2")
    second = _build(task, cands, tests, again, cache)
    assert again.started == 0
    assert second.to_json() == first.to_json()  # cells, baseline, applied and output tails
    # Without a cache every row runs again, to the same cells.
    uncached = _Counting(tmp_path / "sb3")
    assert _build(task, cands, tests, uncached, None).matrix.cells.tolist() == first.matrix.cells.tolist()
    assert uncached.started == 4


def test_a_changed_patch_test_or_timeout_misses_the_cache(tmp_path: Path) -> None:
    from pipeline_policy import REPRO

    task = _unitconv(tmp_path)
    repro = REPRO["local__unitconv-1"]
    cache = tmp_path / "cache"
    _build(task, [task.patch, NOTE], [repro], _Counting(tmp_path / "sb"), cache)

    # One candidate changed: only its row runs (the unedited repository and the gold patch are hits).
    sb = _Counting(tmp_path / "sb1")
    other = NOTE.replace("a note", "another note")
    pm = _build(task, [task.patch, other], [repro], sb, cache)
    assert sb.started == 1 and pm.matrix.cells.tolist() == [[P], [F]] and pm.baseline.tolist() == [F]

    # A changed test (or one more) misses every row, the unedited repository's included.
    sb = _Counting(tmp_path / "sb2")
    pm = _build(task, [task.patch, NOTE], [repro.replace("1_000_000", "1_000_001")], sb, cache)
    assert sb.started == 3 and pm.matrix.cells.tolist() == [[F], [F]]
    sb = _Counting(tmp_path / "sb3")
    pm = _build(task, [task.patch, NOTE], [repro, PASSES], sb, cache)
    assert sb.started == 3 and pm.matrix.cells.tolist() == [[P, P], [F, P]]

    # So does another timeout (a setting of the key); the first build's inputs are still all hits.
    sb = _Counting(tmp_path / "sb4")
    _build(task, [task.patch, NOTE], [repro], sb, cache, timeout=30.0)
    assert sb.started == 3
    sb = _Counting(tmp_path / "sb5")
    _build(task, [NOTE, task.patch], [repro], sb, cache)
    assert sb.started == 0


def test_the_pipeline_cache_folder_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.pipeline import parse_config

    base = {"suite": "tasks/local", "models": {"default": {"spec": "scripted"}}}
    monkeypatch.delenv("HARNESS_CACHE_DIR", raising=False)
    assert parse_config(base).vote_cache(tmp_path / "run") == tmp_path / "run" / "cache"
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "hc"))
    assert parse_config(base).vote_cache(tmp_path / "run") == tmp_path / "hc" / "pipeline"
    cfg = parse_config({**base, "cache_dir": "rows"}).resolve_paths(tmp_path)
    assert cfg.vote_cache(tmp_path / "run") == (tmp_path / "rows").resolve()
