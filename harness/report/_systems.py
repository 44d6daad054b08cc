"""Reporting a many-systems evaluation (``harness eval A.jsonl B.jsonl ...``): per-instance x system
outcomes, each system's resolved rate, the oracle and the random pick with bootstrap CIs, paired
differences, and agreement with the verdicts each system's team published.

Rates are over every instance of the evaluation (``systems.json``'s ``instances``), as SWE-bench's
resolved rate is: a system without a prediction for an instance has not resolved it. The **oracle** of
an instance is 1 when some system resolved it. The **random pick** is the expected resolved rate when
one patch is picked uniformly at random, per instance, among the systems that submitted a non-empty
patch for it (0 where none did). Confidence intervals are percentile bootstraps over instances
(:func:`harness.report.bootstrap_diff`, ``n_boot`` resamples, ``default_rng(seed)``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import DataError
from harness.evaluation import Cell, OfficialVerdicts, SystemsEvaluation, read_systems, read_verdicts
from harness.report._compare import bootstrap_diff

SYSTEMS_REPORT_VERSION = 1
Category = Literal[
    "resolved", "unresolved", "not applied", "empty", "missing", "error", "unsupported", "timeout"
]
METHOD = (
    "rates over all {n} instances (no prediction = not resolved); 95% CI: percentile bootstrap over "
    "instances ({n_boot} resamples, numpy default_rng({seed})); oracle: resolved by any system; random "
    "pick: per instance, the share of systems with a non-empty patch that resolved it; paired "
    "differences: b - a over all instances, same bootstrap, p from a paired sign-flip test"
)


def category(cell: Cell) -> Category:
    """One table cell: resolved / unresolved (applied, tests fail) / not applied / empty / missing /
    error / unsupported / timeout (the test run outlived its limit: not resolved, as swebench counts)."""
    if cell.timed_out:
        return "timeout"
    return {
        "resolved": "resolved",
        "unresolved": "unresolved",
        "patch_failed": "not applied",
        "empty_patch": "empty",
        "missing": "missing",
        "error": "error",
        "unsupported": "unsupported",
    }[cell.outcome]  # type: ignore[return-value]


class Rate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    resolved: float
    """Resolved instances (expected, for the random pick)."""
    n: int
    rate: float
    ci_low: float
    ci_high: float


class SystemRow(Rate):
    counts: dict[str, int] = Field(default_factory=dict)
    """How many instances fall in each category."""


class Pair(BaseModel):
    model_config = ConfigDict(extra="forbid")

    a: str
    b: str
    diff: float
    """rate(b) - rate(a)."""
    ci_low: float
    ci_high: float
    p_value: float
    b_only: int
    """Instances b resolved and a did not."""
    a_only: int


class Difference(BaseModel):
    model_config = ConfigDict(extra="forbid")

    instance_id: str
    ours: str
    """Our outcome (harness's words)."""
    published: str
    what: Literal["verdict", "applied"]
    """``verdict``: resolved here and not there, or the reverse; ``applied``: the patch applied in one
    run and not in the other (only a ``results.json`` says)."""


class Agreement(BaseModel):
    """Our verdicts against the ones a system's team published."""

    model_config = ConfigDict(extra="forbid")

    system: str
    verdicts: str
    kind: str
    compared: int
    """Instances with a verdict on both sides."""
    agree: int
    differences: list[Difference] = Field(default_factory=list)
    not_published: list[str] = Field(default_factory=list)
    """Instances we evaluated that the published run did not."""
    not_evaluated_here: list[str] = Field(default_factory=list)
    """Instances the published run has a verdict for that got no verdict here (error, unsupported)."""


class SystemsReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = SYSTEMS_REPORT_VERSION
    instances: list[str]
    systems: list[SystemRow]
    oracle: Rate
    random_pick: Rate
    table: dict[str, dict[str, Category]]
    """``table[instance_id][system]``."""
    pairs: list[Pair]
    agreement: list[Agreement]
    pairs_total: int
    evaluations: int
    shared: int
    method: str


def _rate(name: str, v: np.ndarray, n_boot: int, seed: int) -> Rate:
    lo, hi, _ = bootstrap_diff(v, n_boot, seed)
    return Rate(name=name, resolved=float(v.sum()), n=len(v), rate=float(v.mean()), ci_low=lo, ci_high=hi)


def build_systems_report(
    ev: SystemsEvaluation,
    *,
    verdicts: Mapping[str, Path] | None = None,
    n_boot: int = 10_000,
    seed: int = 0,
) -> SystemsReport:
    """The report of ``systems.json`` (see the module docstring). ``verdicts`` names published verdict
    files per system, over the ones ``harness eval`` found beside the predictions."""
    ids, names = ev.instances, [s.name for s in ev.systems]
    if not ids or not names:
        raise DataError("the evaluation has no instance or no system; nothing to report")
    unknown = sorted(set(verdicts or {}) - set(names))
    if unknown:
        raise DataError(f"--verdicts names systems not in the evaluation: {unknown} (systems: {names})")
    solved = np.array([[float(ev.cells[s][i].resolved) for s in names] for i in ids])
    submitted = np.array(
        [[ev.cells[s][i].outcome not in ("missing", "empty_patch") for s in names] for i in ids]
    )
    rows = []
    for j, s in enumerate(names):
        cats = [category(ev.cells[s][i]) for i in ids]
        rows.append(
            SystemRow(
                **_rate(s, solved[:, j], n_boot, seed).model_dump(),
                counts={c: cats.count(c) for c in dict.fromkeys(cats)},
            )
        )
    oracle = solved.max(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pick = np.where(
            submitted.sum(axis=1) > 0, (solved * submitted).sum(axis=1) / submitted.sum(axis=1), 0.0
        )
    pairs = []
    for a, b in itertools.combinations(range(len(names)), 2):
        d = solved[:, b] - solved[:, a]
        lo, hi, p = bootstrap_diff(d, n_boot, seed)
        pairs.append(
            Pair(
                a=names[a],
                b=names[b],
                diff=float(d.mean()),
                ci_low=lo,
                ci_high=hi,
                p_value=p,
                b_only=int((d > 0).sum()),
                a_only=int((d < 0).sum()),
            )
        )
    files = {s.name: Path(s.verdicts) for s in ev.systems if s.verdicts} | dict(verdicts or {})
    return SystemsReport(
        instances=ids,
        systems=rows,
        oracle=_rate("oracle", oracle, n_boot, seed),
        random_pick=_rate("random pick", pick, n_boot, seed),
        table={i: {s: category(ev.cells[s][i]) for s in names} for i in ids},
        pairs=pairs,
        agreement=[agreement(s, ev, read_verdicts(f), str(f)) for s, f in files.items()],
        pairs_total=ev.pairs,
        evaluations=ev.evaluations,
        shared=ev.shared,
        method=METHOD.format(n=len(ids), n_boot=n_boot, seed=seed),
    )


def agreement(system: str, ev: SystemsEvaluation, official: OfficialVerdicts, path: str) -> Agreement:
    """Where our verdicts for ``system`` differ from ``official`` (instances without a prediction
    are left out)."""
    out = Agreement(system=system, verdicts=path, kind=official.kind, compared=0, agree=0)
    for iid in ev.instances:
        cell = ev.cells[system][iid]
        if cell.outcome == "missing":
            continue
        theirs = official.outcome(iid)
        if theirs is None:
            out.not_published.append(iid)
            continue
        if cell.outcome in ("error", "unsupported"):
            out.not_evaluated_here.append(iid)
            continue
        out.compared += 1
        ours_resolved, their_resolved = cell.resolved, theirs == "resolved"
        if ours_resolved != their_resolved:
            out.differences.append(
                Difference(instance_id=iid, ours=cell.outcome, published=theirs, what="verdict")
            )
            continue
        out.agree += 1
        if (
            iid in official.applied
            and cell.outcome != "empty_patch"
            and official.applied[iid] != cell.applied
        ):
            out.differences.append(
                Difference(instance_id=iid, ours=cell.outcome, published=theirs, what="applied")
            )
    return out


def load_systems_report(
    path: str | Path, *, verdicts: Mapping[str, Path] | None = None, n_boot: int = 10_000, seed: int = 0
) -> SystemsReport | None:
    """The report of a many-systems evaluation folder, or None when ``path`` is not one."""
    p = Path(path)
    if not p.is_dir():
        return None
    ev = read_systems(p)
    if ev is None:
        return None
    return build_systems_report(ev, verdicts=verdicts, n_boot=n_boot, seed=seed)


_KINDS = ("unresolved", "not applied", "empty", "missing", "error", "unsupported", "timeout")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def render_systems_markdown(rep: SystemsReport) -> str:
    """The report as Markdown: rates, the per-instance table, paired differences, agreement."""
    names = [s.name for s in rep.systems]
    lines = [
        f"{len(rep.instances)} instances, {len(names)} systems; {rep.pairs_total} predictions, "
        f"{rep.evaluations} distinct patches evaluated ({rep.shared} predictions share another's evaluation)",
        "",
        "| system | resolved | % | 95% CI | " + " | ".join(_KINDS) + " |",
        "|---|---:|---:|---|" + "---:|" * len(_KINDS),
    ]
    for r in [*rep.systems, rep.oracle, rep.random_pick]:
        counts = [str(r.counts.get(k, 0)) if isinstance(r, SystemRow) else "" for k in _KINDS]
        lines.append(
            f"| {r.name} | {r.resolved:g}/{r.n} | {_pct(r.rate)} | [{_pct(r.ci_low)}, {_pct(r.ci_high)}] | "
            + " | ".join(counts)
            + " |"
        )
    lines += ["", "| instance | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for iid, row in rep.table.items():
        lines.append(f"| {iid} | " + " | ".join(row[s] for s in names) + " |")
    if rep.pairs:
        lines += ["", "| a | b | b - a | 95% CI | p | b only | a only |", "|---|---|---:|---|---:|---:|---:|"]
        for p in rep.pairs:
            lines.append(
                f"| {p.a} | {p.b} | {_pct(p.diff)} | [{_pct(p.ci_low)}, {_pct(p.ci_high)}] | "
                f"{p.p_value:.3f} | {p.b_only} | {p.a_only} |"
            )
    for a in rep.agreement:
        lines += [
            "",
            f"{a.system} against {Path(a.verdicts).name} ({a.kind}): {a.agree}/{a.compared} verdicts agree",
        ]
        for d in a.differences:
            lines.append(f"- {d.instance_id}: {d.what} differs: ours {d.ours}, published {d.published}")
        if a.not_published:
            lines.append(f"- not evaluated by the published run: {', '.join(a.not_published)}")
        if a.not_evaluated_here:
            lines.append(f"- no verdict here (error, unsupported): {', '.join(a.not_evaluated_here)}")
    lines += ["", rep.method]
    return "\n".join(lines) + "\n"
