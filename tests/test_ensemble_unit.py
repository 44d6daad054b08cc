"""harness ensemble without Docker: vote keys and groups, the tie rule, the selectors over given runs,
test discovery on real repositories' file lists (../shared/data/repos, read with git, read-only), and
the refusal of the full task."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from harness.ensemble import (
    GitRepoView,
    Run,
    Settings,
    SystemPatch,
    by_b4,
    by_regression,
    by_votes,
    choose_instance,
    discover_tests,
    is_test_file,
    load_systems,
    module_of,
    vote_groups,
    vote_key,
)
from harness.errors import ConfigError
from harness.tasks import EnvironmentSpec, RepoTask

FIX = """\
diff --git a/pkg/mod.py b/pkg/mod.py
index 1111111..2222222 100644
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1,6 +1,6 @@
 import os
\x20
 def f(x):
-    return x
+    return x + 1
\x20
 def g(y):
@@ -20,5 +20,6 @@ def h(z):
     a = 1
     b = 2
+    c = a + b
     return z
\x20
"""
# The same change: other whitespace, one context line, hunks in the other order, no index line.
FIX_VARIANT = """\
diff --git a/pkg/mod.py b/pkg/mod.py
--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -21,3 +21,4 @@ def h(z):
     b = 2
+    c =  a + b\x20\x20\x20
     return z
@@ -3,3 +3,3 @@
 def f(x):
-    return x
+    return   x + 1
\x20
"""


def _single(i: int) -> str:
    return FIX.replace("return x + 1", f"return x + {i + 2}")


def _cands(*patches: str) -> list[SystemPatch]:
    return [SystemPatch(system=f"s{i}", rank=i, patch=p) for i, p in enumerate(patches)]


def test_vote_key_ignores_whitespace_hunk_order_and_context_but_not_content() -> None:
    assert vote_key(FIX) == vote_key(FIX_VARIANT)
    assert vote_key(FIX) != vote_key(_single(0))
    assert vote_key(FIX) != vote_key(FIX.replace("+    c = a + b", "+    c = a - b"))
    other_file = FIX.replace("pkg/mod.py", "pkg/other.py")
    assert vote_key(FIX) != vote_key(other_file)


def test_equivalent_patches_vote_together_and_beat_more_distinct_singletons() -> None:
    # Four systems each with their own patch come first; three later ones agree modulo formatting.
    cands = _cands(_single(0), _single(1), _single(2), _single(3), FIX, FIX_VARIANT, FIX)
    groups = vote_groups(cands)
    assert [g.size for g in groups] == [3, 1, 1, 1, 1]
    assert groups[0].members == [4, 5, 6]
    v = by_votes(cands)
    assert v.winner == 4 and "3 of 7" in v.reason


def test_tie_rule_is_the_order_systems_are_given() -> None:
    a, b = _single(0), _single(1)
    # Two groups of two: the one whose first member was given first wins, whatever the list order.
    cands = [
        SystemPatch(system="late", rank=3, patch=a),
        SystemPatch(system="first", rank=0, patch=b),
        SystemPatch(system="second", rank=1, patch=a),
        SystemPatch(system="third", rank=2, patch=b),
    ]
    assert by_votes(cands).winner == 1
    assert by_votes(list(reversed(cands))).winner == 2  # the same candidate, "first"
    assert [cands[i].system for i in vote_groups(cands)[0].members] == ["first", "third"]


def _run(sha: str, passing: list[str], failing: list[str] = (), *, applied: bool = True) -> Run:  # type: ignore[assignment]
    statuses = {t: "PASSED" for t in passing} | {t: "FAILED" for t in failing}
    return Run(patch_sha256=sha, applied=applied, statuses=statuses if applied else {})


def test_regression_drops_a_breaking_candidate_even_in_the_largest_group() -> None:
    breaker, fix, bad = _single(0), _single(1), "not a diff"
    cands = _cands(breaker, breaker, breaker, fix, bad)
    base = _run("", ["t1", "t2", "t3"], ["t4"])
    runs = {i: _run("b", ["t1", "t4"], ["t2", "t3"]) for i in range(3)}
    runs[3] = _run("f", ["t1", "t2", "t3", "t4"])
    runs[4] = _run("x", [], applied=False)
    assert by_votes(cands).winner == 0
    v = by_regression(cands, base, runs)
    assert v.winner == 3 and v.fallback is None
    assert sorted(v.dropped) == [0, 1, 2, 4]
    assert "breaks 2 test(s) passing at base: t2, t3" in v.dropped[0] and "does not apply" in v.dropped[4]


def test_regression_missing_tests_count_as_broken_and_the_fallback() -> None:
    a, b, c = _single(0), _single(1), _single(2)
    cands = _cands(a, b, c)
    base = _run("", ["t1", "t2", "t3"])
    # a: its run reported nothing (a collection error, a timeout): every base test is broken.
    runs = {0: _run("a", []), 1: _run("b", ["t1", "t2"]), 2: _run("c", ["t1"])}
    v = by_regression(cands, base, runs)
    assert sorted(v.dropped) == [0, 1, 2] and "breaks 3" in v.dropped[0]
    assert v.winner == 1 and v.fallback is not None and "fewest (1)" in v.fallback
    nothing = by_regression(cands, base, {i: _run("z", [], applied=False) for i in range(3)})
    assert nothing.winner == 0 and nothing.fallback == "no candidate applies: votes among all"


def test_b4_over_candidates_and_regression_tests_with_ties_broken_by_votes() -> None:
    a, b, c = _single(0), _single(1), _single(2)
    cands = _cands(c, a, b, b)
    base = _run("", ["t1", "t2", "t3"])
    runs = {
        0: _run("c", ["t1"], ["t2", "t3"]),
        1: _run("a", ["t1", "t2", "t3"]),
        2: _run("b", ["t1", "t2", "t3"]),
    }
    runs[3] = runs[2]
    v = by_b4(cands, base, runs)
    # a and b pass the same tests (one B4 row shape); b has two votes, so b wins over a (given earlier).
    assert v.winner == 2 and v.b4_scores is not None and "tie broken by votes" in v.reason
    # Every candidate passes the same tests: one tied group, votes decide.
    flat = by_b4(cands, base, {i: _run(str(i), ["t1"]) for i in range(4)})
    assert flat.winner == 2 and "tie broken by votes" in flat.reason


def test_test_file_and_module_rules() -> None:
    assert is_test_file("tests/test_x.py") and is_test_file("a/x_test.py")
    assert not is_test_file("tests/conftest.py") and not is_test_file("tests/helpers.py")
    m = module_of("src/_pytest/mark/evaluate.py")
    assert m is not None and m.dotted == "_pytest.mark.evaluate" and m.stems == ["evaluate", "mark"]
    init = module_of("src/flask/json/__init__.py")
    assert init is not None and init.dotted == "flask.json" and init.stems == ["json"]
    assert module_of("tests/test_basic.py") is None and module_of("README.rst") is None


REPOS = SHARED_DATA / "repos"


@pytest.mark.parametrize(
    ("repo", "commit", "patched", "selected", "test_files"),
    [
        # pallets__flask-4045
        ("flask", "d8c37f43724cd9fb0870f77877b7c4c7e38a19e0", ["src/flask/blueprints.py"],
         ["tests/test_blueprints.py"], 26),
        # pytest-dev__pytest-7373: no test_evaluate.py; its package's name finds test_mark.py
        ("pytest", "7b77fc086aab8b3a8ebc890200371884555eea1e", ["src/_pytest/mark/evaluate.py"],
         ["testing/test_mark.py"], 98),
        # pytest-dev__pytest-5227: the logging folder; the two that import _pytest.logging first
        ("pytest", "2051e30b9b596e944524ccb787ed20f9f5be93e3", ["src/_pytest/logging.py"],
         ["testing/logging/test_formatter.py", "testing/logging/test_reporting.py",
          "testing/logging/test_fixture.py"], 84),
        # pytest's testing/python/*.py (not test_-named) for _pytest/python.py; capped at 4
        ("pytest", "7b77fc086aab8b3a8ebc890200371884555eea1e", ["src/_pytest/python.py", "src/_pytest/fixtures.py"],
         ["testing/python/approx.py", "testing/python/collect.py", "testing/python/fixtures.py",
          "testing/python/integration.py"], 98),
        # a package's __init__: by name and by import; the top-level package and test/doc files give nothing
        ("flask", "d8c37f43724cd9fb0870f77877b7c4c7e38a19e0",
         ["src/flask/json/__init__.py", "src/flask/__init__.py", "tests/test_basic.py"],
         ["tests/test_json.py", "tests/test_json_tag.py", "tests/test_testing.py"], 26),
    ],
)  # fmt: skip
def test_discovery_on_real_repositories(
    repo: str, commit: str, patched: list[str], selected: list[str], test_files: int
) -> None:
    git_dir = REPOS / f"{repo}.git"
    if not git_dir.is_dir():
        pytest.skip(f"{git_dir} is not here (../shared/data/repos)")
    found = asyncio.run(discover_tests(GitRepoView(git_dir, commit), patched, max_files=4))
    assert found.selected == selected and found.test_files == test_files
    if repo == "pytest" and "src/_pytest/python.py" in patched:
        assert "testing/python/metafunc.py" in found.left_out
        assert not any("example_scripts" in f for f in found.selected + found.left_out)


def test_load_systems_names_order_and_empty_patches(tmp_path: Path) -> None:
    rows = [
        {"instance_id": "i1", "model_name_or_path": "sys", "model_patch": FIX},
        {"instance_id": "i2", "model_name_or_path": "sys", "model_patch": ""},
        {"instance_id": "i3", "model_name_or_path": "sys", "model_patch": None},
    ]
    for name in ("a", "b"):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    systems, cands = load_systems([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])
    assert systems == ["sys", "sys#2"]
    assert list(cands) == ["i1"] and [(c.system, c.rank) for c in cands["i1"]] == [("sys", 0), ("sys#2", 1)]


def test_choose_instance_refuses_the_full_task() -> None:
    task = RepoTask(
        instance_id="x", repo="o/r", base_commit="0" * 40, problem_statement="p", test_patch="secret"
    )
    with pytest.raises(ConfigError, match="PublicRepoTask"):
        asyncio.run(choose_instance(task, EnvironmentSpec(), None, _cands(FIX), Settings()))  # type: ignore[arg-type]
    public = asyncio.run(
        choose_instance(task.public_view(), EnvironmentSpec(), None, _cands(FIX, FIX), Settings())
    )
    assert public.winner is not None and public.winner.system == "s0" and public.groups == [["s0", "s1"]]


def test_runs_parse_with_swebenchs_parser_and_keep_the_files_run() -> None:
    from harness.ensemble._runs import _parser, between_markers, own_tests
    from harness.tasks import PublicRepoTask

    task = PublicRepoTask(instance_id="pytest-dev__pytest-7373", repo="pytest-dev/pytest", base_commit="0" * 40,
                          problem_statement="p", version="5.4")  # fmt: skip
    env = EnvironmentSpec(builder="pip", spec_source="swebench==4.1.0 pytest-dev/pytest 5.4")
    log = "\n".join([
        "+ pytest -rA testing/test_mark.py",  # before the markers: not read
        ">>>>> Start Test Output",
        "FAILED test_select_simple.py::test_one - assert 0",  # an inner session's summary line
        "ERROR    root:test_root_logger_affected.py:7 error text going to logger",  # a captured log line
        "PASSED testing/test_mark.py::test_a",
        "FAILED testing/test_mark.py::TestX::test_b - assert 1",
        ">>>>> End Test Output",
    ])  # fmt: skip
    parsed = _parser(task, env)(between_markers(log))
    assert "test_select_simple.py::test_one" in parsed  # swebench's parser reads every such line
    assert own_tests(parsed, ["testing/test_mark.py"]) == {
        "testing/test_mark.py::test_a": "PASSED",
        "testing/test_mark.py::TestX::test_b": "FAILED",
    }
    assert own_tests({"test_x (m.T)": "PASSED"}, ["tests/m.py"]) == {"test_x (m.T)": "PASSED"}


def test_a_failed_sandbox_is_an_error_not_a_result() -> None:
    from harness.ensemble._runs import _checked
    from harness.errors import SandboxError
    from harness.sandbox._types import ExecResult

    def res(status: str, code: int | None) -> ExecResult:
        return ExecResult(status=status, exit_code=code, stdout="", stderr="server gone", duration_ms=1.0)  # type: ignore[arg-type]

    for status, code in (("error", None), ("killed", None)):
        with pytest.raises(SandboxError, match="server gone"):
            _checked(res(status, code))
    # The candidate's own failures are results: they are judged (and cached).
    for status, code in (("timeout", 124), ("oom", 137), ("killed", 137), ("nonzero", 1)):
        assert _checked(res(status, code)).status == status


def test_an_instance_that_fails_now_never_contributes_an_older_choice(tmp_path: Path) -> None:
    from harness.ensemble import Ensemble
    from harness.errors import ImageError
    from harness.tasks import load_local_task

    task = load_local_task(Path(__file__).resolve().parents[1] / "tasks" / "local" / "daterange")
    cands = {task.instance_id: _cands(FIX, _single(0))}

    class NoImages:
        async def image_for(self, task: RepoTask) -> str:
            raise ImageError("no engine here (injected)")

    out = tmp_path / "out"
    votes = asyncio.run(
        Ensemble(Settings(selector="votes"), NoImages(), out).run([task], ["s0", "s1"], cands)
    )
    assert votes.chosen == 1 and (out / "predictions.jsonl").read_text().count("\n") == 1
    reg = asyncio.run(
        Ensemble(Settings(selector="regression"), NoImages(), out).run([task], ["s0", "s1"], cands)
    )
    assert reg.chosen == 0 and "injected" in reg.errors[0].error
    assert (out / "predictions.jsonl").read_text() == "" and (out / "choices.jsonl").read_text() == ""
