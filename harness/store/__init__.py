"""The results store: ``results/<run-id>/`` folders, atomic artefacts and a SQLite index for resume."""

from harness.store._artefacts import (
    ARTEFACT_VERSION,
    TaskEval,
    TaskSelection,
    list_trajectories,
    read_candidates,
    read_correct,
    read_instance_report,
    read_matrix,
    read_rankings,
    task_key,
    write_candidates,
    write_matrix,
    write_rankings,
)
from harness.store._atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from harness.store._index import Index
from harness.store._outcomes import (
    StageTotals,
    TaskOutcome,
    append_outcomes,
    read_outcomes,
    read_stages,
    write_stages,
)
from harness.store._run import (
    ConfigDefaults,
    Manifest,
    Run,
    check_run_id,
    config_changes,
    default_results_dir,
    new_run_id,
)

__all__ = [
    "ARTEFACT_VERSION",
    "ConfigDefaults",
    "Index",
    "Manifest",
    "Run",
    "StageTotals",
    "TaskEval",
    "TaskOutcome",
    "TaskSelection",
    "append_outcomes",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_run_id",
    "config_changes",
    "default_results_dir",
    "list_trajectories",
    "new_run_id",
    "read_candidates",
    "read_correct",
    "read_instance_report",
    "read_matrix",
    "read_outcomes",
    "read_rankings",
    "read_stages",
    "task_key",
    "write_candidates",
    "write_matrix",
    "write_rankings",
    "write_stages",
]
