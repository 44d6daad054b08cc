"""The packages of ``harness`` form layers, and dependencies point down (docs/ARCHITECTURE.md).

Every module is parsed with :mod:`ast`; every ``import`` counts, wherever it stands: at module level,
inside a function (a local import that dodges a cycle is the thing this test exists to catch) and under
``if TYPE_CHECKING:`` (a type named in a signature is a dependency of the design, even when the
interpreter never loads it). A package may import only packages of a lower layer; packages of one layer
do not import each other. That also rules out cycles between packages, which are checked on their own
so that a failure names the loop.
"""

from __future__ import annotations

import ast
import gc
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import harness

# Top to bottom. A top-level module (``harness/errors.py``) is a package of its own here; ``harness`` is
# the package's ``__init__`` (the version).
LAYERS: list[tuple[str, frozenset[str]]] = [
    ("entry point", frozenset({"cli"})),
    ("web viewer", frozenset({"viewer"})),
    ("reports: read and render any run", frozenset({"report"})),
    ("stages over stages", frozenset({"ensemble"})),
    ("stages that drive models", frozenset({"pipeline", "search"})),
    ("stages", frozenset({"selection", "evaluation"})),
    ("where sandboxes run: a Ray cluster", frozenset({"cluster"})),
    ("tasks and their images", frozenset({"tasks"})),
    ("engines", frozenset({"sandbox", "models", "trajectory"})),
    ("run folders and their artefacts", frozenset({"store"})),
    (
        "shared records, value checks, optional extras, logging, progress",
        frozenset({"records", "_checks", "_extras", "_log", "_progress"}),
    ),
    ("foundation: the error tree, the version", frozenset({"errors", "harness"})),
]

RANK = {pkg: len(LAYERS) - i for i, (_, pkgs) in enumerate(LAYERS) for pkg in pkgs}
ROOT = Path(harness.__file__).resolve().parent


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    where: str  # "harness/x/y.py:12 (in a function) imports harness.z"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "harness"


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_init: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: resolve against the importing module's package
        base = module.split(".") if is_init else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    if target == "harness":  # from harness import errors: the names may be modules
        return [f"harness.{alias.name}" for alias in node.names]
    return [target]


def _imports(tree: ast.AST, nested: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node, and whether it stands inside a function or under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, nested
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            yield from _imports(node, True)
        else:
            yield from _imports(node, nested)


def _parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse`` with the cyclic garbage collector paused. Python 3.11's AST converter keeps one
    recursion counter per interpreter (CPython gh-106905): a collection inside it runs finalizers, and a
    finalizer that fails (an aiohttp session left open by another test, its ResourceWarning an error
    here) reaches pytest's unraisable hook, whose traceback formatting parses again and leaves that
    counter off: ``SystemError: AST constructor recursion depth mismatch``. Between parses such garbage
    is collected as usual, where a nested parse is harmless."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, filename=filename)
    finally:
        if was_enabled:
            gc.enable()


@cache
def import_edges() -> tuple[Edge, ...]:
    """Every import of one harness package by another, with where it stands."""
    edges = []
    for path in sorted(ROOT.rglob("*.py")):
        module = _module_name(path)
        tree = _parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, nested in _imports(tree):
            for target in _imported(node, module, path.name == "__init__.py"):
                if target != "harness" and not target.startswith("harness."):
                    continue
                src, dst = _package(module), _package(target)
                if src != dst:
                    how = " (in a function or TYPE_CHECKING)" if nested else ""
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}{how} imports {target}"
                    edges.append(Edge(src, dst, where))
    return tuple(edges)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One loop per strongly connected group of more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_package_has_a_layer() -> None:
    packages = {_package(_module_name(p)) for p in ROOT.rglob("*.py")}
    assert packages - RANK.keys() == set(), "add the new package to LAYERS (and docs/ARCHITECTURE.md)"


def test_no_package_imports_one_above_it_or_beside_it() -> None:
    wrong = [
        f"{e.src} (layer {RANK[e.src]}) -> {e.dst} (layer {RANK[e.dst]}): {e.where}"
        for e in import_edges()
        if e.src in RANK and e.dst in RANK and RANK[e.dst] >= RANK[e.src]
    ]
    assert wrong == [], "imports that point up or sideways:\n" + "\n".join(wrong)


def test_no_cycles_between_packages() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for e in import_edges():
        graph[e.src].add(e.dst)
    assert _cycles(graph) == []


def test_the_checker_sees_local_and_type_checking_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from harness.cli import x\n"
        "def f():\n    from ..report import _load\n"
    )
    found = [(n, nested) for n, nested in _imports(_parse(source)) if n.module != "typing"]
    assert [nested for _, nested in found] == [True, True]
    imports = [n for n, _ in found]
    assert _imported(imports[1], "harness.selection.run", False) == ["harness.report"]
    assert _imported(imports[1], "harness.selection", True) == ["harness.report"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_architecture_doc_shows_the_same_layers() -> None:
    doc = (ROOT.parent / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = doc.split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[2] for line in section.splitlines() if line.startswith("| ") and "`" in line]
    assert [frozenset(re.findall(r"`([^`]+)`", cell)) for cell in rows] == [pkgs for _, pkgs in LAYERS]
