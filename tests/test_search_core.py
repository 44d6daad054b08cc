"""Exact arithmetic of the search layer: UCT, backups, best-first priority, budget accounting."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pytest

from harness.errors import BudgetExceeded, ConfigError
from harness.models import Spend
from harness.models._types import Completion, Message, Usage
from harness.search import (
    MCTS,
    SFS,
    BudgetLimits,
    BudgetMeter,
    CommonConfig,
    LocalExecutor,
    MCTSConfig,
    Node,
    Origin,
    Search,
    Tree,
    VisibleTest,
    extract_program,
)
from harness.search._best_first import priority
from harness.search._executor import engine_config
from harness.search._prompts import DIRECTIONS, parse_directions, parse_insights
from harness.search._sfs import has_better_child, unvisited_directions
from harness.search._uct import backup_max, backup_mean, best_uct_child, uct
from harness.search._visible import docstring_tests, parse_generated_tests
from harness.selection._types import Cell
from harness.selection.engine import Engine, EngineConfig, Request


def _tree(*scores: float) -> tuple[Tree, list[Node]]:
    t = Tree()
    nodes = [t.new_node(f"p{i}", Origin(kind="seed"), None, cost=Spend()) for i in range(len(scores))]
    for n, s in zip(nodes, scores, strict=True):
        n.score = n.value = s
        n.visits = 1
    return t, nodes


def test_uct_formula_exact() -> None:
    _, (a,) = _tree(0.5)
    a.visits = 3
    assert uct(a, 10) == pytest.approx(0.5 + math.sqrt(2) * math.sqrt(math.log(10) / 3))
    assert uct(a, 10, c=0.0) == 0.5
    a.visits = 0
    assert uct(a, 10) == math.inf


def test_best_uct_child_prefers_less_visited_and_breaks_ties_by_order() -> None:
    t, (a, b) = _tree(0.5, 0.5)
    t.root.visits = 5
    a.visits, b.visits = 4, 1
    assert best_uct_child(t.root) is b
    b.visits = 4
    assert best_uct_child(t.root) is a  # exact tie: the earlier child
    a.value = 0.9
    assert best_uct_child(t.root, c=0.0) is a


def test_max_backup_propagates_the_best_value_to_every_ancestor() -> None:
    t, (a,) = _tree(0.2)
    b = t.new_node("b", Origin(kind="refine"), a, cost=Spend())
    b.value = 0.6
    c = t.new_node("c", Origin(kind="refine"), b, cost=Spend())
    c.value = 0.4
    backup_max(c)
    assert (b.value, a.value, t.root.value) == (0.6, 0.6, 0.6)
    d = t.new_node("d", Origin(kind="refine"), b, cost=Spend())
    d.value = 1.0
    backup_max(d)
    assert (b.value, a.value, t.root.value) == (1.0, 1.0, 1.0)
    assert c.value == 0.4  # siblings are untouched


def test_mean_backup_is_the_running_mean_with_visits() -> None:
    t, (a,) = _tree(0.0)
    t.root.visits, t.root.value = 1, 0.0
    b = t.new_node("b", Origin(kind="refine"), a, cost=Spend())
    b.value, b.visits = 1.0, 1
    backup_mean(b)
    assert (a.visits, a.value) == (2, 0.5)
    assert (t.root.visits, t.root.value) == (2, 0.5)
    c = t.new_node("c", Origin(kind="refine"), a, cost=Spend())
    c.value, c.visits = 0.5, 1
    backup_mean(c)
    assert a.visits == 3 and a.value == pytest.approx((0.0 + 1.0 + 0.5) / 3)


def test_best_first_priority_orders_by_score_then_normalised_logprob_then_age() -> None:
    _, (a, b, c, d) = _tree(0.5, 0.5, 0.5, 1.0)
    a.logprob, a.n_tokens = -8.0, 16  # -8/16**0.5 = -2.0
    b.logprob, b.n_tokens = -3.0, 4  # -3/4**0.5 = -1.5  (better)
    c.logprob = None  # unknown: 0.0
    assert a.normalised_logprob(0.5) == -2.0 and b.normalised_logprob(0.5) == -1.5
    order = sorted([a, b, c, d], key=lambda n: priority(n, 0.5))
    assert order == [d, c, b, a]
    # With alpha = 0 the tie-break is the plain sum of log-probs; with alpha = 1 the per-token mean.
    assert a.normalised_logprob(0.0) == -8.0 and a.normalised_logprob(1.0) == -0.5
    c.logprob, c.n_tokens = -100.0, 10
    assert sorted([a, b, c], key=lambda n: priority(n, 1.0)) == [a, b, c]


def test_budget_spec_parsing() -> None:
    assert BudgetLimits.parse("programs=10").programs == 10
    lim = BudgetLimits.parse("calls=30|tokens=2000,dollars=0.5")
    assert (lim.calls, lim.tokens, lim.cost_usd) == (30, 2000, 0.5)
    assert lim.axis == "calls"
    with pytest.raises(ConfigError):
        BudgetLimits.parse("progs=3")
    with pytest.raises(ConfigError):
        BudgetLimits.parse("")


class _Echo:
    name = "echo"

    async def sample(
        self,
        messages,
        *,
        n=1,
        temperature=1.0,
        top_p=1.0,
        max_tokens=1024,
        stop=None,
        seed=None,
        logprobs=False,
    ):  # type: ignore[no-untyped-def]
        # A request's prompt tokens are split across its n completions (the Completion contract).
        return [
            Completion(
                text="x", usage=Usage(input_tokens=10 if i == 0 else 0, output_tokens=5), cost_usd=0.01
            )
            for i in range(n)
        ]


MSG = [Message(role="user", content="hi")]


async def test_meter_counts_every_call_and_refuses_past_limits() -> None:
    meter = BudgetMeter(BudgetLimits(programs=3, calls=10))
    await meter.sample(_Echo(), MSG, purpose="tests")
    await meter.sample(_Echo(), MSG, purpose="program", n=2)
    await meter.sample(_Echo(), MSG, purpose="reflection")
    s = meter.spent
    assert (s.calls, s.programs, s.input_tokens, s.output_tokens) == (3, 2, 30, 20)
    assert s.cost_usd == pytest.approx(0.04)
    # Only one program fits: n is cut to 1, so the program limit is exact.
    out = await meter.sample(_Echo(), MSG, purpose="program", n=5)
    assert len(out) == 1 and meter.spent.programs == 3
    # No program fits any more: every further call (of any purpose) is refused before it is sent.
    with pytest.raises(BudgetExceeded) as err:
        await meter.sample(_Echo(), MSG, purpose="insights")
    assert err.value.spent["programs"] == 3
    assert meter.spent.calls == 4
    assert meter.calls_by_purpose() == {"tests": 1, "program": 2, "reflection": 1}


async def test_meter_token_limit_overshoots_by_at_most_one_call() -> None:
    meter = BudgetMeter(BudgetLimits(tokens=20))
    await meter.sample(_Echo(), MSG, purpose="program")  # 15 tokens
    await meter.sample(_Echo(), MSG, purpose="program")  # 30: over, but it was affordable when sent
    with pytest.raises(BudgetExceeded):
        await meter.sample(_Echo(), MSG, purpose="program")
    assert meter.spent.tokens == 30


def test_prompts_fail_on_missing_or_unexpected_variables() -> None:
    with pytest.raises(ConfigError):
        DIRECTIONS.render(prompt="p", program="x", feedback="f", insights="i")
    with pytest.raises(ConfigError):
        DIRECTIONS.render(prompt="p", program="x", feedback="f", insights="i", n=2, extra=1)
    msgs = DIRECTIONS.render(prompt="p", program="x", feedback="f", insights="i", n=2)
    assert "2 different ways" in msgs[1].content


def test_parse_directions_and_insights() -> None:
    text = "Some thoughts.\nIdea 1: do A\nmore on A\n**Idea 2:** do B\nIdea 3: do C"
    assert parse_directions(text, 2) == ["do A more on A", "do B"]
    assert parse_directions("1. first\n2. second", 5) == ["first", "second"]
    assert parse_insights("blah\nUpdated insights:\n- a\n- b") == "- a\n- b"


def test_docstring_tests_parse_doctest_and_arrow_examples() -> None:
    prompt = (
        "def f(x, y):\n    '''Add.\n    >>> f(1, 2)\n    3\n    f(2, 2) ==> 4\n    f(a) -> 5\n"
        "    f(0, 0) ➞ 0.\n    f(3, 3) -> 6 - 0\n    '''\n"
    )
    codes = [t.code for t in docstring_tests(prompt, "f")]
    assert codes == ["assert f(1, 2) == 3", "assert f(2, 2) == 4", "assert f(0, 0) == 0"]


def test_generated_tests_keep_valid_asserts_on_the_entry_point() -> None:
    text = "```python\nassert f(1) == 2, 'msg'\nassert g(1) == 2\nassert f(( == 1\nassert f(2) == 3\n```"
    assert [t.code for t in parse_generated_tests(text, "f", 5)] == ["assert f(1) == 2", "assert f(2) == 3"]


def _search_state() -> Search:
    from test_search_fakes import make_task

    return Search("t", make_task().public_view(), None, None, BudgetMeter(BudgetLimits()), CommonConfig(), 0)  # type: ignore[arg-type]


def test_sfs_selection_follows_the_released_rule() -> None:
    s = _search_state()
    t = s.tree
    t.root.score, t.root.value, t.root.visits = -1.0, 0.0, 1
    a = t.new_node("a", Origin(kind="seed"), None, cost=Spend())
    b = t.new_node("b", Origin(kind="seed"), None, cost=Spend())
    for n, sc in ((a, 0.5), (b, 0.25)):
        n.score = n.value = sc
        n.visits = 1
    sfs = SFS()
    # The root always has better children (score -1): descend; ties on UCT go to the earlier seed.
    assert sfs.select(s) is a and (t.root.visits, a.visits) == (2, 2)
    # a has directions left: stop at a even though it has a better child.
    a.directions = ["d1", "d2"]
    c = t.new_node("c", Origin(kind="direction", direction="d1"), a, cost=Spend())
    c.score = c.value = 1.0
    c.visits = 1
    backup_max(c)
    assert a.value == 1.0 and t.root.value == 1.0
    assert unvisited_directions(a) == ["d2"]
    assert sfs.select(s) is a
    # All directions used and a better child exists: descend to the child by UCT.
    t.new_node("e", Origin(kind="direction", direction="d2"), a, cost=Spend()).visits = 1
    assert has_better_child(a)
    assert sfs.select(s) is c
    # A leaf (no children) is where selection stops.
    assert not has_better_child(c)


def test_mcts_selection_descends_only_through_fully_expanded_nodes() -> None:
    s = _search_state()
    t = s.tree
    mcts = MCTS(MCTSConfig(width=2, seeds=1))
    assert mcts.select(s) is t.root  # no seed yet: expand the root
    a = t.new_node("a", Origin(kind="seed"), None, cost=Spend())
    a.visits, t.root.visits = 1, 1
    assert mcts.select(s) is a  # root has its one seed; a has 0 < 2 children
    b = t.new_node("b", Origin(kind="refine"), a, cost=Spend())
    b.visits = 1
    assert mcts.select(s) is a  # 1 < 2 children
    c = t.new_node("c", Origin(kind="refine"), a, cost=Spend())
    c.visits, a.visits = 1, 3
    b.value, c.value = 0.2, 0.9
    assert mcts.select(s) is c  # fully expanded: UCT picks the better child (equal visits)


def test_extract_program_handles_fences_bodies_and_helpers() -> None:
    from test_search_fakes import make_task

    task = make_task().public_view()
    fenced = "text\n```python\ndef add_abs(a, b):\n    return abs(a) + abs(b)\n```\nmore"
    prog = extract_program(fenced, task)
    assert prog.startswith(task.prompt.rstrip("\n")) and prog.rstrip().endswith("return abs(a) + abs(b)")
    body = "    return abs(a) + abs(b)\n"
    assert extract_program(body, task) == task.prompt + body
    env: dict[str, object] = {}
    exec(extract_program(fenced, task), env)
    assert env["add_abs"](-1, -2) == 3  # type: ignore[operator]


async def test_local_executor_isolates_tests_and_reports_failures() -> None:
    program = "import sys\nstate = []\ndef f(x):\n    state.append(x)\n    if x == 3:\n        while True: pass\n    if x == 4:\n        sys.exit(3)\n    if x == 5:\n        raise ValueError('bad')\n    return len(state)\n"
    tests = [f"assert f({x}) == 1" for x in (1, 2, 3, 4, 5)] + ["assert f(0) == 2"]
    report = await LocalExecutor(timeout_s=1.0).run(program, [VisibleTest(code=c) for c in tests])
    # Each test runs in a fresh process: state never leaks (f(2) == 1 passes), so f(0) == 2 fails.
    assert report.cells == [Cell.PASS, Cell.PASS, Cell.TIMEOUT, Cell.ERROR, Cell.ERROR, Cell.FAIL]
    assert "assert f(0) == 2 # output: 1" in report.feedback()
    assert "ValueError: bad" in report.outcomes[4].detail
    broken = await LocalExecutor().run("def f(:\n", [VisibleTest(code="assert f(1) == 1")])
    assert broken.cells == [Cell.ERROR] and "SyntaxError" in broken.outcomes[0].detail


async def test_a_program_writing_to_the_raw_output_fds_keeps_its_cells() -> None:
    # The runner's one result line goes to its stdout: a program writing bytes straight to fd 1 (or
    # fd 2) must not corrupt it, else every test of that program would count as an error.
    program = (
        "import os\nos.write(1, b'junk without a newline')\nos.write(2, b'more')\ndef f(x):\n    return x\n"
    )
    tests = ["assert f(1) == 1", "assert f(2) == 3"]
    report = await LocalExecutor(timeout_s=2.0).run(program, [VisibleTest(code=c) for c in tests])
    assert report.cells == [Cell.PASS, Cell.FAIL]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


async def test_cancelling_a_local_run_leaves_no_process_behind(tmp_path: Path) -> None:
    # A unit cancelled mid-test (a sibling failed, Ctrl-C) must not leave its runner or the test's own
    # child (in a session of its own) spinning: the runner is stopped and kills the child first.
    import asyncio

    mark = tmp_path / "pid"
    program = (
        f"import os\ndef f():\n    open({str(mark)!r}, 'w').write(str(os.getpid()))\n    while True: pass\n"
    )
    task = asyncio.ensure_future(LocalExecutor(timeout_s=60.0).run_codes(program, ["f()"]))
    for _ in range(500):
        if mark.exists() and mark.read_text():
            break
        await asyncio.sleep(0.01)
    child = int(mark.read_text())
    assert _alive(child)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # SIGKILL is delivered at once; give the kernel a moment to reap it
        if not _alive(child):
            break
        await asyncio.sleep(0.01)
    assert not _alive(child)


async def test_local_executor_texts_of_cells_the_worker_could_not_describe_and_of_odd_tests() -> None:
    # A test that kills its own process has no text from the worker (its parent fills the cell); one that
    # does not compile says why; a program's ``if __name__ == "__main__":`` block never runs.
    program = "import os\ndef f(x):\n    return x\nif __name__ == '__main__':\n    raise SystemExit('ran')\n"
    tests = ["assert f(1) == 1", "os.kill(os.getpid(), 9)", "assert f(", "assert f([1]) == [2]"]
    report = await LocalExecutor(timeout_s=2.0).run(program, [VisibleTest(code=c) for c in tests])
    assert report.cells == [Cell.PASS, Cell.ERROR, Cell.ERROR, Cell.FAIL]
    details = [o.detail for o in report.outcomes]
    assert details[1] == "the test process died" and details[2].startswith("SyntaxError: ")
    assert details[3] == "[1]" and "assert f([1]) == [2] # output: [1]" in report.feedback()


async def test_hung_tests_of_one_program_wait_out_their_timeouts_side_by_side() -> None:
    program = "def f(x):\n    while x > 5: pass\n    return 2 * x\n"
    tests = [VisibleTest(code=f"assert f({i}) == {2 * i}") for i in range(10)]
    t0 = time.monotonic()
    report = await LocalExecutor(timeout_s=1.0).run(program, tests)
    assert report.cells == [Cell.PASS] * 6 + [Cell.TIMEOUT] * 4
    assert report.outcomes[9].detail == "timed out after 1.0s"
    assert time.monotonic() - t0 < 3.5  # one after another it took 4 s and more


def test_search_engine_options_are_off_by_default_and_keep_the_engine_s_keys() -> None:
    # Search's options (detail, program_name) change neither the payload nor the cache keys of the
    # requests the selection stage sends: its matrices and figures stay as they were.
    plain = json.loads(Engine(EngineConfig())._settings("tests"))
    assert not {"detail", "program_name"} & set(plain)
    ours = json.loads(Engine(engine_config(3.0))._settings("tests"))
    assert ours["detail"] is True and ours["program_name"] == "__candidate__"
    payload, _ = Engine(EngineConfig())._payload([Request("tests", ["x = 1"], ["assert x == 1"])], [(0, 0)])
    assert not {"detail", "program_name"} & set(json.loads(payload))
