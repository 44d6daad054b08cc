"""Every option of every command refuses a bad value: exit code 2, one line on stderr naming the option,
no traceback, and nothing ran.

The sweep is driven by the Click command objects, so an option added without a check (``parser=`` one
of :mod:`harness.cli._values`) fails here until it gets one or an entry in ``ACCEPTS_ANYTHING`` with a
reason. The bad values of each kind of check are the table ``bad_values``. Every command's callback is
replaced by a recorder, so a value that slipped through cannot start a sandbox or a model call: the
recorder being called is the failure. The command runs in an empty folder with HOME, HARNESS_RESULTS and
HARNESS_CACHE_DIR inside it, which must still be as it was afterwards (no results folder made).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main
import typer.testing
from typer.testing import CliRunner

from harness.cli import _values as V
from harness.cli import app
from harness.cli import sample as sample_cli
from harness.errors import ConfigError

ROOT_USER = os.geteuid() == 0

# Placeholders, made real in each test's folder (see `Workspace`).
MISSING, EMPTY, FILE, DIR, FIFO, UNDER_FILE, UNWRITABLE = (
    "<missing>",
    "<empty>",
    "<file>",
    "<dir>",
    "<fifo>",
    "<under-file>",
    "<unwritable>",
)


def _int_bad(c: V.Int) -> list[str]:
    bad = ["-1", str(c.min - 1), "nan", "inf", "1.5", "1e3", "abc", ""]
    if c.max is not None:
        bad += [str(c.max + 1), "9" * 40]
    return bad


def _number_bad(c: V.Number) -> list[str]:
    bad = ["nan", "-nan", "inf", "-inf", "1e400", "abc", "", f"{c.min - 1:g}"]
    if c.min > -1 or (c.min == -1 and c.min_open):
        bad.append("-1")
    if c.min_open:
        bad.append(f"{c.min:g}")  # 0 where more than 0 is wanted
    if c.max is not None:
        bad += [f"{c.max * 10 + 1:g}", "1e308"]
    return bad


def _one_of_bad(c: V.OneOf) -> list[str]:
    first = c.choices[0]
    return ["nosuch", "", first.upper(), f" {first}", f"{first},{first}"]


def _names_bad(c: V.Names) -> list[str]:
    first = next(iter(c.source()))
    bad = ["nosuch", "", ",", f"{first},nosuch", f"{first},{first}"]
    if c.labels:
        bad.append(f"{first}:")
    return bad


BUDGET_BAD = [
    "programs=-1",
    "programs=0",
    "programs=1.5",
    "programs=nan",
    "programs=inf",
    "programs=1e400",
    "programs=1e13",
    "calls=abc",
    "dollars=-1",
    "dollars=0",
    "dollars=nan",
    "dollars=inf",
    "nosuch=1",
    "programs",
    "",
    ",",
    "programs=1,programs=2",
]

PATH_SYSTEM = ["/proc/self/environ", "/proc/x", "/sys/x", "/dev/zero", "/dev/shm/x"]

# The bad values of each kind of check. A kind missing here fails the sweep (`bad_values` raises).
BAD: dict[type[V.Check], Callable[[Any], list[str]]] = {
    V.Int: _int_bad,
    V.Number: _number_bad,
    V.Port: lambda c: ["-1", "65536", "99999", "9" * 40, "1.5", "abc", "", *(["0"] if c.min else [])],
    V.OneOf: _one_of_bad,
    V.Names: _names_bad,
    V.Budget: lambda c: BUDGET_BAD,
    V.KeyValue: lambda c: (
        ["novalue", "=1", "b4beta0=1", ".x=1", "b4.=1", "b4. =1", "b4.1x=1", "b4.beta-0=1", "b4beta0", ""]
        if c.dotted
        else ["novalue", "=1", " =1", ""]
    ),
    V.ModelSpec: lambda c: ["nosuch:x", "openai:", "anthropic: ", "gpt-4o", ""],
    V.Url: lambda c: [
        "notaurl",
        "ftp://x/v1",
        "http://",
        "http://h:99999/v1",
        "http://h:0",
        "http://a b",
        "",
    ],
    V.ClusterAddress: lambda c: [
        "",
        "Auto",
        "ray://",
        "ray://h",
        "ray://h:0",
        "ray://h:99999",
        "ray://a b:1",
        "ray://h:1/x",
        "ray://bad_host!:1",
        "http://h:10001",
        "h:10001",
    ],
    V.RunId: lambda c: ["../outside", "a/b", "[bold]x", "-x", "x" * 129, ""],
    V.MemorySize: lambda c: ["0", "1", "5m", "-1g", "abc", "1000000t", ""],
    V.ImageRef: lambda c: ["", "-rm", "Upper/Case", "a b", "x::y", "--privileged"],
    V.Host: lambda c: ["", " ", "a b", "-x", "bad_host!", "x" * 300],
    V.ImageNamespace: lambda c: ["", "-x", "Upper", "swebench/", "ns:latest/x", "127.0.0.1:5000/ns:1", "a b"],
    V.InputFile: lambda c: [
        MISSING,
        EMPTY,
        FIFO,
        UNDER_FILE,
        "",
        *PATH_SYSTEM,
        *([] if c.dirs else [DIR]),
    ],
    V.InputDir: lambda c: [MISSING, FILE, UNDER_FILE, "/proc", "/sys/kernel", ""],
    V.OutputDir: lambda c: [FILE, UNDER_FILE, "", *PATH_SYSTEM, *([] if ROOT_USER else [UNWRITABLE])],
    V.OutputFile: lambda c: [DIR, UNDER_FILE, FIFO, "", *PATH_SYSTEM, *([] if ROOT_USER else [UNWRITABLE])],
}

# Values each kind must still accept (so the checks are not stricter than the commands).
GOOD: dict[type[V.Check], Callable[[Any], list[str]]] = {
    V.Int: lambda c: [str(c.min), str(c.max if c.max is not None else c.min + 10)],
    V.Number: lambda c: [
        f"{c.max if c.max is not None else 10:g}",
        "0.5" if c.min < 0.5 else f"{c.min + 1:g}",
    ],
    V.Port: lambda c: ["8765", "65535", str(c.min or 1)],
    V.OneOf: lambda c: list(c.choices),
    V.Names: lambda c: [",".join(list(c.source())[:2]), *([c.all_word] if c.all_word else [])],
    V.Budget: lambda c: ["programs=10", "calls=30,tokens=1e5", "dollars=0.25|programs=3"],
    V.KeyValue: lambda c: (
        ["b4.beta0=1e4", "sfs.seeds=3", "b4:v1.5.beta0=1e4", " sfs.seeds =3", "x.prompt=a=b", "x.y="]
        if c.dotted
        else ["match=contains", "x="]
    ),
    V.ModelSpec: lambda c: ["scripted", "openai:gpt-4o-mini", "vllm:/models/qwen", "replay:pool.jsonl"],
    V.Url: lambda c: ["http://127.0.0.1:8000/v1", "https://api.example.com"],
    V.ClusterAddress: lambda c: [
        "auto",
        "ray://127.0.0.1:10001",
        "ray://head.example.com:10001",
        "ray://[::1]:1",
    ],
    V.RunId: lambda c: ["swe-lite-gpt4o.1", "x"],
    V.MemorySize: lambda c: ["512m", "1g", "6m"],
    V.ImageRef: lambda c: [
        "python:3.11-slim",
        "harness-python:f7a13df41a29",
        "ghcr.io/o/x:1@sha256:" + "a" * 64,
    ],
    V.Host: lambda c: ["127.0.0.1", "::1", "localhost", "0.0.0.0"],
    V.ImageNamespace: lambda c: ["swebench", "127.0.0.1:5000/swebench", "ghcr.io/org/sub", "localhost:5000"],
    V.InputFile: lambda c: [FILE, *([DIR] if c.dirs else [])],
    V.InputDir: lambda c: [DIR],
    V.OutputDir: lambda c: [DIR, MISSING + "/deeper"],
    V.OutputFile: lambda c: [MISSING, FILE],
}


@dataclass(frozen=True)
class Allowed:
    reason: str
    good: str | None = None
    """A value to give when the parameter is required (for the other parameters' cases)."""


# Options that really take any value, each with why. Flags take no value and are not listed.
ACCEPTS_ANYTHING: dict[tuple[str, str], Allowed] = {
    ("sample", "prompt"): Allowed("any text is a prompt"),
    ("sample", "system"): Allowed("any text is a system message"),
    ("sample", "stop"): Allowed("any text can be a stop string"),
    ("search", "tasks"): Allowed(
        "task ids depend on --suite; the command refuses unknown ones before anything runs "
        "(tests/test_cli_refusals.py::test_search_refuses_unknown_task_ids)"
    ),
    ("tasks validate", "instance"): Allowed(
        "instance ids depend on the suite; unknown ones are a ConfigError (exit 2) before any container"
    ),
    ("eval", "instance"): Allowed(
        "instance ids depend on the suite; unknown ones are a ConfigError (exit 2) before any container"
    ),
    ("ensemble", "instance"): Allowed(
        "instance ids depend on the suite; unknown ones are a ConfigError (exit 2) before any container"
    ),
    ("exec", "cmd"): Allowed("the command to run in the sandbox is the user's to choose", good="true"),
    ("report", "run"): Allowed(
        "a run id or a run folder; load_run refuses one that is not there (StoreError, exit 2)", good="r1"
    ),
    ("compare", "runs"): Allowed("run ids or run folders, as for report", good="r1"),
}

# Parameters checked by a callback rather than a parser (the check is the same class).
CHECKED_BY_CALLBACK: dict[tuple[str, str], tuple[Callable[..., Any], V.Check]] = {
    # --messages is refused with --prompt before its file is looked at (the mistake named first).
    ("sample", "messages"): (sample_cli._messages_file, sample_cli._MESSAGES_FILE),
}

# The good values of required parameters, by kind (used in every case of their command).
REQUIRED_GOOD: dict[type[V.Check], str] = {V.InputFile: FILE, V.OutputFile: FILE, V.ModelSpec: "scripted"}


def _walk(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every command under ``group`` with its path (``tasks validate``)."""
    for name, cmd in sorted(group.commands.items()):
        path = f"{prefix} {name}".strip()
        if hasattr(cmd, "commands"):
            yield from _walk(cmd, path)
        else:
            yield path, cmd


def _commands() -> Iterator[tuple[str, Any]]:
    return _walk(typer.main.get_command(app))


def _check_of(command: str, param: Any) -> V.Check | Allowed | None:
    """The check a parameter goes through, or why it needs none; None: neither (a gap)."""
    info = param.type_descriptor.parameter_info
    if isinstance(info.parser, V.Check):
        return info.parser
    if (command, param.name) in CHECKED_BY_CALLBACK:
        callback, check = CHECKED_BY_CALLBACK[command, param.name]
        assert info.callback is callback
        return check
    return ACCEPTS_ANYTHING.get((command, param.name))


def _is_flag(param: Any) -> bool:
    return bool(getattr(param, "is_flag", False))


CASES = [(command, param.name) for command, cmd in _commands() for param in cmd.params if not _is_flag(param)]
CHECKED = [
    (command, param.name)
    for command, cmd in _commands()
    for param in cmd.params
    if not _is_flag(param) and isinstance(_check_of(command, param), V.Check)
]
"""The options with a check of their own (the others accept anything, with a reason)."""


def test_the_sweep_covers_every_command() -> None:
    commands = {c for c, _ in CASES}
    assert commands >= {"select", "search", "sample", "run", "eval", "tasks validate", "exec", "sandbox gc",
                        "report", "compare", "view"}  # fmt: skip
    stale = set(ACCEPTS_ANYTHING) - set(CASES)
    assert not stale, f"ACCEPTS_ANYTHING names parameters that are gone: {stale}"


class Workspace:
    """An empty folder the command runs in, with the files the placeholders stand for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir()
        (root / "file.jsonl").write_text('{"x": 1}\n')
        (root / "empty.jsonl").write_text("")
        (root / "adir").mkdir()
        os.mkfifo(root / "fifo")
        (root / "home").mkdir()
        ro = root / "readonly"
        ro.mkdir()
        ro.chmod(0o555)
        self.places = {
            MISSING: root / "missing",
            EMPTY: root / "empty.jsonl",
            FILE: root / "file.jsonl",
            DIR: root / "adir",
            FIFO: root / "fifo",
            UNDER_FILE: root / "file.jsonl" / "sub",
            UNWRITABLE: ro / "sub",
        }

    def real(self, value: str) -> str:
        for token, path in self.places.items():
            if value.startswith(token):
                return str(path) + value[len(token) :]
        return value

    def snapshot(self) -> dict[str, tuple[int, int]]:
        out = {}
        for dirpath, dirs, files in os.walk(self.root):
            for name in dirs + files:
                p = Path(dirpath) / name
                st = p.lstat()
                out[str(p)] = (st.st_mode, st.st_size)
        return out


@pytest.fixture
def sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sweep]:
    ws = Workspace(tmp_path / "ws")
    monkeypatch.chdir(ws.root)
    monkeypatch.setenv("HOME", str(ws.root / "home"))
    monkeypatch.setenv("HARNESS_RESULTS", str(ws.root / "results"))
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(ws.root / "cache"))
    group = typer.main.get_command(app)
    ran: list[str] = []

    def recorder(path: str) -> Callable[..., None]:
        def ran_instead(**_: Any) -> None:
            ran.append(path)

        return ran_instead

    for path, cmd in _walk(group):
        cmd.callback = recorder(path)
    # CliRunner builds the command from the app each time; hand it the one with the recorders.
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: group)
    yield Sweep(ws, group, ran)
    (ws.root / "readonly").chmod(0o755)


@dataclass
class Sweep:
    ws: Workspace
    group: Any
    ran: list[str]

    def command(self, path: str) -> Any:
        cmd = self.group
        for word in path.split():
            cmd = cmd.commands[word]
        return cmd

    def args(self, path: str, target: Any, value: str) -> list[str]:
        """The command line: the value for ``target``, a good value for every other required parameter."""
        opts: list[str] = []
        positional: list[str] = []
        for param in self.command(path).params:
            if param is target:
                given = self.ws.real(value)
            elif param.required:
                check = _check_of(path, param)
                good = check.good if isinstance(check, Allowed) else REQUIRED_GOOD.get(type(check))
                assert good is not None, f"{path}: no good value for the required {param.name}"
                given = self.ws.real(good)
            else:
                continue
            if param.param_type_name == "argument":
                positional.append(given)
            else:
                opts += [param.opts[0], given]
        return [*path.split(), *opts, "--", *positional]

    def invoke(self, args: list[str]) -> Any:
        before = self.ws.snapshot()
        self.ran.clear()
        res = CliRunner().invoke(app, args)
        return res, self.ws.snapshot() == before


def _param(sweep: Sweep, command: str, name: str) -> Any:
    return next(p for p in sweep.command(command).params if p.name == name)


def bad_values(check: V.Check) -> list[str]:
    if type(check) not in BAD:
        raise AssertionError(f"no bad values for {type(check).__name__}: add them to BAD")
    return list(dict.fromkeys(BAD[type(check)](check)))


@pytest.mark.parametrize(("command", "name"), CASES, ids=[f"{c}--{n}" for c, n in CASES])
def test_every_option_refuses_bad_values(sweep: Sweep, command: str, name: str) -> None:
    param = _param(sweep, command, name)
    check = _check_of(command, param)
    assert check is not None, (
        f"`harness {command}` {param.opts or param.name}: no check. Give it parser= a check from "
        "harness.cli._values, or list it in ACCEPTS_ANYTHING with the reason it takes any value."
    )
    if isinstance(check, Allowed):
        assert check.reason
        return
    names = [*param.opts, param.name.upper()]
    problems = []
    for value in bad_values(check):
        args = sweep.args(command, param, value)
        res, unchanged = sweep.invoke(args)
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        said = lines[0] if lines else ""
        if not (
            res.exit_code == 2
            and len(lines) == 1
            and said.startswith("Error: Invalid value for ")
            and any(f"'{n}'" in said for n in names)
            and "Traceback" not in res.output
            and not res.stdout
            and not sweep.ran
            and unchanged
        ):
            problems.append(
                f"{value!r}: exit {res.exit_code}, ran {sweep.ran}, folder unchanged {unchanged}, "
                f"said {res.output!r}, exception {res.exception!r}"
            )
    assert not problems, f"harness {command} {param.opts or param.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize(("command", "name"), CHECKED, ids=[f"{c}--{n}" for c, n in CHECKED])
def test_every_option_accepts_good_values(sweep: Sweep, command: str, name: str) -> None:
    """The checks are no stricter than the commands: good values (and every default) get through, and
    checking them creates nothing."""
    param = _param(sweep, command, name)
    check = _check_of(command, param)
    assert isinstance(check, V.Check)
    for value in GOOD[type(check)](check):
        res, unchanged = sweep.invoke(sweep.args(command, param, value))
        assert res.exit_code == 0 and sweep.ran == [command], (value, res.output, res.exception)
        assert unchanged, f"checking {value!r} changed the folder"


def test_the_sweep_size() -> None:
    """How many bad command lines the sweep runs (printed with -s)."""
    commands = dict(_commands())
    checks = [_check_of(c, next(p for p in commands[c].params if p.name == n)) for c, n in CASES]
    total = sum(len(bad_values(c)) for c in checks if isinstance(c, V.Check))
    n_checked = sum(isinstance(c, V.Check) for c in checks)
    print(f"\nsweep: {len(commands)} commands, {n_checked} checked options, {total} bad command lines")
    assert total > 300


@pytest.mark.parametrize(
    ("items", "parsed"),
    [
        (["b4.beta0=1e4", "sfs.seeds=3"], {"b4": {"beta0": 10000.0}, "sfs": {"seeds": 3}}),
        (["b4:v1.5.beta0=1e4"], {"b4:v1.5": {"beta0": 10000.0}}),  # a label with dots: the field is last
        (["x.prompt=a=b", "x.flag=true"], {"x": {"prompt": "a=b", "flag": True}}),  # '=' in a value
        ([" sfs.seeds =3", "sfs.seeds=4"], {"sfs": {"seeds": 4}}),  # spaces dropped, the last one wins
        (["x.y=", "x.z= a "], {"x": {"y": "", "z": " a "}}),  # the value as given
    ],
)
def test_one_set_parser(items: list[str], parsed: dict[str, dict[str, Any]]) -> None:
    """``harness select`` and ``harness search`` read ``--set`` with this one function (they split
    ``b4:v1.5.beta0`` differently before: rpartition and partition)."""
    assert V.parse_settings(items) == parsed


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("b4beta0=1", "no '.' between the strategy and the field in 'b4beta0'"),
        ("b4.beta0", "no '=' before the value"),
        (".beta0=1", "no strategy before the '.'"),
        ("b4.=1", "no field after the '.'"),
        ("b4.beta-0=1", "'beta-0' is not a field name"),
    ],
)
def test_set_refusals_name_the_fix(item: str, words: str) -> None:
    with pytest.raises(ConfigError) as exc:
        V.parse_settings([item], example="sfs.seeds=3")
    assert str(exc.value) == f"bad --set {item!r}: {words}; use STRATEGY.FIELD=VALUE, e.g. sfs.seeds=3"


@pytest.mark.parametrize("command", ["select", "search"])
def test_both_commands_take_set_through_the_one_parser(command: str) -> None:
    """Both ``--set`` options are checked by ``KeyValue(dotted=True)`` (the sweep above gives both the
    same good and bad values), which splits by :func:`split_setting`, as the commands then do."""
    params = dict(_commands())[command].params
    check = _check_of(command, next(p for p in params if "--set" in p.opts))
    assert isinstance(check, V.KeyValue) and check.dotted
