"""SWE-bench's own environment specs (``swebench==4.1.0``, extra ``swebench``), as a dependency.

``swebench.harness.constants.MAP_REPO_VERSION_TO_SPECS[repo][version]`` gives ``python``,
``packages``, ``pip_packages``, ``pre_install``, ``install``, ``test_cmd`` and ``eval_commands``;
:func:`swebench_environment` turns them into an :class:`EnvironmentSpec` for the ``pip`` builder (no
conda). ``packages: requirements.txt`` is read by swebench's own code (``get_requirements_by_commit``,
``clean_requirements``) at ``environment_setup_commit``, from the local repository when the task has
one (its HTTP fetches of raw.githubusercontent.com are answered by ``git show``); conda package lists
become pip requirements where pip has the package.

swebench is imported here only, inside the functions (about 2.5 s: its ``__init__`` pulls in much of
it); ``import harness`` never imports it.
"""

from __future__ import annotations

import posixpath
import re
import threading
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from harness._extras import require
from harness.errors import DataError
from harness.tasks._pybase import SUITES
from harness.tasks._repo import EnvironmentSpec, RepoTask
from harness.tasks._sources import unreachable, with_repos

SWEBENCH_VERSION = "4.1.0"
_PATCH_LOCK = threading.Lock()
_LOCAL_CACHE: dict[tuple[str, ...], str] = {}
CONDA_ONLY = frozenset({"mkl", "mkl-service", "mkl_fft", "mkl_random", "blas", "libblas", "cudatoolkit",
                        "libgcc", "libgcc-ng", "libstdcxx-ng", "_libgcc_mutex", "openblas", "pkg-config",
                        "compilers", "cxx-compiler", "c-compiler", "gxx_linux-64", "gcc_linux-64"})  # fmt: skip
"""Conda packages with no pip package of that name: an environment asking for one is unsupported."""


def _constants() -> Any:
    return require("swebench.harness.constants", "swebench")


def swebench_spec(repo: str, version: str) -> dict[str, Any] | None:
    """SWE-bench's spec of ``repo`` at ``version`` (a copy), or ``None`` when it has none."""
    specs = _constants().MAP_REPO_VERSION_TO_SPECS.get(repo, {})
    spec = specs.get(version)
    return dict(spec) if spec is not None else None


def uses_swebench_spec(task: RepoTask) -> bool:
    """Whether ``task`` takes its environment from SWE-bench's specs: a record that names none itself,
    of a repository swebench has specs for (a local task without one keeps the default)."""
    if "environment" in task.model_fields_set:
        return False
    return task.repo in _constants().MAP_REPO_VERSION_TO_SPECS


def swebench_environment(task: RepoTask, *, eval_network: bool = False) -> EnvironmentSpec:
    """The environment of a SWE-bench record from swebench's specs; ``unsupported`` set (and nothing
    else) when this machine cannot give it: a Python it has not, a package only conda has, no spec."""
    source = f"swebench=={SWEBENCH_VERSION} {task.repo} {task.version}"
    spec = swebench_spec(task.repo, task.version)
    if spec is None:
        return _unsupported(
            f"no SWE-bench spec for {task.repo} version {task.version!r}", source, eval_network
        )
    if not spec.get("python"):  # swebench 4.1.0 also holds specs of JavaScript, Go, C ... repositories
        return _unsupported(f"{task.repo} {task.version} is not a Python environment", source, eval_network)
    if not spec.get("test_cmd"):
        return _unsupported(
            f"SWE-bench's spec of {task.repo} {task.version} has no test_cmd", source, eval_network
        )
    python = str(spec["python"])
    if python not in SUITES:
        return _unsupported(f"needs Python {python}", source, eval_network)
    packages = spec.get("packages", "")
    if packages == "requirements.txt":
        requirements = requirements_lines(task)
    elif packages == "environment.yml":
        requirements = environment_yml_to_pip(environment_yml(task))
    else:
        requirements = conda_to_pip(str(packages).split())
    conda_only = [r for r in requirements if r.startswith("conda-only:")]
    if conda_only:
        names = ", ".join(r.split(":", 1)[1] for r in conda_only)
        return _unsupported(f"needs a package only conda has ({names})", source, eval_network)
    install = [spec["install"]] if spec.get("install") else []
    repo_install = _constants().MAP_REPO_TO_INSTALL.get(task.repo)
    return EnvironmentSpec(
        builder="pip",
        python=python,
        requirements=tuple(requirements),
        pip_packages=tuple(spec.get("pip_packages") or ()),
        pre_install=tuple(([repo_install] if repo_install else []) + list(spec.get("pre_install") or ())),
        install=tuple(install),
        test_cmd=_test_cmd(spec["test_cmd"]),
        eval_commands=tuple(spec.get("eval_commands") or ()),
        eval_network=eval_network,
        build_network=True,
        spec_source=source,
    )


def _unsupported(reason: str, source: str, eval_network: bool) -> EnvironmentSpec:
    return EnvironmentSpec(
        builder="pip", unsupported=f"unsupported: {reason}", spec_source=source, eval_network=eval_network
    )


def _test_cmd(cmd: object) -> str:
    # A few specs give a list of commands (run in order, the last one on the directives).
    return " && ".join(cmd) if isinstance(cmd, list) else str(cmd)


def swebench_test_directives(task: RepoTask) -> list[str]:
    """The test files (or modules) SWE-bench runs for ``task``: ``get_test_directives`` on its test
    patch, so files with non-test extensions (``.toml``, ``.txt`` ...) are dropped."""
    python = require("swebench.harness.test_spec.python", "swebench")
    return list(python.get_test_directives({"repo": task.repo, "test_patch": task.test_patch}))


class _Response:
    def __init__(self, status_code: int, text: str) -> None:
        self.status_code, self.text = status_code, text


class _LocalRaw:
    """Stands in for ``requests`` inside swebench: ``get(<SWE_BENCH_URL_RAW>/<owner>/<name>/<commit>/<path>)``
    answered by ``git show <commit>:<path>`` in a local repository (200, or 404 when absent)."""

    def __init__(self, git_dir: str, raw_url: str) -> None:
        self.git_dir, self.raw_url = git_dir, raw_url.rstrip("/") + "/"

    def get(self, url: str, headers: object = None, **_kw: object) -> _Response:
        if not url.startswith(self.raw_url):
            return _Response(404, "")
        parts = url[len(self.raw_url) :].split("/", 3)
        if len(parts) < 4 or not re.fullmatch(r"[0-9a-f]{7,64}", parts[2]):
            return _Response(404, "")
        path = posixpath.normpath(parts[3])
        if path.startswith(("../", "/")) or path == "..":
            return _Response(404, "")
        from git.cmd import Git  # GitPython, imported on first use

        where = "--git-dir" if _is_bare(self.git_dir) else "-C"
        status, out, _err = Git().execute(
            ["git", where, self.git_dir, "show", f"{parts[2]}:{path}"],
            with_extended_output=True,
            with_exceptions=False,
            stdout_as_string=False,
            strip_newline_in_stdout=False,
        )
        if status != 0:
            return _Response(404, "")
        return _Response(200, bytes(out).decode("utf-8", "replace"))


def _is_bare(git_dir: str) -> bool:
    return (Path(git_dir) / "HEAD").is_file() and not (Path(git_dir) / ".git").exists()


def _call_with_local_raw(task: RepoTask, func_name: str, *args: str) -> str:
    """Call swebench's fetching function ``func_name`` with its HTTP reads served from the task's
    local repository (or from GitHub, by swebench itself, when the task has none)."""
    python: Any = require("swebench.harness.test_spec.python", "swebench")
    func = getattr(python, func_name)
    commit = task.environment_setup_commit or task.base_commit
    try:
        if task.source is None or task.source.kind != "path":
            return str(func(task.repo, commit, *args))
        key = (task.source.location, func_name, task.repo, commit, *args)
        if key in _LOCAL_CACHE:
            return _LOCAL_CACHE[key]
        local = _LocalRaw(task.source.location, _constants().SWE_BENCH_URL_RAW)
        # swebench reads through its module's global ``requests``: swap it for the duration of the call.
        with _PATCH_LOCK:
            saved = python.requests
            python.requests = local
            try:
                _LOCAL_CACHE[key] = str(func.__wrapped__(task.repo, commit, *args))
            finally:
                python.requests = saved
        return _LOCAL_CACHE[key]
    except ValueError as exc:  # swebench: no requirements file at any of its paths
        raise DataError(f"{task.instance_id}: {exc}") from exc
    except OSError as exc:  # requests' errors are OSErrors: GitHub could not be reached
        raise DataError(
            f"{task.instance_id}: could not read {task.repo}'s requirements at {commit[:12]} from GitHub "
            f"({type(exc).__name__}); give a local copy with --repos DIR (or $HARNESS_SWEBENCH_REPOS)"
        ) from exc


def requirements_lines(task: RepoTask) -> list[str]:
    """The requirements SWE-bench installs for ``task`` (``-r`` includes resolved, ``-e .`` and
    comments dropped, yanked packages replaced), one requirement a line."""
    python = require("swebench.harness.test_spec.python", "swebench")
    text = python.clean_requirements(_call_with_local_raw(task, "get_requirements_by_commit"))
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def environment_yml(task: RepoTask) -> str:
    python = require("swebench.harness.test_spec.python", "swebench")
    return str(
        python.clean_environment_yml(_call_with_local_raw(task, "get_environment_yml_by_commit", "testbed"))
    )


def conda_to_pip(specs: Sequence[str]) -> list[str]:
    """Conda package specs as pip requirements (``name=1.2`` -> ``name==1.2.*``, ``name==1.2`` kept);
    a package only conda has becomes ``conda-only:<name>``; ``python`` itself is dropped."""
    out: list[str] = []
    for raw in specs:
        spec = raw.split("::", 1)[-1].strip()
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(==|=|>=|<=|>|<|!=)?\s*([^\s=]*)", spec)
        if m is None:
            out.append(spec)
            continue
        name, op, ver = m.group(1), m.group(2), m.group(3)
        if name.lower() == "python":
            continue
        if name.lower() in CONDA_ONLY:
            out.append(f"conda-only:{name}")
        elif op == "=" and ver:
            out.append(f"{name}=={ver}" if ver.count(".") >= 2 or ver.endswith("*") else f"{name}=={ver}.*")
        else:
            out.append(f"{name}{op or ''}{ver}")
    return out


def environment_yml_to_pip(text: str) -> list[str]:
    """An environment.yml's dependencies as pip requirements: conda ones through :func:`conda_to_pip`,
    the ``pip:`` section as it is."""
    yaml = require("yaml", "yaml")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise DataError(f"environment.yml is not valid YAML ({exc})") from exc
    conda: list[str] = []
    pip: list[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            pip.extend(str(x) for x in dep.get("pip") or [])
        elif str(dep).split("=")[0].strip() != "pip":
            conda.append(str(dep))
    return conda_to_pip(conda) + pip


def prepare_tasks(
    tasks: Sequence[RepoTask],
    *,
    repos: str | Path | None = None,
    eval_network: bool = False,
    only: Collection[str] | None = None,
) -> list[RepoTask]:
    """``tasks`` ready for images and evaluation: repositories from ``repos`` (or
    ``$HARNESS_SWEBENCH_REPOS``), SWE-bench records given swebench's environment (``unsupported`` set
    where this machine cannot build it), and ``eval_network`` on every task's environment. Tasks not in
    ``only`` (when given) keep their environment: reading a spec's requirements may need the network."""
    out: list[RepoTask] = []
    for task in with_repos(tasks, repos):
        if only is None or task.instance_id in only:
            if uses_swebench_spec(task):
                try:
                    env = swebench_environment(task, eval_network=eval_network)
                except DataError as exc:  # this instance fails when built, not the whole run now
                    env = EnvironmentSpec(builder="pip", error=str(exc), eval_network=eval_network)
                if not env.unsupported and not env.error and task.repo_source().kind == "url":
                    # Before its environment is built (minutes), not when its instance is.
                    why = unreachable(task.repo_source().location)
                    if why:
                        env = env.model_copy(update={"error": f"{task.instance_id}: {why}"})
            else:
                env = task.environment.model_copy(update={"eval_network": eval_network})
            task = task.model_copy(update={"environment": env})
        out.append(task)
    return out
