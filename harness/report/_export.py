"""Parquet export of per-task x per-(run, system) outcomes, one row per seed, for DuckDB or pandas.

Columns: ``run_id, kind, system, task_id, seed, resolved, oracle, random_pick, n_candidates, selected,
cost_usd, input_tokens, output_tokens, time_s, partial``. Example::

    duckdb -c "SELECT system, avg(resolved) FROM 'cmp.parquet' GROUP BY system"
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness._extras import require
from harness.report._load import RunData

_FIELDS = (
    "system", "task_id", "seed", "resolved", "oracle", "random_pick", "n_candidates", "selected",
    "cost_usd", "input_tokens", "output_tokens", "time_s",
)  # fmt: skip


def outcomes_columns(runs: list[RunData]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {name: [] for name in ("run_id", "kind", *_FIELDS, "partial")}
    for run in runs:
        for o in sorted(run.outcomes, key=lambda o: o.key):
            cols["run_id"].append(run.run_id)
            cols["kind"].append(run.kind)
            for name in _FIELDS:
                cols[name].append(getattr(o, name))
            cols["partial"].append(run.partial)
    return cols


def write_parquet(runs: list[RunData], path: str | Path) -> Path:
    """Write the outcomes of ``runs`` to ``path`` (atomically: a temporary file, then rename)."""
    pa = require("pyarrow", "report")
    pq = require("pyarrow.parquet", "report")
    schema = pa.schema([
        ("run_id", pa.string()), ("kind", pa.string()), ("system", pa.string()), ("task_id", pa.string()),
        ("seed", pa.int64()), ("resolved", pa.float64()), ("oracle", pa.bool_()),
        ("random_pick", pa.float64()), ("n_candidates", pa.int64()), ("selected", pa.string()),
        ("cost_usd", pa.float64()), ("input_tokens", pa.int64()), ("output_tokens", pa.int64()),
        ("time_s", pa.float64()), ("partial", pa.bool_()),
    ])  # fmt: skip
    table = pa.table(outcomes_columns(runs), schema=schema)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(target)
    return target
