"""The results store: ``results/<run-id>/`` folders, atomic artefacts and a SQLite index for resume."""

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
    "ConfigDefaults",
    "Index",
    "Manifest",
    "Run",
    "StageTotals",
    "TaskOutcome",
    "append_outcomes",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_run_id",
    "config_changes",
    "default_results_dir",
    "new_run_id",
    "read_outcomes",
    "read_stages",
    "write_stages",
]
