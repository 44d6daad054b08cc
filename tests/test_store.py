from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field

from harness.errors import StoreError
from harness.store import ConfigDefaults, Index, Run, atomic_write_json, check_run_id


def test_run_manifest_and_resume(tmp_path: Path) -> None:
    run = Run(tmp_path, "r1", "select", {"a": 1}, seeds=[7])
    manifest = json.loads((tmp_path / "r1" / "manifest.json").read_text())
    assert manifest["config"] == {"a": 1}
    assert manifest["seeds"] == [7]
    assert manifest["version"] == 1
    assert not run.resumed
    run.mark("matrix", "HumanEval/0", "done", artefact="04_matrix/0.npz")
    run.mark("matrix", "HumanEval/1", "running")
    run.close()

    again = Run(tmp_path, "r1", "select", {"a": 1})
    assert again.resumed
    assert again.unit_done("matrix", "HumanEval/0")
    assert not again.unit_done("matrix", "HumanEval/1")
    assert again.index.units("r1", "matrix") == [
        ("matrix", "HumanEval/0", "done"),
        ("matrix", "HumanEval/1", "running"),
    ]
    again.close()


def test_resume_with_other_config_is_refused(tmp_path: Path) -> None:
    Run(tmp_path, "r1", "select", {"a": 1}).close()
    with pytest.raises(StoreError, match="different config"):
        Run(tmp_path, "r1", "select", {"a": 2})


class _Inner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: int = 2
    mode: str = "fast"
    """Added by the "newer harness" of the tests below."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: str
    n: int = 4
    retries: int = 0
    """Added by the "newer harness" of the tests below."""
    inner: _Inner = Field(default_factory=_Inner)
    other: _Inner | None = None


DEFAULTS = ConfigDefaults.of(_Config)


def _older(cfg: _Config, *drop: str) -> dict[str, object]:
    """``cfg`` as a harness without the options ``drop`` (dotted for nested ones) wrote it."""
    data = cfg.model_dump(mode="json")
    for key in drop:
        *parents, leaf = key.split(".")
        where = data
        for part in parents:
            where = where[part]
        del where[leaf]
    return data


def _manifest_config(tmp_path: Path, run_id: str = "r1") -> object:
    return json.loads((tmp_path / run_id / "manifest.json").read_text())["config"]


def test_options_added_at_their_defaults_resume_and_update_the_manifest(tmp_path: Path) -> None:
    cfg = _Config(suite="s", other=_Inner(size=3))
    Run(tmp_path, "r1", "x", _older(cfg, "retries", "inner.mode", "other.mode")).close()
    run = Run(tmp_path, "r1", "x", cfg.model_dump(mode="json"), defaults=DEFAULTS)
    assert run.resumed
    assert _manifest_config(tmp_path) == cfg.model_dump(mode="json") == run.manifest.config
    run.close()
    # The next resume compares with the updated manifest: now the option must keep its value.
    Run(tmp_path, "r1", "x", cfg.model_dump(mode="json")).close()
    with pytest.raises(StoreError, match=r"retries: 0 in the manifest, 5 now"):
        Run(
            tmp_path,
            "r1",
            "x",
            cfg.model_copy(update={"retries": 5}).model_dump(mode="json"),
            defaults=DEFAULTS,
        )


def test_an_added_option_not_at_its_default_is_refused_and_named(tmp_path: Path) -> None:
    cfg = _Config(suite="s", retries=3)
    Run(tmp_path, "r1", "x", _older(cfg, "retries")).close()
    with pytest.raises(StoreError) as err:
        Run(tmp_path, "r1", "x", cfg.model_dump(mode="json"), defaults=DEFAULTS)
    msg = str(err.value)
    assert "retries: absent from the manifest (so its default, 0), 3 now" in msg
    assert "new --run-id" in msg and str(tmp_path / "r1" / "manifest.json") in msg
    assert "retries" not in _manifest_config(tmp_path)  # type: ignore[operator]


def test_without_defaults_an_added_option_is_refused(tmp_path: Path) -> None:
    cfg = _Config(suite="s")
    Run(tmp_path, "r1", "x", _older(cfg, "retries")).close()
    with pytest.raises(StoreError, match=r"retries: absent from the manifest, 0 now \(no default\)"):
        Run(tmp_path, "r1", "x", cfg.model_dump(mode="json"))


def test_a_changed_value_is_refused_even_with_an_added_default(tmp_path: Path) -> None:
    cfg = _Config(suite="s")
    Run(tmp_path, "r1", "x", _older(cfg, "retries")).close()
    with pytest.raises(StoreError) as err:
        Run(tmp_path, "r1", "x", cfg.model_copy(update={"n": 5}).model_dump(mode="json"), defaults=DEFAULTS)
    assert "n: 4 in the manifest, 5 now" in str(err.value) and "retries" not in str(err.value)


def test_a_required_option_missing_from_the_manifest_is_refused(tmp_path: Path) -> None:
    cfg = _Config(suite="s")
    Run(tmp_path, "r1", "x", _older(cfg, "suite")).close()
    with pytest.raises(StoreError, match=r"suite: absent from the manifest, \"s\" now \(no default\)"):
        Run(tmp_path, "r1", "x", cfg.model_dump(mode="json"), defaults=DEFAULTS)


def test_a_removed_option_is_refused(tmp_path: Path) -> None:
    cfg = _Config(suite="s")
    Run(tmp_path, "r1", "x", {**cfg.model_dump(mode="json"), "legacy": True}).close()
    with pytest.raises(
        StoreError, match=r"legacy: true in the manifest, an option this harness no longer has"
    ):
        Run(tmp_path, "r1", "x", cfg.model_dump(mode="json"), defaults=DEFAULTS)


def test_nested_options_are_compared_key_by_key(tmp_path: Path) -> None:
    slow = _Config(suite="s", inner=_Inner(mode="slow"))
    Run(tmp_path, "r1", "x", _older(slow, "inner.mode")).close()
    with pytest.raises(StoreError) as err:
        Run(tmp_path, "r1", "x", slow.model_dump(mode="json"), defaults=DEFAULTS)
    assert 'inner.mode: absent from the manifest (so its default, "fast"), "slow" now' in str(err.value)
    # A model under an optional key (default None) still knows its own defaults.
    other = _Config(suite="s", other=_Inner(mode="slow"))
    Run(tmp_path, "r2", "x", _older(other, "other.mode")).close()
    with pytest.raises(StoreError, match=r"other\.mode: absent .*\"slow\" now"):
        Run(tmp_path, "r2", "x", other.model_dump(mode="json"), defaults=DEFAULTS)
    changed = _Config(suite="s", inner=_Inner(size=9))
    Run(tmp_path, "r3", "x", _older(changed, "inner.mode")).close()
    with pytest.raises(StoreError, match=r"inner\.size: 9 in the manifest, 2 now"):
        Run(tmp_path, "r3", "x", _Config(suite="s").model_dump(mode="json"), defaults=DEFAULTS)


def _write_forever(path: str) -> None:
    i = 0
    while True:
        atomic_write_json(path, {"i": i, "pad": "x" * 100_000})
        i += 1


def test_atomic_write_survives_sigkill(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    atomic_write_json(target, {"i": -1})
    for _ in range(5):
        proc = multiprocessing.get_context("fork").Process(target=_write_forever, args=(str(target),))
        proc.start()
        proc.join(0.2)
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
        data = json.loads(target.read_text())  # never half-written
        assert isinstance(data["i"], int)


def test_index_is_shared_between_connections(tmp_path: Path) -> None:
    a = Index(tmp_path / "index.sqlite")
    b = Index(tmp_path / "index.sqlite")
    a.upsert_run("r", "x", "{}")
    a.set_unit("r", "s", "u", "done")
    assert b.unit_status("r", "s", "u") == "done"
    assert b.runs()[0][:3] == ("r", "x", "running")
    a.close()
    b.close()


def test_outcomes_last_record_wins_and_torn_line_ignored(tmp_path: Path) -> None:
    from harness.store import (
        StageTotals,
        TaskOutcome,
        append_outcomes,
        read_outcomes,
        read_stages,
        write_stages,
    )

    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=0.0)])
    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=1.0, oracle=True)])
    append_outcomes(tmp_path, [TaskOutcome(task_id="b", system="b4", resolved=0.5)])
    with open(tmp_path / "outcomes.jsonl", "a") as fh:
        fh.write('{"task_id": "c", "sys')
    got = {o.task_id: o for o in read_outcomes(tmp_path)}
    assert set(got) == {"a", "b"}
    assert got["a"].resolved == 1.0 and got["a"].oracle is True
    write_stages(tmp_path, [StageTotals(stage="matrix", time_s=2.5)])
    assert read_stages(tmp_path)[0].time_s == 2.5


def test_the_outcome_appender_writes_only_new_or_changed_records(tmp_path: Path) -> None:
    from harness.store import TaskOutcome, append_outcomes
    from harness.store._outcomes import OutcomeAppender

    a0 = TaskOutcome(task_id="a", system="b4", resolved=0.0, extra={"n": 2})
    b = TaskOutcome(task_id="b", system="b4", resolved=1.0)
    append_outcomes(tmp_path, [a0, a0, b])  # an older harness's rerun repeated every row
    path = tmp_path / "outcomes.jsonl"
    before = path.read_bytes()
    appender = OutcomeAppender(tmp_path)
    assert appender.append([TaskOutcome.model_validate_json(b.model_dump_json()), a0]) == []
    assert path.read_bytes() == before
    a1 = a0.model_copy(update={"resolved": 1.0})
    assert appender.append([a1, a1, b]) == [a1]  # changed once, written once
    assert path.read_bytes() == before + (a1.model_dump_json() + "\n").encode()
    assert appender.append([a0]) == [a0]  # back to the old figures: differs from the latest, a1
    assert OutcomeAppender(tmp_path).append([a0, b]) == []


@pytest.mark.parametrize("bad", ["../escape", "a/b", "", ".hidden", "-x", "a b", "x" * 129, "[red]x", "a\nb"])
def test_a_run_id_that_cannot_name_a_folder_is_refused(tmp_path: Path, bad: str) -> None:
    results = tmp_path / "results"
    with pytest.raises(StoreError, match="cannot name a run folder"):
        Run(results, bad, "select", {"a": 1})
    assert not (tmp_path / "escape").exists() and not results.exists()


def test_usual_run_ids_are_accepted(tmp_path: Path) -> None:
    for good in ("r1", "swe-lite.gpt-4o_2", "20261130-112356-select-d9437a", "x" * 128):
        assert check_run_id(good) == good
    Run(tmp_path, "swe-lite.gpt-4o_2", "select", {"a": 1}).close()
    assert (tmp_path / "swe-lite.gpt-4o_2" / "manifest.json").is_file()


def test_appending_after_a_torn_line_keeps_the_file_readable(tmp_path: Path) -> None:
    """A run killed in the middle of a record leaves a torn last line; the resumed run appends to the
    same file. Everything written before and after the kill must read back, and nothing else."""
    from harness.store import TaskOutcome, append_outcomes, read_outcomes

    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=1.0)])
    with open(tmp_path / "outcomes.jsonl", "a") as fh:
        fh.write('{"task_id": "b", "sys')  # the kill
    append_outcomes(tmp_path, [TaskOutcome(task_id="b", system="b4", resolved=0.5)])  # the resume
    append_outcomes(tmp_path, [TaskOutcome(task_id="c", system="b4", resolved=0.0)])
    got = {o.task_id: o.resolved for o in read_outcomes(tmp_path)}
    assert got == {"a": 1.0, "b": 0.5, "c": 0.0}
    only = tmp_path / "only"
    only.mkdir()
    (only / "outcomes.jsonl").write_text('{"task_id": "x"')  # killed in its first record
    append_outcomes(only, [TaskOutcome(task_id="y", system="b4", resolved=1.0)])
    assert [o.task_id for o in read_outcomes(only)] == ["y"]


def test_a_line_torn_inside_a_multibyte_character_is_ignored_and_appended_past(tmp_path: Path) -> None:
    from harness.store import TaskOutcome, append_outcomes, read_outcomes

    append_outcomes(tmp_path, [TaskOutcome(task_id="a", system="b4", resolved=1.0, extra={"note": "naïve"})])
    whole = TaskOutcome(task_id="b", system="b4", resolved=1.0, extra={"note": "日本"}).model_dump_json()
    raw = whole.encode("utf-8")
    cut = raw.index("日".encode()) + 1  # the kill lands inside a 3-byte character
    with open(tmp_path / "outcomes.jsonl", "ab") as fh:
        fh.write(raw[:cut])
    assert [o.task_id for o in read_outcomes(tmp_path)] == ["a"]
    append_outcomes(tmp_path, [TaskOutcome(task_id="b", system="b4", resolved=0.5, extra={"note": "日本"})])
    got = {o.task_id: (o.resolved, o.extra["note"]) for o in read_outcomes(tmp_path)}
    assert got == {"a": (1.0, "naïve"), "b": (0.5, "日本")}


def test_one_process_at_a_time_holds_a_run(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    first = Run(tmp_path, "r1", "select", {"a": 1})
    with pytest.raises(StoreError, match=r"in use by another harness process \(pid \d+\).*--run-id"):
        Run(tmp_path, "r1", "select", {"a": 1})
    Run(tmp_path, "r2", "select", {"a": 1}).close()  # other runs are free
    first.close()
    with pytest.raises(StoreError, match="different config"):  # a refused open leaves it free
        Run(tmp_path, "r1", "select", {"a": 2})
    Run(tmp_path, "r1", "select", {"a": 1}).close()

    # Another process holds it until it ends, even by SIGKILL (a killed run can be resumed at once).
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\nfrom harness.store import Run\n"
         f"run = Run({str(tmp_path)!r}, 'r1', 'select', {{'a': 1}})\nprint('held', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(StoreError, match=f"pid {holder.pid}"):
            Run(tmp_path, "r1", "select", {"a": 1})
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    again = Run(tmp_path, "r1", "select", {"a": 1})
    assert again.resumed
    again.close()
