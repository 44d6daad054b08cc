"""Issue 17, item 3: real systems and model-free selectors on SWE-bench Lite, with the figures in
docs/ensembles.md.

Four systems' published SWE-bench Lite predictions (``../shared/data/swebench/predictions``: CodeR,
Moatless Tools with GPT-4o, AutoCodeRover with GPT-4, SWE-agent with GPT-4) on every Lite (test)
instance whose repository is in ``--repos`` and can be evaluated here:

1. ``harness eval`` of the four predictions files at once (identical patches evaluated once);
2. ``harness ensemble`` with each selector (votes, regression, b4): one patch per instance, chosen
   without the hidden tests (their test runs are cached by content, so b4 reuses regression's);
3. ``harness eval`` of the four files and the three ensembles' predictions into the same folder: a
   choice is one of the systems' patches, so its verdict is the one already evaluated (nothing new runs
   unless a patch was never evaluated);
4. the table: each system's resolved rate, the best single system, the oracle (resolved by any), the
   random pick (one of the systems with a patch, uniformly) and each selector, with bootstrap 95%
   confidence intervals over instances, each selector against the best system (paired), the cost in
   sandbox-minutes, and every instance where a selector chose an unresolved patch although some system
   resolved it (what it got wrong, with its reason).

Repositories whose evaluation needs the internet (psf/requests: its tests call httpbin.org; the gold
patches do not resolve on this machine, see docs/swebench.md) are left out by default
(``--skip-repo``) and listed. Everything is resumable (each command is); rerunning redoes nothing that
is done. The table is written into docs/ensembles.md between ``<!-- swebench_ensembles:begin -->`` and
``<!-- swebench_ensembles:end -->``.

Usage: ``.venv/bin/python benchmarks/swebench_ensembles.py [--preds DIR] [--suite FILE] [--repos DIR]
[--out results/ensembles] [-j 2] [--no-docs] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _docs import replace_section  # noqa: E402  (benchmarks/, this script's folder)

from harness.evaluation._systems import SYSTEMS_FILE, SystemsEvaluation  # noqa: E402
from harness.report._compare import bootstrap_diff  # noqa: E402
from harness.report._systems import build_systems_report  # noqa: E402

DATA = Path(os.environ.get("HARNESS_DATA", ROOT.parent / "shared" / "data"))
SELECTORS = ("votes", "regression", "b4")
ORDERS = ("", "-rev")
"""Each selector runs with the systems in the order given and reversed: ties go to the earlier system."""
RUNS = [f"{sel}{o}" for sel in SELECTORS for o in ORDERS]
NETWORK_REPOS = ("psf/requests",)


def harness(*args: str) -> float:
    """Run a harness command (its progress goes to this script's stderr); its wall time in seconds."""
    cmd = [str(ROOT / ".venv" / "bin" / "harness"), *args]
    print("$ harness " + " ".join(a if len(a) < 80 else a[:77] + "..." for a in args), file=sys.stderr)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, check=False)
    if proc.returncode not in (0,):
        raise SystemExit(f"harness {args[0]} failed with exit code {proc.returncode}; rerun to resume")
    return time.monotonic() - t0


def instances(suite: Path, repos: Path, skip: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The suite's instance ids whose repository is in ``repos`` and not skipped; the skipped ones by repo."""
    import pandas as pd  # type: ignore[import-untyped]

    df = pd.read_parquet(suite, columns=["instance_id", "repo"])
    local = {p.name.removesuffix(".git") for p in repos.glob("*.git")}
    keep: list[str] = []
    left: dict[str, list[str]] = {}
    for iid, repo in sorted(zip(df.instance_id, df.repo, strict=True)):
        owner, name = repo.split("/")
        if name not in local and f"{owner}__{name}" not in local:
            continue
        if repo in skip:
            left.setdefault(repo, []).append(iid)
        else:
            keep.append(iid)
    return keep, left


def rate(v: np.ndarray, n_boot: int) -> dict[str, float]:
    lo, hi, _ = bootstrap_diff(v.astype(np.float64), n_boot, 0)
    return {"resolved": float(v.sum()), "n": len(v), "rate": float(v.mean()), "ci_low": lo, "ci_high": hi}


def pct(r: dict[str, float]) -> str:
    return f"{100 * r['rate']:.1f}% [{100 * r['ci_low']:.1f}, {100 * r['ci_high']:.1f}]"


def analyse(out: Path, systems: list[str], ids: list[str], n_boot: int) -> dict[str, Any]:
    ev = SystemsEvaluation.model_validate_json((out / "eval" / SYSTEMS_FILE).read_text(encoding="utf-8"))
    names = {s.name for s in ev.systems}
    missing = [s for s in [*systems, *(f"ens-{r}" for r in RUNS)] if s not in names]
    if missing:
        raise SystemExit(f"{out / 'eval' / SYSTEMS_FILE} lacks {missing}; rerun to finish the evaluation")
    # The systems alone (oracle and random pick are over them, not over the ensembles).
    only = ev.model_copy(
        update={
            "instances": ids,
            "systems": [s for s in ev.systems if s.name in systems],
            "cells": {s: {i: ev.cells[s][i] for i in ids} for s in systems},
        }
    )
    rep = build_systems_report(only, n_boot=n_boot)
    solved = {s: np.array([ev.cells[s][i].resolved for i in ids], dtype=np.float64) for s in names}
    best = max(systems, key=lambda s: (solved[s].sum(), -systems.index(s)))
    rows: dict[str, Any] = {}
    for sel in RUNS:
        v = solved[f"ens-{sel}"]
        d = v - solved[best]
        lo, hi, p = bootstrap_diff(d, n_boot, 0)
        rows[sel] = {
            **rate(v, n_boot),
            "vs_best": {"diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "p_value": p},
            "wrong": wrong(out, sel, ev, systems, ids),
            **(
                {"random_ties": rate(random_ties(out, sel, ev, systems, ids), n_boot)}
                if sel in ("votes", "regression")
                else {}
            ),
            **cost_of_selector(out, sel, ids),
        }
    return {
        "instances": ids,
        "systems": [r.model_dump() for r in rep.systems],
        "best": best,
        "oracle": rep.oracle.model_dump(),
        "random_pick": rep.random_pick.model_dump(),
        "selectors": rows,
        "agreement": [a.model_dump() for a in rep.agreement],
        "evaluations": rep.evaluations,
        "pairs": rep.pairs_total,
        "eval_sandbox_min": eval_minutes(out / "eval", systems, ids),
    }


def ensemble_names(out: Path, sel: str, systems: list[str]) -> dict[str, str]:
    """The ensemble's name of each system -> ours. It names systems its own way, in the order it was
    given them: the same files, reversed for a ``-rev`` run."""
    named = json.loads((out / f"ens-{sel}" / "summary.json").read_text(encoding="utf-8"))["systems"]
    return dict(zip(named, systems[::-1] if sel.endswith("-rev") else systems, strict=True))


def read_choice(out: Path, sel: str, instance_id: str) -> dict[str, Any]:
    """The selector's ``choice.json`` for an instance (empty when it made none)."""
    path = out / f"ens-{sel}" / instance_id / "choice.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def wrong(
    out: Path, sel: str, ev: SystemsEvaluation, systems: list[str], ids: list[str]
) -> list[dict[str, Any]]:
    """Instances some system resolved where the selector's choice is unresolved, with its reason."""
    res = []
    ours = ensemble_names(out, sel, systems)
    for i in ids:
        good = [s for s in systems if ev.cells[s][i].resolved]
        if not good or ev.cells[f"ens-{sel}"][i].resolved:
            continue
        choice = read_choice(out, sel, i)
        winner = ours.get((choice.get("winner") or {}).get("system", ""))
        dropped = {ours[c["system"]]: c["dropped"] for c in choice.get("candidates", []) if c.get("dropped")}
        res.append(
            {
                "instance_id": i,
                "chose": winner,
                "resolved_by": good,
                "reason": choice.get("fallback") or choice.get("reason") or choice.get("note") or "",
                "dropped_resolving": {s: dropped[s] for s in good if s in dropped},
            }
        )
    return res


def random_ties(out: Path, sel: str, ev: SystemsEvaluation, systems: list[str], ids: list[str]) -> np.ndarray:
    """Per instance, the expected verdict of ``sel`` (votes or regression) if its last ties were broken
    uniformly at random instead of by the order systems are given: a group drawn among the largest vote
    groups of the candidates it kept. Where it kept none (regression's fallback), its own choice."""
    ours = ensemble_names(out, sel, systems)
    v = np.zeros(len(ids))
    for k, i in enumerate(ids):
        choice = read_choice(out, sel, i)
        if not choice:
            continue
        kept = {c["system"] for c in choice["candidates"] if not c.get("dropped")}
        groups = [[m for m in g if m in kept] for g in choice["groups"]]
        groups = [g for g in groups if g]
        if not groups:
            v[k] = float(ev.cells[f"ens-{sel}"][i].resolved)
            continue
        top = max(len(g) for g in groups)
        tied = [g for g in groups if len(g) == top]
        v[k] = float(np.mean([ev.cells[ours[g[0]]][i].resolved for g in tied]))
    return v


def cost_of_selector(out: Path, sel: str, ids: list[str]) -> dict[str, float]:
    s = runs = cached = 0.0
    for i in ids:
        c = read_choice(out, sel, i).get("cost", {})
        if c:
            s += c.get("sandbox_s", 0.0)
            runs += c.get("runs", 0)
            cached += c.get("cached_runs", 0)
    return {"sandbox_min": s / 60, "test_runs": runs, "cached_runs": cached}


def eval_minutes(folder: Path, systems: list[str], ids: list[str]) -> float:
    """Sandbox-minutes of the hidden-test evaluations actually run (copies of a shared patch excluded)."""
    total = 0.0
    for s in systems:
        for i in ids:
            p = folder / s / i / "report.json"
            if p.exists():
                h = json.loads(p.read_text(encoding="utf-8")).get(i, {}).get("harness", {})
                if not h.get("evaluated_as"):
                    total += float(h.get("duration_s") or 0.0)
    return total / 60


def markdown(res: dict[str, Any], left: dict[str, list[str]], walls: dict[str, float], cmd: str) -> str:
    n = len(res["instances"])
    lines = [
        f"Made by `{cmd}` on {datetime.now(UTC):%Y-%m-%d} (2-core machine, `-j {res['jobs']}`). "
        f"{n} SWE-bench Lite (test) instances: every one of the repositories in ../shared/data/repos "
        "whose evaluation runs offline"
        + (
            "; left out: "
            + "; ".join(f"{repo} ({len(v)}: its tests need the internet)" for repo, v in left.items())
            if left
            else ""
        )
        + ". Rates are resolved / "
        f"{n} with bootstrap 95% intervals over instances (10,000 resamples, seed 0); a system with no "
        "prediction for an instance counts it unresolved.",
        "",
        "| | resolved | rate [95% CI] | vs best system (paired) | sandbox-min |",
        "|---|---:|---|---|---:|",
    ]
    for r in res["systems"]:
        star = " (best)" if r["name"] == res["best"] else ""
        lines.append(f"| {r['name']}{star} | {r['resolved']:.0f} | {pct(r)} | | |")
    lines.append(
        f"| random pick (expected) | {res['random_pick']['resolved']:.2f} | {pct(res['random_pick'])} | | |"
    )
    lines.append(f"| oracle (any system) | {res['oracle']['resolved']:.0f} | {pct(res['oracle'])} | | |")
    for sel, r in res["selectors"].items():
        d = r["vs_best"]
        lines.append(
            f"| **ensemble: {sel.replace('-rev', ', systems reversed')}** | {r['resolved']:.0f} | {pct(r)} | {100 * d['diff']:+.1f} points "
            f"[{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}] | {r['sandbox_min']:.1f} |"
        )
    for sel, r in res["selectors"].items():
        if "random_ties" in r:
            t = r["random_ties"]
            lines.append(f"| {sel}, ties at random (expected) | {t['resolved']:.2f} | {pct(t)} | | |")
    lines += [
        "",
        "Systems are given to `harness ensemble` in file-name order ("
        + ", ".join(r["name"] for r in res["systems"])
        + "), and reversed in the rows marked so: every selector breaks its last ties by that order, "
        "so the pair of rows shows how much of a selector's figure is the tie rule.",
        "",
        f"Evaluation with the hidden tests: {res['pairs']} (system, instance) predictions, "
        f"{res['evaluations']} distinct patches evaluated, {res['eval_sandbox_min']:.1f} sandbox-minutes. "
        "The selectors' sandbox-minutes are their own test runs (the repository's related tests at base "
        "and with each candidate; b4 reads regression's runs from the cache, so it adds almost nothing); "
        "votes runs nothing. Wall times (of the run that did the work; a rerun takes seconds): "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in walls.items())
        + ".",
        "",
        "What the selectors got wrong (some system resolved the instance, the choice did not):",
        "",
        "| selector | instance | chose | resolved by | why | resolving candidates dropped |",
        "|---|---|---|---|---|---|",
    ]
    for sel, r in res["selectors"].items():
        for w in r["wrong"]:
            drops = "; ".join(f"{s}: {why}" for s, why in w["dropped_resolving"].items()) or "-"
            lines.append(
                f"| {sel} | {w['instance_id']} | {w['chose']} | {', '.join(w['resolved_by'])} | "
                f"{w['reason'].replace('|', '/')} | {drops.replace('|', '/')[:300]} |"
            )
    lines += ["", "Agreement of our verdicts with the ones the systems' teams published:", ""]
    lines += ["| system | compared | agree | differences |", "|---|---:|---:|---|"]
    for a in res["agreement"]:
        diffs = ", ".join(
            f"{d['instance_id']} ({d['what']}: ours {d['ours']}, published {d['published']})"
            for d in a["differences"]
        )
        lines.append(f"| {a['system']} | {a['compared']} | {a['agree']} | {diffs or '-'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preds", type=Path, default=DATA / "swebench" / "predictions")
    ap.add_argument("--suite", type=Path, default=DATA / "swebench" / "SWE-bench_Lite-test.parquet")
    ap.add_argument("--repos", type=Path, default=DATA / "repos")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "ensembles")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--skip-repo", action="append", default=None, help="default: psf/requests (network)")
    ap.add_argument("--boot", type=int, default=10_000)
    ap.add_argument("--docs", type=Path, default=ROOT / "docs" / "ensembles.md")
    ap.add_argument("--no-docs", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    preds = sorted(a.preds.glob("*.all_preds.jsonl"))
    if not preds:
        raise SystemExit(f"no *.all_preds.jsonl in {a.preds}")
    systems = [p.name.removesuffix(".all_preds.jsonl") for p in preds]
    skip = set(a.skip_repo if a.skip_repo is not None else NETWORK_REPOS)
    ids, left = instances(a.suite, a.repos, skip)
    common = ["--suite", str(a.suite), "--repos", str(a.repos), "-j", str(a.jobs)]
    only = [x for i in ids for x in ("-i", i)]
    walls: dict[str, float] = {}
    walls["evaluation of the systems"] = harness(
        "eval", *map(str, preds), *common, *only, "--out", str(a.out / "eval")
    )
    for sel in SELECTORS:
        for o in ORDERS:
            files = map(str, preds[::-1] if o else preds)
            walls[f"ensemble {sel}{o}"] = harness(
                "ensemble", *files, *common, *only, "--selector", sel,
                "--out", str(a.out / f"ens-{sel}{o}"), "--cache", str(a.out / "runs-cache"),
            )  # fmt: skip
    ens = [str(a.out / f"ens-{r}" / "predictions.jsonl") for r in RUNS]
    walls["evaluation of the choices"] = harness(
        "eval", *map(str, preds), *ens, *common, *only, "--out", str(a.out / "eval")
    )
    # A rerun finds everything done and takes seconds: keep each step's wall time of the run that did
    # the work (the largest seen), in OUT/walls.json.
    seen_path = a.out / "walls.json"
    seen = json.loads(seen_path.read_text(encoding="utf-8")) if seen_path.exists() else {}
    walls = {k: max(v, seen.get(k, 0.0)) for k, v in walls.items()}
    seen_path.write_text(json.dumps(walls, indent=1), encoding="utf-8")
    res = analyse(a.out, systems, ids, a.boot)
    res["jobs"] = a.jobs
    res["left_out"] = left
    res["walls_s"] = walls
    body = markdown(res, left, walls, "python benchmarks/swebench_ensembles.py")
    if not a.no_docs:
        replace_section(a.docs, "swebench_ensembles", body)
    print(json.dumps(res, indent=1) if a.json else body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
