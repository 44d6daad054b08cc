"""The checks every CLI value goes through: one class per kind of value (counts, seconds, ports, choices,
budgets, paths, ...), used as Typer's ``parser=`` so a bad value is refused while the command line is
parsed, before the command runs anything (no results folder, no sandbox, no model call).

A check returns the value, or raises with a message saying what is wrong; Typer puts the option's name
in front (``Invalid value for '--port': ...``) and :class:`harness.cli._common.OneLineErrors` prints it
on one line with exit code 2. Defaults go through the same checks. ``tests/test_cli_values.py`` sweeps
every option of every command with bad values of its kind, so an option added without a check fails
there.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._checks import Check as Check
from harness._checks import ClusterAddress as ClusterAddress
from harness._checks import Host as Host
from harness._checks import ImageNamespace as ImageNamespace
from harness._checks import ImageRef as ImageRef
from harness._checks import fail as fail
from harness._checks import text as _text
from harness.errors import ConfigError

# Kernel interfaces, not places for data: reading /proc/self/environ or writing under /sys is never
# what a results folder or an input file is for.
SYSTEM_DIRS = ("/proc", "/sys", "/dev")


@dataclass(frozen=True)
class Int(Check):
    """A whole number in ``[min, max]`` (``max`` None: no upper bound). ``1.5``, ``1e3``, ``nan`` are refused."""

    min: int
    max: int | None = None

    def __call__(self, raw: Any) -> int:
        if isinstance(raw, bool):
            fail(f"{raw!r} is not a whole number")
        if isinstance(raw, int):
            n = raw
        else:
            try:
                n = int(_text(raw).strip(), 10)
            except ValueError:
                fail(f"{_text(raw)!r} is not a whole number")
        if n < self.min or (self.max is not None and n > self.max):
            fail(f"{n} is not in {self.range()}")
        return n

    def range(self) -> str:
        return f"{self.min}..{self.max}" if self.max is not None else f"the range x>={self.min}"


@dataclass(frozen=True)
class Number(Check):
    """A finite number (never nan or inf) in ``[min, max]``; ``min_open`` makes it ``> min``."""

    min: float
    max: float | None = None
    min_open: bool = False
    unit: str = ""

    def __call__(self, raw: Any) -> float:
        if isinstance(raw, bool):
            fail(f"{raw!r} is not a number")
        try:
            x = float(raw) if isinstance(raw, int | float) else float(_text(raw).strip())
        except (ValueError, OverflowError):
            fail(f"{_text(raw)!r} is not a number")
        if not math.isfinite(x):
            fail(f"{_text(raw).strip()} is not a finite number")
        low_ok = x > self.min if self.min_open else x >= self.min
        if not low_ok or (self.max is not None and x > self.max):
            fail(f"{x:g} is not in {self.range()}")
        return x

    def range(self) -> str:
        low = f"x>{self.min:g}" if self.min_open else f"x>={self.min:g}"
        high = f", x<={self.max:g}" if self.max is not None else ""
        return f"the range {low}{high}{self.unit}"


def seconds(max_s: float = 7 * 24 * 3600.0) -> Number:
    """A timeout: more than 0 seconds, at most ``max_s`` (a week unless said), never nan/inf."""
    return Number(min=0.0, max=max_s, min_open=True, unit=" seconds")


SEED = Int(0, 2**32 - 1)
"""A random seed: numpy's generators and the model APIs all take 0..2**32-1 (numpy refuses negatives)."""


@dataclass(frozen=True)
class Port(Check):
    """A TCP port, ``min``..65535 (``min=0`` when 0 means 'pick a free one')."""

    min: int = 1

    def __call__(self, raw: Any) -> int:
        return Int(self.min, 65535)(raw)


@dataclass(frozen=True)
class OneOf(Check):
    """One of a fixed list of words, exactly as written."""

    choices: tuple[str, ...]

    def __call__(self, raw: Any) -> str:
        value = _text(raw)
        if value not in self.choices:
            fail(f"{value!r} is not one of {', '.join(self.choices)}")
        return value


@dataclass(frozen=True)
class Names(Check):
    """A comma list of names from ``source()`` (imported when a value is checked), no repeats.
    ``labels``: a name may carry ``:label`` (several configurations of one selector); ``all_word``: that
    word alone means every name."""

    source: Callable[[], Iterable[str]]
    labels: bool = False
    all_word: str | None = None

    def __call__(self, raw: Any) -> str:
        value = _text(raw)
        known = list(self.source())
        names = [s.strip() for s in value.split(",") if s.strip()]
        if self.all_word is not None and names == [self.all_word]:
            return value
        choose = ", ".join(([self.all_word] if self.all_word else []) + known)
        if not names:
            fail(f"no strategies given; choose from {choose}")
        bases = [n.split(":", 1)[0] if self.labels else n for n in names]
        unknown = [n for n, b in zip(names, bases, strict=True) if b not in known]
        if unknown:
            fail(f"unknown strategies {unknown}; choose from {choose}")
        if self.labels and any(n.endswith(":") for n in names):
            fail(f"{value!r}: a label after ':' is empty (write NAME:LABEL)")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            fail(f"{', '.join(repeated)} given twice")
        return value


def _selector_names() -> list[str]:
    from harness.selection import SELECTORS

    return list(SELECTORS)


def _strategy_names() -> list[str]:
    from harness.search import STRATEGY_NAMES

    return list(STRATEGY_NAMES)


SELECTOR_LIST = Names(_selector_names, labels=True, all_word="all")
STRATEGY_LIST = Names(_strategy_names)


_INT_BUDGET_MAX = 10**12


@dataclass(frozen=True)
class Budget(Check):
    """A search budget: ``KEY=VALUE`` items (``,`` or ``|`` between them), each key once; counts are
    whole numbers >= 1, ``cost_usd`` (or its old spelling ``dollars``) a finite amount > 0. Returned as written (``BudgetLimits.parse``
    reads it in the command)."""

    def __call__(self, raw: Any) -> str:
        from harness.models import BudgetLimits

        value = _text(raw)
        keys = list(BudgetLimits.model_fields)
        seen: set[str] = set()
        for part in (p.strip() for p in value.replace("|", ",").split(",")):
            if not part:
                continue
            key, sep, num = (s.strip() for s in part.partition("="))
            key = "cost_usd" if key == "dollars" else key
            if not sep or key not in keys:
                fail(f"bad budget item {part!r}: use KEY=VALUE with KEY one of {', '.join(keys)}")
            if key in seen:
                fail(f"budget {key} given twice")
            seen.add(key)
            try:
                x = float(num)
            except ValueError:
                fail(f"budget {key}={num!r} is not a number")
            if key == "cost_usd":
                if not (math.isfinite(x) and x > 0):
                    fail(f"budget cost_usd={num} must be a finite amount above 0")
            elif not (math.isfinite(x) and x == int(x) and 1 <= x <= _INT_BUDGET_MAX):
                fail(f"budget {key}={num} must be a whole number in 1..{_INT_BUDGET_MAX}")
        if not seen:
            fail("empty budget: give at least one limit, e.g. programs=10")
        return value


_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def split_setting(item: str, example: str = "b4.beta0=1e4") -> tuple[str, str, str]:
    """``STRATEGY.FIELD=VALUE`` -> ``(strategy, field, raw value)``: the one split rule of ``--set``
    (``harness select`` and ``harness search``), or a :class:`ConfigError` that says how to write it.

    The key ends at the first ``=``: a value may hold ``=`` (``x.prompt=a=b``), a key never does. The
    field starts after the key's last ``.``: a field is a key of a strategy's config (an identifier,
    never dotted), while a strategy of ``harness select`` may carry a label with dots
    (``b4:v1.5.beta0=1e4`` sets ``beta0`` of ``b4:v1.5``). Spaces around the strategy and the field are
    dropped; the value is kept as given."""
    key, eq, raw = item.partition("=")
    strategy, dot, field = key.rpartition(".")
    strategy, field = strategy.strip(), field.strip()
    if not eq:
        problem = "no '=' before the value"
    elif not dot:
        problem = f"no '.' between the strategy and the field in {key.strip()!r}"
    elif not strategy:
        problem = "no strategy before the '.'"
    elif not _FIELD.fullmatch(field):
        problem = f"{field!r} is not a field name" if field else "no field after the '.'"
    else:
        return strategy, field, raw
    raise ConfigError(f"bad --set {item!r}: {problem}; use STRATEGY.FIELD=VALUE, e.g. {example}")


def parse_settings(items: Iterable[str], example: str = "b4.beta0=1e4") -> dict[str, dict[str, Any]]:
    """``--set`` items -> ``{strategy: {field: value}}`` by :func:`split_setting`, values parsed as JSON
    when they parse (``1e4`` is a number, ``true`` a bool, ``contains`` stays a string); a later item
    for the same field wins."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        strategy, field, raw = split_setting(item, example)
        out.setdefault(strategy, {})[field] = json_or_text(raw)
    return out


def json_or_text(raw: str) -> Any:
    """``raw`` parsed as JSON when it parses, else the text as it is."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


@dataclass(frozen=True)
class KeyValue(Check):
    """``KEY=VALUE`` (``dotted``: ``STRATEGY.FIELD=VALUE`` by :func:`split_setting`); the value is free
    (JSON when it parses)."""

    dotted: bool = False
    example: str = "match=contains"

    def __call__(self, raw: Any) -> str:
        value = _text(raw)
        if self.dotted:
            try:
                split_setting(value, self.example)
            except ConfigError as exc:
                fail(str(exc))
            return value
        key, sep, _ = value.partition("=")
        if not sep or not key.strip():
            fail(f"bad {value!r}: use KEY=VALUE, e.g. {self.example}")
        return value


@dataclass(frozen=True)
class ModelSpec(Check):
    """``PROVIDER:MODEL`` with a provider the model layer knows (``scripted`` needs no model)."""

    def __call__(self, raw: Any) -> str:
        from harness.models import PROVIDERS

        value = _text(raw)
        provider, _, target = value.partition(":")
        provider = provider.strip().lower()
        if provider not in PROVIDERS:
            fail(
                f"unknown model spec {value!r}: use PROVIDER:MODEL with PROVIDER one of {', '.join(PROVIDERS)}"
            )
        if not target.strip() and provider != "scripted":
            fail(f"model spec {value!r} names no model: write {provider}:MODEL")
        return value


@dataclass(frozen=True)
class Url(Check):
    """An ``http://`` or ``https://`` URL with a host and, if any, a port in 1..65535."""

    def __call__(self, raw: Any) -> str:
        from urllib.parse import urlsplit

        value = _text(raw)
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            fail(f"{value!r} is not a URL ({exc})")
        if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", value):
            fail(f"{value!r} is not an http(s) URL, e.g. http://127.0.0.1:8000/v1")
        if port == 0:
            fail(f"{value!r}: port 0 is not a port a server listens on")
        return value


@dataclass(frozen=True)
class RunId(Check):
    """A run id that can name a run folder (:func:`harness.store.check_run_id`)."""

    def __call__(self, raw: Any) -> str:
        from harness.errors import StoreError
        from harness.store import check_run_id

        try:
            return check_run_id(_text(raw))
        except StoreError as exc:
            fail(str(exc))


@dataclass(frozen=True)
class MemorySize(Check):
    """A sandbox memory limit like ``512m``: at least Docker's minimum (6 MiB), at most this machine's
    memory. 0 would mean *no* limit to Docker, so it is refused, not passed on."""

    def __call__(self, raw: Any) -> str:
        from harness.errors import ConfigError
        from harness.sandbox._config import to_bytes

        value = _text(raw)
        try:
            size = to_bytes(value)
        except ConfigError as exc:
            fail(str(exc))
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        if size < 6 * 2**20:
            fail(f"{value!r} is below Docker's minimum of 6m (0 would mean no limit at all)")
        if size > total:
            fail(f"{value!r} is more than this machine's memory ({total / 2**30:.1f} GiB)")
        return value


# Paths ---------------------------------------------------------------------------------------------


def _path(raw: Any) -> tuple[Path, Path]:
    """The path as typed (``~`` expanded) and where it really is; refuses empty and kernel paths."""
    text = os.fspath(raw) if isinstance(raw, os.PathLike) else _text(raw)
    if not str(text).strip():
        fail("an empty path")
    path = Path(text).expanduser()
    real = Path(os.path.realpath(path))
    for top in SYSTEM_DIRS:
        if real == Path(top) or Path(top) in real.parents:
            fail(f"{path} is under {top}, a kernel interface, not a place for files")
    return path, real


def _stat(real: Path) -> os.stat_result | None:
    try:
        return real.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        fail(f"{real}: {exc.strerror}")


def _check_file(path: Path, real: Path, st: os.stat_result, what: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        fail(f"{what} {path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        fail(f"{what} {path} is not a regular file (a pipe or device is not read)")
    if not os.access(real, os.R_OK):
        fail(f"cannot read {what} {path}: permission denied")
    if st.st_size == 0:
        fail(f"{what} {path} is empty")


@dataclass(frozen=True)
class InputFile(Check):
    """An existing, readable, non-empty regular file (``dirs``: or a readable folder)."""

    what: str = "file"
    dirs: bool = False

    def __call__(self, raw: Any) -> Path:
        path, real = _path(raw)
        st = _stat(real)
        if st is None:
            fail(f"cannot read {self.what} {path}: no such file{' or folder' if self.dirs else ''}")
        if self.dirs and stat.S_ISDIR(st.st_mode):
            if not os.access(real, os.R_OK | os.X_OK):
                fail(f"cannot read {self.what} {path}: permission denied")
            return path
        _check_file(path, real, st, self.what)
        return path


@dataclass(frozen=True)
class InputDir(Check):
    """An existing folder harness can list and read (runs are read from it)."""

    what: str = "folder"

    def __call__(self, raw: Any) -> Path:
        path, real = _path(raw)
        st = _stat(real)
        if st is None:
            fail(f"{self.what} {path} does not exist")
        if not stat.S_ISDIR(st.st_mode):
            fail(f"{self.what} {path} is a file, not a folder")
        if not os.access(real, os.R_OK | os.X_OK):
            fail(f"cannot read {self.what} {path}: permission denied")
        return path


def _creatable_dir(path: Path, real: Path, what: str) -> None:
    """``real`` is a writable folder, or could be made as one (its nearest existing parent is one)."""
    st = _stat(real)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            fail(f"{what} {path} is a file, not a folder")
        if not os.access(real, os.W_OK | os.X_OK):
            fail(f"{what} {path} is not writable")
        return
    parent = real.parent
    while _stat(parent) is None and parent != parent.parent:
        parent = parent.parent
    pst = _stat(parent)
    if pst is None or not stat.S_ISDIR(pst.st_mode):
        fail(f"cannot create {what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        fail(f"cannot create {what} {path}: {parent} is not writable")


@dataclass(frozen=True)
class OutputDir(Check):
    """A folder harness writes into: an existing writable folder, or one it can create. Nothing is
    created while checking."""

    what: str = "folder"

    def __call__(self, raw: Any) -> Path:
        path, real = _path(raw)
        _creatable_dir(path, real, self.what)
        return path


@dataclass(frozen=True)
class OutputFile(Check):
    """A file harness writes: a writable regular file, or a new one in a folder it can create."""

    what: str = "file"

    def __call__(self, raw: Any) -> Path:
        path, real = _path(raw)
        st = _stat(real)
        if st is not None:
            if stat.S_ISDIR(st.st_mode):
                fail(f"{self.what} {path} is a folder, not a file")
            if not stat.S_ISREG(st.st_mode) or not os.access(real, os.W_OK):
                fail(f"{self.what} {path} is not a writable regular file")
            return path
        _creatable_dir(path.parent, real.parent, f"the folder of {self.what}")
        return path
