"""Issue 13, item 7: validate every SWE-bench instance of the repositories held locally.

Runs ``harness tasks validate``'s code (gold resolves, empty does not) on every Lite (test), Lite dev
and Verified record whose repository is in ``--repos`` (``../shared/data/repos``: requests, flask,
pytest, sqlfluff, marshmallow, astroid), and writes the table into docs/swebench.md between the
markers ``<!-- swebench_validate:begin -->`` and ``<!-- swebench_validate:end -->`` (rewritten each
time, after every chunk of instances, so an interrupted run leaves the part it did).

Each row: build time of the environment and instance layers (built now or found cached), evaluation
time, gold and empty outcomes, and a status:

- ``valid``: gold ``resolved``, empty ``unresolved``, task claims hold;
- ``network``: not valid, and a test log shows a connection error (requests' tests call httpbin.org);
  listed with the failing tests and the log's error line;
- ``invalid``: not valid for another reason (the problems are listed);
- ``unsupported``: the environment cannot be built here (``needs Python 3.6``), nothing built;
- ``error``: an infrastructure error (a build failed ...).

psf/requests records run with evaluation network (``--eval-network``, as SWE-bench's own containers
have it); the others without. State (rows done) is kept in ``--work``/state.json and reused, so a
second run only does what is missing (``--fresh`` starts over; ``--only-suite`` picks one suite).

Usage: ``.venv/bin/python benchmarks/swebench_validate.py [--repos ../shared/data/repos]
[--data ../shared/data/swebench] [--work DIR] [-j 2] [--fresh] [--no-docs]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "swebench.md"
BEGIN = "<!-- swebench_validate:begin -->"
END = "<!-- swebench_validate:end -->"
SUITES = (
    ("Lite test", "SWE-bench_Lite-test.parquet"),
    ("Lite dev", "SWE-bench_Lite-dev.parquet"),
    ("Verified", "SWE-bench_Verified-test.parquet"),
)
NETWORK_REPOS = {"psf/requests"}
STATUSES = ("valid", "invalid", "network", "unsupported", "error")
# What a test log says when a test needed a host it could not reach.
_NET = re.compile(
    r"gaierror|Name or service not known|Temporary failure in name resolution|NewConnectionError|"
    r"Max retries exceeded|Failed to establish a new connection|Network is unreachable|"
    r"ConnectionError\(|ConnectTimeout|"
    # requests' TestTimeout: a connection to an unroutable address (10.255.255.1) that was answered
    r"The connect\(\) request should time out"
)


def local_repo(repos: Path, repo: str) -> bool:
    owner, name = repo.split("/", 1)
    return any((repos / f).exists() for f in (f"{name}.git", f"{owner}__{name}.git", name))


def network_evidence(out: Path, instance_id: str) -> dict[str, Any] | None:
    """The failing hidden tests and the first connection error of the instance's logs, if any."""
    failing: list[str] = []
    line = log = ""
    for kind in ("gold", "empty"):
        folder = out / instance_id / kind
        try:
            text = (folder / "test_output.txt").read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            continue
        # pytest's own error lines ("E   ..."), not the eval script's pip output; one naming the host
        # (requests' ConnectionError: HTTPConnectionPool(host='httpbin.org' ...) when there is one.
        hits = [x for x in text.splitlines() if x.startswith("E ") and _NET.search(x)]
        hit = next((x for x in hits if "host=" in x), hits[0] if hits else "")
        if hit and not line:
            line = hit[1:].strip()[:300]
            log = str(folder / "test_output.txt")
        if kind == "gold":
            try:
                body = next(iter(json.loads((folder / "report.json").read_text()).values()))
                status = body.get("tests_status", {})
                failing = status.get("FAIL_TO_PASS", {}).get("failure", []) + status.get(
                    "PASS_TO_PASS", {}
                ).get("failure", [])
            except (FileNotFoundError, ValueError, StopIteration, AttributeError):
                pass
    if not line:
        return None
    return {"failing": failing, "error": line, "log": log}


def status_of(row: dict[str, Any]) -> str:
    if row.get("unsupported"):
        return "unsupported"
    if row["ok"]:
        return "valid"
    if "error" in (row["gold"], row["empty"]):
        return "error"
    return "network" if row.get("network_evidence") else "invalid"


async def validate(
    suites: Sequence[tuple[str, Path]],
    repos: Path,
    work: Path,
    state: dict[str, Any],
    jobs: int,
    docs: bool,
    only: Sequence[str] | None = None,
) -> None:
    from harness.evaluation import Evaluator, validate_tasks
    from harness.tasks import load_suite, prepare_tasks
    from harness.tasks.images import TaskImages

    evaluator = Evaluator(TaskImages(), concurrency=jobs)
    for name, path in suites:
        tasks = [t for t in load_suite(path, repos=repos) if local_repo(repos, t.repo)]
        tasks = [t for t in tasks if not only or t.instance_id in only]
        tasks.sort(key=lambda t: (t.repo, t.instance_id))
        todo = [t for t in tasks if f"{name}|{t.instance_id}" not in state["rows"]]
        state["planned"][name] = [t.instance_id for t in tasks]
        print(f"{name}: {len(tasks)} instances, {len(todo)} to do", flush=True)
        net = {t.instance_id for t in todo if t.repo in NETWORK_REPOS}
        prepared = prepare_tasks([t for t in todo if t.instance_id in net], repos=repos, eval_network=True)
        prepared += prepare_tasks([t for t in todo if t.instance_id not in net], repos=repos)
        prepared.sort(key=lambda t: (t.repo, t.instance_id))
        out = work / "logs" / name.replace(" ", "-")
        for t in prepared:
            if t.environment.unsupported:
                state["rows"][f"{name}|{t.instance_id}"] = {
                    "suite": name,
                    "repo": t.repo,
                    "instance_id": t.instance_id,
                    "gold": "unsupported",
                    "empty": "unsupported",
                    "problems": [t.environment.unsupported],
                    "ok": None,
                    "unsupported": t.environment.unsupported,
                }
        runnable = [t for t in prepared if not t.environment.unsupported]
        chunk = max(2, 2 * jobs)
        for i in range(0, len(runnable), chunk):
            part = runnable[i : i + chunk]
            t0 = time.monotonic()
            rows = await validate_tasks(part, evaluator, out)
            wall = time.monotonic() - t0
            for task, row in zip(part, rows, strict=True):
                rec = {"suite": name, "repo": task.repo, **row.model_dump(), "ok": row.ok}
                if not row.ok:
                    rec["network_evidence"] = network_evidence(out, task.instance_id)
                rec["status"] = status_of(rec)
                state["rows"][f"{name}|{task.instance_id}"] = rec
                print(
                    f"  {task.instance_id}: {rec['status']} (gold {row.gold}, empty {row.empty}; "
                    f"{row.build}; eval {row.eval_s:.0f}s) {'; '.join(row.problems)[:200]}",
                    flush=True,
                )
            state["chunks"].append({"suite": name, "instances": len(part), "wall_s": round(wall, 1)})
            save(work, state, docs)
    state["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    save(work, state, docs)


def save(work: Path, state: dict[str, Any], docs: bool) -> None:
    (work / "state.json").write_text(json.dumps(state, indent=1) + "\n")
    if docs:
        write_doc(render(state))


def _fmt(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def render(state: dict[str, Any]) -> str:
    rows = [dict(r, status=r.get("status") or status_of(r)) for r in state["rows"].values()]
    order = [s for s, _ in SUITES]
    rows.sort(key=lambda r: (order.index(r["suite"]), r["repo"], r["instance_id"]))
    missing = {
        suite: [i for i in ids if f"{suite}|{i}" not in state["rows"]]
        for suite, ids in state["planned"].items()
    }
    missing = {k: v for k, v in missing.items() if v}
    not_started = [s for s in order if s not in state["planned"]]
    out = [BEGIN, "", "_Written by `benchmarks/swebench_validate.py`; do not edit by hand._", ""]
    out.append(
        f"Started {state['started']}, "
        + (f"finished {state['finished']}" if state.get("finished") else "**not finished**")
        + f"; `-j {state['jobs']}`, {state['machine']}."
    )
    for suite, ids in missing.items():
        out.append(f"**Missing**: {suite}, {len(ids)} instances not validated yet ({', '.join(ids)}).")
    if not_started and not state.get("finished"):
        out.append(f"**Missing**: {', '.join(not_started)} not started.")
    out.append("")

    # Counts per suite and repository.
    out += ["| suite | repository | instances | " + " | ".join(STATUSES) + " | valid of eligible |"]
    out += ["| --- | --- | ---: | " + " | ".join("---:" for _ in STATUSES) + " | ---: |"]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["suite"], r["repo"]), []).append(r)
        groups.setdefault((r["suite"], "all"), []).append(r)
        groups.setdefault(("all", "all"), []).append(r)
    keys = sorted(
        groups,
        key=lambda k: (
            order.index(k[0]) if k[0] in order else 9,
            k[1] == "all",
            k[1],
        ),
    )
    for suite, repo in keys:
        g = groups[(suite, repo)]
        n = {s: sum(r["status"] == s for r in g) for s in STATUSES}
        eligible = n["valid"] + n["invalid"] + n["error"]
        share = f"{100 * n['valid'] / eligible:.0f}% ({n['valid']}/{eligible})" if eligible else "-"
        bold = "**" if repo == "all" else ""
        out.append(
            f"| {bold}{suite}{bold} | {bold}{repo}{bold} | {len(g)} | "
            + " | ".join(str(n[s]) for s in STATUSES)
            + f" | {share} |"
        )
    out.append("")
    out.append(
        "Eligible: neither `unsupported` nor `network`. The same instance in two suites (Lite test and "
        "Verified) is validated in each; the second finds its images cached."
    )
    out.append("")

    # Times.
    ran = [r for r in rows if r["status"] != "unsupported" and "env_s" in r]
    env_built = [r["env_s"] for r in ran if not r["env_cached"]]
    inst_built = [r["instance_s"] for r in ran if not r["instance_cached"]]
    cached = [
        r["eval_s"] + r["instance_s"] + r["env_s"] for r in ran if r["env_cached"] and r["instance_cached"]
    ]
    cold = [r["eval_s"] + r["instance_s"] + r["env_s"] for r in ran if not r["instance_cached"]]
    wall = sum(c["wall_s"] for c in state["chunks"])
    out.append("| time | instances | total | median | max |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    for label, xs in (
        ("environment layers built (with a base when one was built)", env_built),
        ("instance layers built", inst_built),
        ("validation, instance image built now (build + gold and empty runs)", cold),
        ("validation, every layer cached (gold and empty runs)", cached),
    ):
        if xs:
            out.append(
                f"| {label} | {len(xs)} | {_fmt(sum(xs))} | {_fmt(statistics.median(xs))} | {_fmt(max(xs))} |"
            )
    out.append(f"| wall clock of the whole run (`-j {state['jobs']}`) | {len(ran)} | {_fmt(wall)} | | |")
    out.append("")

    # Per instance.
    out.append(
        "| suite | instance | status | gold | empty | environment | instance image | eval | problems |"
    )
    out.append("| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- |")
    for r in rows:
        if r["status"] == "unsupported":
            out.append(
                f"| {r['suite']} | {r['instance_id']} | unsupported | - | - | - | - | - | {r['unsupported']} |"
            )
            continue
        env = f"{r['env_s']:.0f} s {'cached' if r['env_cached'] else 'built'}"
        inst = f"{r['instance_s']:.0f} s {'cached' if r['instance_cached'] else 'built'}"
        problems = "; ".join(r["problems"]).replace("|", "\\|")[:300]
        out.append(
            f"| {r['suite']} | {r['instance_id']} | {r['status']} | {r['gold']} | {r['empty']} | {env} | "
            f"{inst} | {r['eval_s']:.0f} s | {problems} |"
        )
    out.append("")

    net = [r for r in rows if r["status"] == "network"]
    if net:
        out.append("Instances whose tests need network (evidence from their own test logs):")
        out.append("")
        for r in net:
            ev = r["network_evidence"]
            tests = ", ".join(f"`{t}`" for t in ev["failing"][:8])
            more = f" and {len(ev['failing']) - 8} more" if len(ev["failing"]) > 8 else ""
            err = ev["error"].replace("`", "'")
            out.append(
                f"- {r['suite']} {r['instance_id']}: gold leaves {len(ev['failing'])} hidden tests failing "
                f"({tests}{more}); log: `{err}`"
            )
        out.append("")
    out.append(END)
    return "\n".join(out)


def write_doc(section: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n## Validation at scale\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--repos", type=Path, default=ROOT.parent / "shared" / "data" / "repos")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "swebench")
    ap.add_argument("--work", type=Path, default=Path.home() / ".cache" / "harness" / "swebench_validate")
    ap.add_argument("-j", "--jobs", type=int, default=2, choices=range(1, 9))
    ap.add_argument("--only-suite", choices=[s for s, _ in SUITES], action="append")
    ap.add_argument("-i", "--instance", action="append", help="only these instance ids (a smoke run)")
    ap.add_argument("--fresh", action="store_true", help="forget the rows of an earlier run")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite docs/swebench.md")
    ap.add_argument("--render", action="store_true", help="only rewrite docs/swebench.md from the state")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    state_file = args.work / "state.json"
    if state_file.exists() and not args.fresh:
        state = json.loads(state_file.read_text())
    else:
        state = {"rows": {}, "planned": {}, "chunks": []}
    if args.render:  # evidence read again from the logs (the reading may have improved since)
        for rec in state["rows"].values():
            if rec.get("ok") is False:
                out = args.work / "logs" / rec["suite"].replace(" ", "-")
                rec["network_evidence"] = network_evidence(out, rec["instance_id"])
                rec["status"] = status_of(rec)
        write_doc(render(state))
        return 0
    state.setdefault("started", datetime.now(UTC).isoformat(timespec="seconds"))
    state.pop("finished", None)
    state["jobs"] = args.jobs
    import os

    state["machine"] = f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at start"
    suites = [(n, args.data / f) for n, f in SUITES if not args.only_suite or n in args.only_suite]
    asyncio.run(validate(suites, args.repos, args.work, state, args.jobs, not args.no_docs, args.instance))
    rows = list(state["rows"].values())
    print(json.dumps({s: sum((r.get("status") or status_of(r)) == s for r in rows) for s in STATUSES}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
