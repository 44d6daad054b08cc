"""A real patch matrix on a local task (tasks/local/money) and the selection loop running tests in Docker.

Candidates: the gold patch, a wrong patch written with our own edits (it fixes yen but breaks every
other currency), a patch that does not apply, and the empty patch. Reproduction scripts: yen and dinar
splitting (the issue), a USD split that already works unedited (so it must not vote), and one that
crashes.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import numpy as np
import pytest
from patch_fixtures import not_applying

from harness.models import Message, load
from harness.pipeline.edits import EditBlock, apply_edits, to_diff
from harness.pipeline.selection_agent import select_patch
from harness.pipeline.voting import build_patch_matrix, dedup, rank_patches, vote
from harness.selection import Cell
from harness.tasks import RepoTask, load_local_task
from harness.tasks.images import TaskImages

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[1]
P, F, E = Cell.PASS, Cell.FAIL, Cell.ERROR

YEN = """\
import sys
from decimal import Decimal
from money import Money
got = [p.amount for p in Money("1000", "JPY").allocate([1, 1, 1])]
print(got)
sys.exit(0 if got == [Decimal(334), Decimal(333), Decimal(333)] else 2)
"""
DINAR = """\
import sys
from decimal import Decimal
from money import Money
got = [p.amount for p in Money("1.000", "KWD").allocate([1, 2])]
print(got)
sys.exit(0 if got == [Decimal("0.334"), Decimal("0.666")] else 2)
"""
USD = """\
import sys
from decimal import Decimal
from money import Money
got = [p.amount for p in Money("10.00", "USD").allocate([1, 2])]
print(got)
sys.exit(0 if got == [Decimal("3.34"), Decimal("6.66")] else 2)
"""
CRASH = "raise RuntimeError('boom')\n"
NOT_APPLYING = not_applying("money/amount.py")


@pytest.fixture(scope="module")
def task() -> RepoTask:
    return load_local_task(ROOT / "tasks" / "local" / "money")


@pytest.fixture(scope="module")
def image(task: RepoTask, base_image: str) -> str:
    return TaskImages(base_image=base_image).instance_image(task)


def _wrong_patch() -> str:
    rel = "money/amount.py"
    old = {rel: (ROOT / "tasks" / "local" / "money" / "repo" / rel).read_text()}
    out = apply_edits(old, [EditBlock(rel, 'CENT = Decimal("0.01")\n', 'CENT = Decimal("1")\n')])
    assert out.ok
    return to_diff(old, out.changed_sources)


def test_patch_matrix_votes_and_b4_on_a_local_task(task: RepoTask, image: str) -> None:
    wrong = _wrong_patch()
    candidates = [task.patch, wrong, task.patch, NOT_APPLYING, ""]
    assert dedup(candidates).counts == [2, 1, 1, 1]
    v = asyncio.run(vote(task.public_view(), candidates, [YEN, DINAR, USD, CRASH, YEN, "  "], image=image))
    pm = v.matrix
    assert v.tests == [YEN, DINAR, USD, CRASH] and pm.matrix.test_counts.tolist() == [2, 1, 1, 1]
    assert pm.baseline.tolist() == [F, F, P, E]
    assert pm.applied == [True, True, False, True]
    assert pm.matrix.cells.tolist() == [
        [P, P, P, E],  # gold
        [P, F, F, E],  # wrong: yen fixed, dinar and USD broken
        [E, E, E, E],  # does not apply
        [F, F, P, E],  # empty = unedited
    ]
    assert "boom" in pm.outputs[0][3] and "does not apply" in pm.outputs[2][0]
    assert pm.informative.tolist() == [True, True, False, True]
    # The yen test was written twice, so it votes twice; USD passes unedited and does not vote.
    assert v.votes.scores == [3.0, 2.0, 0.0, 0.0] and v.votes.top == [0]
    assert v.b4.top == [0] and v.winner("votes") == 0 and v.winner("b4") == 0
    assert rank_patches(pm, "votes") == v.votes
    assert np.array_equal(pm.matrix.candidate_counts, [2, 1, 1, 1])


def test_selection_loop_runs_tests_in_candidate_sandboxes(task: RepoTask, image: str) -> None:
    wrong = _wrong_patch()
    candidates = [wrong, task.patch, ""]
    replies: list[str] = []

    def policy(messages: list[Message], index: int) -> str:
        last = messages[-1].content
        if index == 0:
            reply = '<command candidate="1">grep -rln "yen_whole_units" /testbed ; git log --all --oneline | wc -l</command>'
        elif index == 1:
            reply = f"Let me check dinar splitting.\n<test>\n```python\n{DINAR}```\n</test>"
        else:
            fixed = re.findall(r"### candidate (\d+): exit code 0 \(fixed\)", last)
            reply = f"<choice>{fixed[0]}</choice><reason>only it splits dinar</reason>"
        replies.append(last)
        return reply

    result = asyncio.run(
        select_patch(task.public_view(), load(policy), candidates, None, image=image, max_turns=5)
    )
    assert not result.fell_back and result.index == 1 and result.turns == 3
    # The hidden tests' names are nowhere in the sandbox, and there is one commit in its history.
    assert replies[1].startswith("exit code 0\n1")
    dinar = replies[2]
    assert "### unedited repository: exit code 2 (not fixed)" in dinar
    assert "### candidate 1: exit code 2 (not fixed)" in dinar
    assert "### candidate 2: exit code 0 (fixed)" in dinar


def test_a_test_past_its_timeout_is_a_timeout_cell(task: RepoTask, image: str) -> None:
    slow = "import time\ntime.sleep(60)\n"
    pm = asyncio.run(
        build_patch_matrix(task.public_view(), [task.patch], [slow, YEN], image=image, timeout=2)
    )
    assert pm.baseline.tolist() == [Cell.TIMEOUT, F]
    assert pm.matrix.cells.tolist() == [[Cell.TIMEOUT, P]]


def test_ensemble_selection_picks_another_systems_fix_and_it_resolves(
    task: RepoTask, image: str, tmp_path: Path
) -> None:
    import json

    from harness.evaluation import evaluate_patch, load_predictions
    from harness.pipeline.ensemble import load_external, merge_candidates, our_candidates, write_predictions

    other = tmp_path / "sys-x.jsonl"
    other.write_text(
        json.dumps(
            {"instance_id": task.instance_id, "model_name_or_path": "sys-x", "model_patch": task.patch}
        )
        + "\n"
    )
    ours = our_candidates(task.instance_id, [_wrong_patch(), ""], model="scripted")
    pool = merge_candidates(ours, load_external([other])[task.instance_id])
    v = asyncio.run(vote(task.public_view(), [c.code for c in pool], [YEN, DINAR, USD], image=image))
    chosen = pool[v.winner("votes")]
    assert chosen.provenance.model == "sys-x" and pool[v.winner("b4")] == chosen
    preds = write_predictions(
        tmp_path / "preds.jsonl", {task.instance_id: chosen.code}, model_name="harness-ensemble"
    )
    (pred,) = load_predictions(preds)
    report = asyncio.run(evaluate_patch(task, pred.model_patch, image, model_name=pred.model_name_or_path))
    assert report.resolved and report.outcome == "resolved"
