"""Author a local task: turn a base tree plus a fix and new tests into a SWE-bench record.

    python tasks/tools/make_task.py NAME --fix FIX_DIR --tests TESTS_DIR --issue ISSUE.md [--meta META.json]

``tasks/local/NAME/repo/`` is the source tree at the base commit. ``FIX_DIR`` and ``TESTS_DIR`` hold
files laid out like the repository (the fixed sources; the new or changed test files). The tool writes
``tasks/local/NAME/task.json`` with the deterministic ``base_commit``, ``patch`` (the fix),
``test_patch`` (the tests), and ``FAIL_TO_PASS``/``PASS_TO_PASS`` measured by running pytest on the
host: a test of the test patch's files that fails before the fix and passes after it is FAIL_TO_PASS,
one that passes both times is PASS_TO_PASS. ``harness tasks validate tasks/local`` then checks the
record in the real images.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from harness.evaluation.parsers import PASSING, parse_pytest
from harness.tasks._local import commit_tree, git

ROOT = Path(__file__).resolve().parents[1] / "local"
TEST_CMD = "python3 -m pytest -rA -p no:cacheprovider"


def overlay_diff(repo: Path, overlay: Path) -> str:
    """The diff that turns the repository's tree into the tree with ``overlay`` copied over it."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        shutil.copytree(repo, work)
        shutil.copytree(overlay, work, dirs_exist_ok=True)
        git(["add", "-A"], work)
        return git(["diff", "--cached", "--no-color", "--no-ext-diff"], work)


def run_tests(repo: Path, patches: list[str], test_files: list[str]) -> dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        shutil.copytree(repo, work)
        for patch in patches:
            subprocess.run(["git", "apply", "-"], cwd=work, input=patch, text=True, check=True)
        cmd = [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", *test_files]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        return dict(parse_pytest(proc.stdout + proc.stderr))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--fix", type=Path, required=True)
    ap.add_argument("--tests", type=Path, required=True)
    ap.add_argument("--issue", type=Path, required=True)
    ap.add_argument("--meta", type=Path)
    args = ap.parse_args()
    task_dir = ROOT / args.name
    repo, sha = commit_tree(task_dir / "repo", Path(tempfile.mkdtemp()))
    patch = overlay_diff(repo, args.fix)
    test_patch = overlay_diff(repo, args.tests)
    from harness.evaluation import patch_files

    files = patch_files(test_patch)
    at_base = run_tests(repo, [], ["tests"])
    failing = sorted(t for t, s in at_base.items() if s not in PASSING)
    if failing or not at_base:
        sys.exit(f"{args.name}: the repository's own tests must pass at the base commit: {failing}")
    before = run_tests(repo, [test_patch], files)
    after = run_tests(repo, [patch, test_patch], files)
    f2p = sorted(t for t, s in after.items() if s in PASSING and before.get(t) not in PASSING)
    p2p = sorted(t for t, s in after.items() if s in PASSING and before.get(t) in PASSING)
    broken = sorted(t for t, s in after.items() if s not in PASSING)
    if broken or not f2p:
        sys.exit(f"{args.name}: tests failing with the fix: {broken}; FAIL_TO_PASS: {f2p}")
    meta = json.loads(args.meta.read_text()) if args.meta else {}
    record = {
        "instance_id": f"local__{args.name}-1",
        "repo": f"local/{args.name}",
        "base_commit": sha,
        "problem_statement": args.issue.read_text(),
        "hints_text": meta.get("hints_text", ""),
        "patch": patch,
        "test_patch": test_patch,
        "FAIL_TO_PASS": f2p,
        "PASS_TO_PASS": p2p,
        "version": meta.get("version", "0.1"),
        "environment_setup_commit": sha,
        "created_at": meta.get("created_at", "2024-01-01T00:00:00Z"),
        "environment": {"test_cmd": TEST_CMD, "log_parser": "pytest"},
    }
    (task_dir / "task.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{args.name}: base {sha[:12]}, {len(f2p)} FAIL_TO_PASS, {len(p2p)} PASS_TO_PASS")


if __name__ == "__main__":
    main()
