"""Resolve requirements against an index of available releases."""

from depresolve.errors import ResolutionError
from depresolve.graph import install_order
from depresolve.version import parse_version, satisfies


def _best(index, name, constraints):
    releases = index.get(name)
    if releases is None:
        raise ResolutionError(f"unknown package {name!r}")
    ok = [v for v in releases if all(satisfies(v, c) for c in constraints)]
    if not ok:
        raise ResolutionError(f"no version of {name} satisfies {', '.join(constraints)}")
    return max(ok, key=parse_version)


def resolve(index, requirements):
    """index: {name: {version: {dep: constraint}}}; requirements: {name: constraint}.

    Returns [(name, version)] in installation order. Greedy: the newest version that satisfies every
    constraint seen so far; constraints are collected until nothing changes.
    """
    constraints = {name: [c] for name, c in requirements.items()}
    chosen = {}
    while True:
        new = {name: _best(index, name, cs) for name, cs in constraints.items()}
        if new == chosen:
            break
        chosen = new
        constraints = {name: [c] for name, c in requirements.items()}
        for name, version in chosen.items():
            for dep, c in index[name][version].items():
                constraints.setdefault(dep, []).append(c)
    deps = {name: list(index[name][version]) for name, version in chosen.items()}
    return [(name, chosen[name]) for name in install_order(deps)]
