"""The context stage: which files a trajectory is shown, as CodeMonkeys chooses them.

* **Relevance**: every non-test source file of the repository is read by the model together with the
  issue (one call per file, ``concurrency`` at a time; files over ``max_file_chars`` are skipped).
  The answer is ``<verdict>relevant</verdict>`` or ``not relevant`` with a ``<summary>``. Parsing is
  lenient (tags or ``Verdict:`` lines, any case, ``yes``/``no``); an answer it cannot read, or a
  failed call, makes the file *not relevant* and the reason is kept in :attr:`FileVerdict.reason`.
* **Ranking**: the relevant files' summaries go to the model ``n_rankings`` times; each answer is an
  ordered list of paths (``<ranking>`` lines, numbered or bulleted; unknown paths ignored, missing
  relevant files appended in relevance order). Positions are averaged over the rankings that parsed.
* **Budget**: files are added in that order while their estimated tokens (four characters a token)
  fit into ``token_budget``; a file that does not fit is skipped and smaller later ones may still fit.

:func:`build_context` runs the three steps and returns a :class:`ContextResult` (a pydantic record,
stored as the stage's artefact).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import BudgetExceeded, ModelError
from harness.models import Spend
from harness.models._backend import estimate_tokens
from harness.models._types import Message, Model
from harness.pipeline import prompts
from harness.pipeline._chat import Chat
from harness.tasks._repo import PublicRepoTask
from harness.trajectory import TrajectoryLog

SOURCE_SUFFIXES = (".py",)

_VERDICT_TAG = re.compile(r"<verdict>\s*(.*?)\s*</verdict>", re.DOTALL | re.IGNORECASE)
_VERDICT_LINE = re.compile(r"^\W*verdict\W*[:=-]\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_SUMMARY_TAG = re.compile(r"<summary>\s*(.*?)\s*</summary>", re.DOTALL | re.IGNORECASE)
_SUMMARY_LINE = re.compile(r"^\W*summary\W*[:=-]\s*(.+)", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_RANKING_TAG = re.compile(r"<ranking>(.*?)</ranking>", re.DOTALL | re.IGNORECASE)


class FileVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    relevant: bool
    summary: str = ""
    reason: str = ""
    """Why the file counts as not relevant without the model saying so (skipped, unreadable answer)."""


class ContextResult(BaseModel):
    """What the context stage decided for one task."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    task_id: str
    verdicts: list[FileVerdict]
    rankings: list[list[str]] = Field(default_factory=list)
    """Each parsed ranking, as the model gave it (known paths only)."""
    order: list[str] = Field(default_factory=list)
    """Relevant files by averaged position, best first."""
    included: list[str] = Field(default_factory=list)
    """The files shown to the trajectories, in ``order``."""
    tokens: int = 0
    """Estimated tokens of the included files."""
    spent: Spend = Field(default_factory=Spend)

    @property
    def relevant(self) -> list[str]:
        return [v.path for v in self.verdicts if v.relevant]


def is_test_path(path: str) -> bool:
    """Test code by the usual conventions: a ``test``/``tests``/``testing`` folder, ``test_*``,
    ``*_test.py``, ``conftest.py``."""
    p = PurePosixPath(path)
    if any(part in {"test", "tests", "testing"} for part in p.parts[:-1]):
        return True
    return p.name.startswith("test_") or p.name.endswith("_test.py") or p.name == "conftest.py"


def source_files(paths: Sequence[str], suffixes: Sequence[str] = SOURCE_SUFFIXES) -> list[str]:
    """The non-test source files among ``paths`` (sorted)."""
    return sorted(p for p in paths if p.endswith(tuple(suffixes)) and not is_test_path(p))


def parse_relevance(text: str) -> tuple[bool, str] | str:
    """``(relevant, summary)``, or a string saying why the answer cannot be read."""
    verdicts = [m.group(1) for m in _VERDICT_TAG.finditer(text)]
    if not verdicts:
        verdicts = [m.group(1) for m in _VERDICT_LINE.finditer(text)]
    if not verdicts:
        return "the answer holds no verdict"
    decided = {_verdict(v) for v in verdicts}
    if None in decided:
        return f"unreadable verdict {verdicts[0].strip()[:60]!r}"
    if len(decided) > 1:
        return "the answer gives contradicting verdicts"
    m = _SUMMARY_TAG.search(text) or _SUMMARY_LINE.search(text)
    summary = m.group(1).strip() if m else ""
    return decided.pop() is True, summary


def _verdict(raw: str) -> bool | None:
    words = re.sub(r"[^a-z ]", " ", raw.lower()).split()
    if not words:
        return None
    if words[0] in {"not", "irrelevant", "no", "unrelated"}:
        return False
    if words[0] in {"relevant", "yes"}:
        return True
    return None


async def judge_relevance(
    task: PublicRepoTask,
    model: Model,
    sources: Mapping[str, str],
    *,
    max_file_chars: int = 100_000,
    concurrency: int = 8,
    log: TrajectoryLog | None = None,
) -> tuple[list[FileVerdict], Spend]:
    """One verdict per file of ``sources`` (already filtered to source files), in path order."""
    gate = asyncio.Semaphore(max(1, concurrency))
    total = Spend()

    async def one(path: str) -> FileVerdict:
        nonlocal total
        text = sources[path]
        if len(text) > max_file_chars:
            return FileVerdict(path=path, relevant=False, reason=f"skipped: {len(text)} characters")
        if not text.strip():
            return FileVerdict(path=path, relevant=False, reason="skipped: empty file")
        chat = Chat(
            model,
            [
                Message(role="system", content=prompts.RELEVANCE_SYSTEM),
                Message(role="user", content=prompts.relevance_prompt(task, path, text)),
            ],
            max_tokens=1024,
        )
        async with gate:
            try:
                comp = await chat.ask()
            except (ModelError, BudgetExceeded) as exc:
                verdict = FileVerdict(
                    path=path, relevant=False, reason=f"model failed: {type(exc).__name__}: {exc}"
                )
                _note(log, verdict)
                return verdict
            finally:
                total = total + chat.spent
        parsed = parse_relevance(comp.text)
        if isinstance(parsed, str):
            verdict = FileVerdict(path=path, relevant=False, reason=f"off-format answer: {parsed}")
        else:
            verdict = FileVerdict(path=path, relevant=parsed[0], summary=parsed[1])
        _note(
            log, verdict, comp.text, cost_usd=comp.cost_usd, usage=comp.usage.model_dump(), cached=comp.cached
        )
        return verdict

    verdicts = await asyncio.gather(*(one(p) for p in sorted(sources)))
    return list(verdicts), total


def _note(
    log: TrajectoryLog | None,
    verdict: FileVerdict,
    answer: str | None = None,
    *,
    cost_usd: float = 0.0,
    usage: dict[str, int] | None = None,
    cached: bool = False,
) -> None:
    """One relevance verdict (with the model's answer, its cost, and whether the response cache served
    it) as a ``note`` event."""
    if log is not None:
        data = verdict.model_dump()
        if answer is not None:
            data["answer"] = answer
        if cached:
            data["cached"] = True
        log.append("note", {"kind": "relevance", **data}, cost_usd=cost_usd, usage=usage)


def parse_ranking(text: str, known: Sequence[str]) -> list[str] | str:
    """The known paths in the order the answer gives them, or why it cannot be read."""
    m = _RANKING_TAG.search(text)
    body = m.group(1) if m else text
    out: list[str] = []
    for line in body.splitlines():
        cand = re.sub(r"^\s*(?:[-*+]|\d+[.):])\s*", "", line).strip().strip("`*'\"").strip()
        cand = cand.removeprefix("./").removeprefix("/testbed/")
        if not cand:
            continue
        hit = cand if cand in known else next((k for k in known if k in cand.split()), None)
        if hit is not None and hit not in out:
            out.append(hit)
    if not out:
        return "the answer names none of the files" if m else "the answer holds no <ranking>"
    return out


def average_order(relevant: Sequence[str], rankings: Sequence[Sequence[str]]) -> list[str]:
    """Relevant files by mean position over ``rankings`` (a file a ranking leaves out sits after its
    last entry); ties and the no-ranking case keep relevance order."""
    if not rankings:
        return list(relevant)
    score: dict[str, float] = {}
    for path in relevant:
        positions = []
        for r in rankings:
            positions.append(r.index(path) if path in r else len(r))
        score[path] = sum(positions) / len(positions)
    return sorted(relevant, key=lambda p: (score[p], relevant.index(p)))


def fit_budget(order: Sequence[str], sources: Mapping[str, str], token_budget: int) -> tuple[list[str], int]:
    """Files of ``order`` (kept in order) whose estimated tokens fit into ``token_budget``."""
    out: list[str] = []
    used = 0
    for path in order:
        cost = estimate_tokens(prompts.fenced(path, sources[path]))
        if used + cost <= token_budget:
            out.append(path)
            used += cost
    return out, used


async def rank_files(
    task: PublicRepoTask,
    model: Model,
    verdicts: Sequence[FileVerdict],
    *,
    n_rankings: int = 1,
    temperature: float = 0.0,
    log: TrajectoryLog | None = None,
) -> tuple[list[list[str]], list[str], Spend]:
    """``n_rankings`` rankings of the relevant files and their averaged order (no call for < 2 files)."""
    relevant = [v.path for v in verdicts if v.relevant]
    if len(relevant) < 2:
        return [], relevant, Spend()
    summaries = {v.path: v.summary or "(no summary)" for v in verdicts if v.relevant}
    total = Spend()

    async def one(k: int) -> list[str] | None:
        nonlocal total
        chat = Chat(
            model,
            [
                Message(role="system", content=prompts.RANKING_SYSTEM),
                Message(role="user", content=prompts.ranking_prompt(task, summaries)),
            ],
            temperature=temperature if n_rankings > 1 else 0.0,
            log=log,
        )
        try:
            comp = await chat.ask()
        except (ModelError, BudgetExceeded) as exc:
            if log is not None:
                log.append("error", {"message": f"ranking {k}: {exc}", "kind": type(exc).__name__})
            return None
        finally:
            total = total + chat.spent
        parsed = parse_ranking(comp.text, relevant)
        if isinstance(parsed, str):
            if log is not None:
                log.append("note", {"kind": "ranking", "index": k, "ignored": parsed})
            return None
        return parsed

    results = await asyncio.gather(*(one(k) for k in range(max(1, n_rankings))))
    rankings = [r for r in results if r is not None]
    return rankings, average_order(relevant, rankings), total


async def build_context(
    task: PublicRepoTask,
    sources: Mapping[str, str],
    *,
    relevance_model: Model,
    ranking_model: Model,
    token_budget: int = 32_000,
    n_rankings: int = 1,
    max_file_chars: int = 100_000,
    concurrency: int = 8,
    log: TrajectoryLog | None = None,
) -> ContextResult:
    """Relevance over every file of ``sources`` that :func:`source_files` keeps, ranking, budget."""
    start = time.monotonic()
    files = {p: sources[p] for p in source_files(list(sources))}
    if log is not None:
        log.append("start", {"task_id": task.instance_id, "stage": "context", "files": len(files)})
    verdicts, spent = await judge_relevance(
        task, relevance_model, files, max_file_chars=max_file_chars, concurrency=concurrency, log=log
    )
    rankings, order, rank_spent = await rank_files(
        task, ranking_model, verdicts, n_rankings=n_rankings, log=log
    )
    included, tokens = fit_budget(order, files, token_budget)
    spent = spent + rank_spent
    spent.time_s = time.monotonic() - start
    result = ContextResult(
        task_id=task.instance_id,
        verdicts=verdicts,
        rankings=rankings,
        order=order,
        included=included,
        tokens=tokens,
        spent=spent,
    )
    if log is not None:
        log.append(
            "end",
            {"outcome": "done", "relevant": result.relevant, "included": included, "tokens": tokens},
            cost_usd=0.0,
        )
    return result
