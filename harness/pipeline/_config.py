"""The config of ``harness run``: suite, models per stage, N, loop limits, selector, budget.

Validated once, at the edge (:func:`load_config`), with ``extra="forbid"`` everywhere, so a misspelt
key is an error that names the valid ones.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harness._checks import ClusterAddress, ImageNamespace  # the same checks as --cluster, --registry
from harness._extras import require
from harness.errors import ConfigError

STAGES = ("relevance", "ranking", "testing", "editing", "selection")
PLACEMENT_KEYS = ("cluster", "registry", "retries")


class ModelConfig(BaseModel):
    """A model: a ``harness.models.load`` spec plus its options."""

    model_config = ConfigDict(extra="forbid")

    spec: str
    """``anthropic:claude-sonnet-4-5``, ``openai:gpt-4o-mini``, ``scripted:rules.json``, ``scripted``."""
    policy: str | None = None
    """For ``scripted``: a policy callable as ``FILE.py:NAME`` or ``module:NAME``."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Options of ``harness.models.load`` (``price``, ``max_concurrency``, ``base_url``, ``cache``...)."""

    def load_policy(self, base: Path) -> Callable[..., Any] | None:
        """The policy callable, imported from a file (relative to ``base``) or a module."""
        if self.policy is None:
            return None
        where, sep, name = self.policy.rpartition(":")
        if not sep or not where or not name:
            raise ConfigError(f"policy {self.policy!r}: write FILE.py:NAME or module:NAME")
        if where.endswith(".py"):
            path = Path(where) if Path(where).is_absolute() else base / where
            spec = importlib.util.spec_from_file_location(f"harness_policy_{path.stem}", path)
            if spec is None or spec.loader is None or not path.is_file():
                raise ConfigError(f"policy file {path} not found")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            try:
                module = importlib.import_module(where)
            except ImportError as exc:
                raise ConfigError(f"policy module {where!r} cannot be imported: {exc}") from exc
        fn = getattr(module, name, None)
        if not callable(fn):
            raise ConfigError(f"policy {self.policy!r}: {name} is not a callable of {where}")
        return fn  # type: ignore[no-any-return]


class StageModels(BaseModel):
    """``default`` serves every stage without its own model."""

    model_config = ConfigDict(extra="forbid")

    default: ModelConfig
    relevance: ModelConfig | None = None
    ranking: ModelConfig | None = None
    testing: ModelConfig | None = None
    editing: ModelConfig | None = None
    selection: ModelConfig | None = None

    def for_stage(self, stage: str) -> ModelConfig:
        got: ModelConfig | None = getattr(self, stage)
        return got or self.default


class Limits(BaseModel):
    """Separate caps on model calls and sandboxes."""

    model_config = ConfigDict(extra="forbid")

    trajectories: int = Field(default=2, ge=1)
    """Trajectories (each with its own sandbox) running at once, over all tasks."""
    model_calls: int = Field(default=8, ge=1)
    """Relevance calls in flight at once per task (the model's own ``max_concurrency`` caps the rest)."""
    vote_sandboxes: int = Field(default=2, ge=1)
    """Sandboxes at once when building a task's patch matrix."""
    tasks: int = Field(default=1, ge=1)
    """Tasks in progress at once."""


class PipelineConfig(BaseModel):
    """Everything ``harness run`` needs; see ``docs/pipeline.md``."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    """A folder of local tasks (``tasks/local``) or a SWE-bench JSON/JSONL/parquet file; relative
    paths are resolved from the config file's folder."""
    tasks: list[str] | None = None
    """Instance ids to run (default: every task of the suite)."""
    repos: str | None = None
    """A folder of local git repositories for a SWE-bench suite's records (``DIR/name.git`` or
    ``DIR/owner__name.git``; relative to the config file's folder), as ``--repos``; None:
    ``$HARNESS_SWEBENCH_REPOS``, else GitHub."""
    models: StageModels
    n_trajectories: int = Field(default=4, ge=1)
    """Trajectories per task (CodeMonkeys: 10)."""
    first_alone: bool = True
    """Run a task's first trajectory before the others, so they reuse the provider's prompt cache."""
    testing_turns: int = Field(default=4, ge=1)
    editing_turns: int = Field(default=6, ge=1)
    selection_turns: int = Field(default=6, ge=1)
    n_rankings: int = Field(default=1, ge=1)
    context_tokens: int = Field(default=32_000, ge=1)
    """Token budget of the files shown to the loops (CodeMonkeys: 128k)."""
    max_file_chars: int = Field(default=100_000, ge=1)
    """Files larger than this are skipped by relevance."""
    source_suffixes: list[str] = Field(default_factory=lambda: [".py"])
    temperature: float = Field(default=0.5, ge=0.0)
    """Sampling temperature of the testing and editing loops (> 0 so that trajectories differ)."""
    selector: Literal["agent", "votes", "b4"] = "agent"
    """``agent``: the selection loop (falls back to votes); ``votes``/``b4``: the ranking's winner."""
    test_timeout: float = Field(default=60.0, gt=0)
    """Seconds per reproduction-test run."""
    budget_usd: float | None = Field(default=None, gt=0)
    """Dollar limit over all model calls of this process (a resumed run counts anew)."""
    limits: Limits = Field(default_factory=Limits)
    evaluate: bool = True
    """Judge the chosen patch with the hidden tests."""
    evaluate_all: bool = True
    """Judge every distinct candidate too (oracle coverage and a random pick need it)."""
    base_image: str | None = None
    """Base of the task images (default: the sandbox's Python image)."""
    sandbox_memory: str = "1g"
    ensemble: list[str] = Field(default_factory=list)
    """Other systems' SWE-bench predictions files (``instance_id, model_name_or_path, model_patch``;
    JSONL, or JSON as ``harness.evaluation.load_predictions`` reads it). Their non-empty patches join
    our trajectories' as candidates of voting, B4 and selection, keeping their provenance. Relative
    paths are resolved from the config file's folder by :func:`load_config` (from the working
    directory when the config is built in code)."""
    cluster: str | None = None
    """Run every sandbox of the pipeline on the nodes of a Ray cluster: ``auto`` or ``ray://HOST:PORT``
    (``--cluster`` overrides it; see ``docs/cluster.md``). Model calls, budgets, the response cache and
    the run folder stay on the driver. Not part of the run's identity: a run started here resumes on a
    cluster and the other way round."""
    registry: str | None = None
    """With ``cluster``: ``HOST:PORT[/NAMESPACE]`` of a Docker registry. The driver builds each
    instance image and pushes it there, the nodes pull it (``--registry`` overrides it); without one,
    each node builds the image itself from the same recipe."""
    retries: int = Field(default=2, ge=0, le=10)
    """How many more times a unit (a trajectory, a task's selection, a candidate's evaluation) is tried
    after its sandbox failed (a lost node, a dead engine); the count is in the summary's ``retries``."""
    cache_dir: str | None = None
    """Folder of the patch matrices' row cache by content hash (the pass-matrix engine's SQLite
    store), so voting over the same patches and tests again starts no sandbox. Default:
    ``$HARNESS_CACHE_DIR/pipeline`` when that variable is set, else ``cache/`` in the run's folder. A
    relative path is resolved like ``ensemble``."""

    @model_validator(mode="after")
    def _check(self) -> PipelineConfig:
        if self.tasks is not None and not self.tasks:
            raise ValueError("tasks is an empty list: omit it to run every task")
        if len(set(self.ensemble)) != len(self.ensemble):
            raise ValueError("ensemble names a predictions file twice")
        return self

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, value: str | None) -> str | None:
        return None if value is None else ClusterAddress()(value)

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str | None) -> str | None:
        return None if value is None else ImageNamespace()(value)

    def identity(self) -> dict[str, Any]:
        """The config as the run's manifest keeps it, ``cluster``, ``registry`` and ``retries`` at their
        defaults: where a unit runs and how often it may be tried again do not change the outcomes, so a resume
        may change them (a run started locally resumes on a cluster, and the other way round)."""
        defaults = {k: type(self).model_fields[k].default for k in PLACEMENT_KEYS}
        return self.model_copy(update=defaults).model_dump(mode="json")

    def resolve_paths(self, base: Path) -> PipelineConfig:
        """A copy whose ``ensemble`` and ``cache_dir`` paths are absolute, relative ones from ``base``."""
        paths = [str(Path(e) if Path(e).is_absolute() else (base / e).resolve()) for e in self.ensemble]
        update: dict[str, Any] = {"ensemble": paths}
        if self.cache_dir is not None and not Path(self.cache_dir).is_absolute():
            update["cache_dir"] = str((base / self.cache_dir).resolve())
        return self.model_copy(update=update)

    def vote_cache(self, run_dir: Path) -> Path:
        """Where the patch-matrix rows are cached (see ``cache_dir``)."""
        if self.cache_dir is not None:
            return Path(self.cache_dir)
        env = os.environ.get("HARNESS_CACHE_DIR")
        return Path(env) / "pipeline" if env else run_dir / "cache"


def load_config(path: str | Path) -> tuple[PipelineConfig, Path]:
    """Read and validate a YAML or JSON config; returns it and the folder relative paths start from."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {p}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"cannot read config {p}: not UTF-8 text ({exc})") from exc
    data: Any
    is_yaml = p.suffix in (".yaml", ".yml")
    # Outside the try: a missing pyyaml is MissingExtraError (install harness[yaml]), not "not valid YAML".
    yaml = require("yaml", "yaml") if is_yaml else None
    try:
        data = yaml.safe_load(text) if yaml is not None else json.loads(text)
    except Exception as exc:  # yaml's and json's parse errors alike
        raise ConfigError(f"{p}: not valid {'YAML' if is_yaml else 'JSON'}: {exc}") from exc
    base = p.resolve().parent
    return parse_config(data, str(p)).resolve_paths(base), base


def parse_config(data: Any, source: str = "config") -> PipelineConfig:
    """Validate ``data``; :class:`ConfigError` lists every problem with its key path."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the config must be a mapping (suite, models, ...)")
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in exc.errors())
        fields = ", ".join(PipelineConfig.model_fields)
        raise ConfigError(f"{source}: {problems} (top-level keys: {fields})") from exc
