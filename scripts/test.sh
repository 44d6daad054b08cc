#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole test suite: unit, docker, vllm and browser tiers.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
VENV="${HARNESS_VENV:-.venv}"
"$VENV/bin/ruff" check harness tests benchmarks
"$VENV/bin/mypy"
exec "$VENV/bin/pytest" "$@"
