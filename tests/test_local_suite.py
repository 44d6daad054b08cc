"""The local suite in ``tasks/local``: well-formed records, deterministic repositories, and (docker)
every gold patch resolving its task while the empty patch resolves none."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.evaluation import patch_files
from harness.tasks import RepoTask, commit_tree, load_local_task, load_suite

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "tasks" / "local"
TASK_DIRS = sorted(d for d in SUITE.iterdir() if (d / "task.json").is_file())


@pytest.fixture(scope="module")
def tasks() -> list[RepoTask]:
    return load_suite(SUITE)


def test_suite_has_at_least_twelve_tasks(tasks: list[RepoTask]) -> None:
    assert len(tasks) >= 12
    assert len({t.instance_id for t in tasks}) == len(tasks)
    for t in tasks:
        assert t.FAIL_TO_PASS and t.problem_statement.strip() and t.patch and t.test_patch
        assert t.source is not None and t.source.kind == "path"
        assert t.suite == "local"


@pytest.mark.parametrize("task_dir", TASK_DIRS, ids=[d.name for d in TASK_DIRS])
def test_base_commit_is_deterministic(task_dir: Path, tmp_path: Path) -> None:
    recorded = json.loads((task_dir / "task.json").read_text())["base_commit"]
    _, fresh = commit_tree(task_dir / "repo", tmp_path / "cache")
    assert fresh == recorded


def test_edited_tree_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / TASK_DIRS[0].name
    shutil.copytree(TASK_DIRS[0], copy)
    (copy / "repo" / "EXTRA.txt").write_text("not in the recorded commit\n")
    with pytest.raises(DataError, match="does not match the repository tree"):
        load_local_task(copy, cache_dir=tmp_path / "cache")


def test_a_folder_of_suites_loads_every_suite(tmp_path: Path) -> None:
    # tasks/ itself: its suite folders are read one level deeper; tasks/tools holds no task.
    whole = load_suite(ROOT / "tasks", cache_dir=tmp_path / "cache")
    assert sorted(t.instance_id for t in whole) == sorted(
        json.loads((d / "task.json").read_text())["instance_id"] for d in TASK_DIRS
    )
    assert {t.suite for t in whole} == {"local"}
    root = tmp_path / "suites"
    shutil.copytree(TASK_DIRS[0], root / "alpha" / TASK_DIRS[0].name)
    shutil.copytree(TASK_DIRS[1], root / "beta" / TASK_DIRS[1].name)
    (root / "tools").mkdir()
    (root / "tools" / "make.py").write_text("# not a task\n")
    got = {t.instance_id: t.suite for t in load_suite(root, cache_dir=tmp_path / "cache")}
    ids = [json.loads((d / "task.json").read_text())["instance_id"] for d in TASK_DIRS[:2]]
    assert got == {ids[0]: "alpha", ids[1]: "beta"}


def test_a_folder_of_suites_refuses_a_duplicate_id_and_an_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "suites"
    for suite in ("alpha", "beta"):
        shutil.copytree(TASK_DIRS[0], root / suite / TASK_DIRS[0].name)
    with pytest.raises(DataError, match=r"is in both .*alpha.* and .*beta"):
        load_suite(root, cache_dir=tmp_path / "cache")
    empty = tmp_path / "empty"
    (empty / "nothing" / "here").mkdir(parents=True)
    with pytest.raises(DataError, match=r"no task folders .*<suite>/<name>/task\.json"):
        load_suite(empty)


def _git(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True)


def test_patches_apply_and_hidden_tests_are_not_in_the_tree(tasks: list[RepoTask]) -> None:
    for t in tasks:
        repo = Path(t.repo_source().location)
        for name, diff in (("patch", t.patch), ("test_patch", t.test_patch)):
            res = _git(repo, "apply", "--check", "-", stdin=diff)
            assert res.returncode == 0, f"{t.instance_id} {name}: {res.stderr}"
        for rel in patch_files(t.test_patch):
            assert rel.startswith("tests/"), f"{t.instance_id}: test patch touches {rel}"
        for rel in patch_files(t.patch):
            assert not rel.startswith("tests/"), f"{t.instance_id}: gold patch touches tests ({rel})"
        for test_id in (*t.FAIL_TO_PASS, *t.PASS_TO_PASS):
            assert test_id.split("::")[0] in patch_files(t.test_patch)
        # The FAIL_TO_PASS tests are new: their names are absent from the base tree.
        tree = " ".join(p.read_text() for p in (repo / "tests").glob("*.py"))
        for test_id in t.FAIL_TO_PASS:
            name = test_id.split("::")[-1].split("[")[0]
            assert f"def {name}(" not in tree, f"{t.instance_id}: {name} is visible at base_commit"


def test_public_view_and_issue_hide_the_fix(tasks: list[RepoTask]) -> None:
    for t in tasks:
        public = t.public_view().model_dump()
        assert not {"patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS"} & set(public)
        assert "diff --git" not in t.problem_statement


def test_task_repos_use_only_stdlib_and_pytest() -> None:
    allowed = set(sys.stdlib_module_names) | {"pytest"}
    for task_dir in TASK_DIRS:
        own = {p.name for p in (task_dir / "repo").iterdir() if p.is_dir()}
        for path in (task_dir / "repo").rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top in allowed | own, f"{path}: imports {name}"


@pytest.mark.docker
def test_validate_local_suite(base_image: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    res = CliRunner().invoke(
        # The issue's command: the folder of suites (``tasks/``), which holds the local suite.
        app,
        [
            "tasks",
            "validate",
            str(ROOT / "tasks"),
            "--json",
            "--base-image",
            base_image,
            "--out",
            str(tmp_path),
        ],
    )
    rows = json.loads(res.stdout.splitlines()[0])
    assert [r for r in rows if not r["ok"]] == []
    assert res.exit_code == 0, res.output
    assert len(rows) == len(TASK_DIRS)
    assert {(r["gold"], r["empty"]) for r in rows} == {("resolved", "unresolved")}
    gold = json.loads((tmp_path / rows[0]["instance_id"] / "gold" / "report.json").read_text())
    assert gold[rows[0]["instance_id"]]["resolved"] is True


@pytest.mark.docker
def test_validate_names_a_broken_task(base_image: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    suite = tmp_path / "suite"
    good, bad = TASK_DIRS[0], TASK_DIRS[1]
    for d in (good, bad):
        shutil.copytree(d, suite / d.name)
    record = json.loads((bad / "task.json").read_text())
    record["patch"] = json.loads((good / "task.json").read_text())["patch"]  # another task's fix
    (suite / bad.name / "task.json").write_text(json.dumps(record))
    res = CliRunner().invoke(app, ["tasks", "validate", str(suite), "--json", "--base-image", base_image])
    assert res.exit_code == 1
    rows = {r["instance_id"]: r for r in json.loads(res.stdout.splitlines()[0])}
    assert rows[record["instance_id"]]["gold"] == "patch_failed"
    assert any("gold patch does not resolve" in p for p in rows[record["instance_id"]]["problems"])
    assert sum(r["ok"] for r in rows.values()) == 1
