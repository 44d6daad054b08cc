"""The CodeMonkeys-style pipeline for repository tasks (``harness run``; see ``docs/pipeline.md``).

Context (relevance and ranking), the testing and editing loops of N trajectories in their own
sandboxes, voting and B4 over the candidates, the selection loop, ensembles and hidden-test
evaluation. Every model-facing part takes a :class:`harness.tasks.PublicRepoTask`.
"""

from __future__ import annotations

from harness.pipeline._config import (
    Limits,
    ModelConfig,
    PipelineConfig,
    StageModels,
    load_config,
    parse_config,
)
from harness.pipeline._main import load_models, run_pipeline, select_tasks
from harness.pipeline._records import EvalRecord, SelectionRecord
from harness.pipeline._trajectory import TrajectoryRecord
from harness.pipeline.context import (
    ContextResult,
    FileVerdict,
    build_context,
    fit_budget,
    is_test_path,
    parse_ranking,
    parse_relevance,
    source_files,
)
from harness.pipeline.edits import (
    EditBlock,
    EditFormatError,
    EditOutcome,
    apply_edits,
    parse_edits,
    to_diff,
)
from harness.pipeline.ensemble import load_external, merge_candidates, our_candidates, write_predictions
from harness.pipeline.loops import EditingResult, Roots, TestingResult, editing_loop, testing_loop
from harness.pipeline.run import Deps, Pipeline, StageModelSet, docker_deps
from harness.pipeline.selection_agent import SelectionResult, select_patch
from harness.pipeline.voting import PatchMatrix, Vote, build_patch_matrix, dedup, rank_patches, vote

__all__ = [
    "ContextResult",
    "Deps",
    "EditBlock",
    "EditFormatError",
    "EditOutcome",
    "EditingResult",
    "EvalRecord",
    "FileVerdict",
    "Limits",
    "ModelConfig",
    "PatchMatrix",
    "Pipeline",
    "PipelineConfig",
    "Roots",
    "SelectionRecord",
    "SelectionResult",
    "StageModelSet",
    "StageModels",
    "TestingResult",
    "TrajectoryRecord",
    "Vote",
    "apply_edits",
    "build_context",
    "build_patch_matrix",
    "dedup",
    "docker_deps",
    "editing_loop",
    "fit_budget",
    "is_test_path",
    "load_config",
    "load_external",
    "load_models",
    "merge_candidates",
    "our_candidates",
    "parse_config",
    "parse_edits",
    "parse_ranking",
    "parse_relevance",
    "rank_patches",
    "run_pipeline",
    "select_patch",
    "select_tasks",
    "source_files",
    "testing_loop",
    "to_diff",
    "vote",
    "write_predictions",
]
