from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import DataError
from harness.trajectory import TrajectoryLog, iter_events


def test_events_are_flushed_at_every_step(tmp_path: Path) -> None:
    path = tmp_path / "t" / "traj.jsonl"
    log = TrajectoryLog(path)
    log.append("start", {"task_id": "x"})
    # Without closing, the line is already on disk (a SIGKILL now would lose nothing).
    assert json.loads(path.read_text().splitlines()[0])["type"] == "start"
    log.append("model_response", {"text": "hi"}, cost_usd=0.25, usage={"input_tokens": 3, "output_tokens": 1})
    log.close()
    events = list(iter_events(path))
    assert [e.seq for e in events] == [0, 1]
    assert events[1].usage is not None and events[1].usage.input_tokens == 3
    assert log.cost_usd == 0.25


def test_reopen_continues_sequence_and_ignores_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "traj.jsonl"
    with TrajectoryLog(path) as log:
        log.append("start")
        log.append("note", {"text": "a"})
    with open(path, "a") as fh:
        fh.write('{"v": 1, "seq": 2, "type": "no')  # torn by a crash
    assert [e.seq for e in iter_events(path)] == [0, 1]
    path.write_text(path.read_text().rsplit("\n", 1)[0] + "\n")
    with TrajectoryLog(path) as log:
        log.append("end")
    assert [e.seq for e in iter_events(path)] == [0, 1, 2]
    assert [e.seq for e in iter_events(path, offset=1, limit=1)] == [1]


def test_error_inside_context_is_logged(tmp_path: Path) -> None:
    path = tmp_path / "traj.jsonl"
    with pytest.raises(RuntimeError), TrajectoryLog(path) as log:
        log.append("start")
        raise RuntimeError("sandbox died")
    last = list(iter_events(path))[-1]
    assert last.type == "error" and last.data["message"] == "sandbox died"


def test_malformed_middle_line_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "traj.jsonl"
    path.write_text('{"v":1,"seq":0,"type":"start"}\nnot json\n{"v":1,"seq":2,"type":"end"}\n')
    with pytest.raises(DataError, match=r"traj.jsonl:2"):
        list(iter_events(path))
    path.write_text('{"v":99,"seq":0,"type":"start"}\n')
    with pytest.raises(DataError, match="newer harness"):
        list(iter_events(path))


def test_torn_last_line_cut_inside_a_character_is_ignored(tmp_path: Path) -> None:
    # A crash tears the last line at a byte, not at a character: model output is often not ASCII.
    path = tmp_path / "traj.jsonl"
    with TrajectoryLog(path) as log:
        log.append("start")
        log.append("model_response", {"text": "héllo 世界"})
    torn = '{"v": 1, "seq": 2, "type": "model_response", "data": {"text": "世界'.encode()
    with open(path, "ab") as fh:
        fh.write(torn[:-1])
    events = list(iter_events(path))
    assert [e.seq for e in events] == [0, 1] and events[1].data["text"] == "héllo 世界"
    with TrajectoryLog(path) as log:  # a resumed trajectory continues the same file
        log.append("end")
    assert [(e.seq, e.type) for e in iter_events(path)] == [(0, "start"), (1, "model_response"), (2, "end")]


def test_reopening_a_log_with_a_torn_line_keeps_it_readable(tmp_path: Path) -> None:
    # The torn line is dropped before appending: appended to, it would merge with the first new event
    # into one malformed line in the middle of the log, which no reader can get past.
    path = tmp_path / "traj.jsonl"
    with TrajectoryLog(path) as log:
        log.append("start")
    with open(path, "a") as fh:
        fh.write('{"v": 1, "seq": 1, "type": "no')
    with TrajectoryLog(path) as log:
        log.append("note", {"text": "resumed"})
    assert [(e.seq, e.type) for e in iter_events(path)] == [(0, "start"), (1, "note")]
    assert path.read_text().endswith("\n") and len(path.read_text().splitlines()) == 2


def test_a_complete_line_that_is_not_utf8_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "traj.jsonl"
    path.write_bytes(b'{"v":1,"seq":0,"type":"start"}\n{"v":1,"seq":1,"type":"note","data":{"t":"\xff"}}\n')
    with pytest.raises(DataError, match=r"traj.jsonl:2"):
        list(iter_events(path))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"v":1,"seq":1,"type":"tool_result"}', r"traj.jsonl:2: not an event \(type: Input should be"),
        ("[1, 2]", r"traj.jsonl:2: not an event \(a JSON list\)"),
        ('{"v":1,"seq":"one","type":"note"}', r"traj.jsonl:2: not an event \(seq: "),
        ('{"v":"2","seq":1,"type":"note"}', r"traj.jsonl:2: written by a newer harness \(format v2\)"),
    ],
)
def test_a_line_that_is_no_event_is_a_clear_error(tmp_path: Path, line: str, message: str) -> None:
    # The strict reader (cost accounting, resuming a log) names the line; the viewer's pager shows it.
    path = tmp_path / "traj.jsonl"
    path.write_text('{"v":1,"seq":0,"type":"start"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        list(iter_events(path))
