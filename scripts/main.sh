#!/usr/bin/env bash
# The main job: set everything up (idempotent, fast when done), then a small real selection experiment:
# CodeGen-Mono-16B's 100 solutions and 100 test generations per HumanEval task (CodeT's released pools),
# every selector, pass@1 under CodeT's and B4's protocols. Ends by printing the table.
#   bash scripts/main.sh            # the first 20 tasks (well under a minute once set up)
#   bash scripts/main.sh --full     # all 164 tasks
#   extra arguments go to `harness select`, e.g. --strategies codet,b4 --mode faithful --json
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HARNESS_VENV:-.venv}"

limit=(--limit-tasks 20)
args=()
for arg in "$@"; do
  if [ "$arg" = "--full" ]; then limit=(); else args+=("$arg"); fi
done

bash scripts/setup.sh

# CodeT's pools: ../shared/data/codet (or $HARNESS_DATA) when present, else downloaded once to the cache.
data="$("$VENV/bin/python" - <<'PY'
from harness.tasks import default_data_dir, download_codet_data

root = default_data_dir()
if not (root / "codet" / "HumanEval_codegen16B_temp0.8_topp0.95_num100_max300_test_case.jsonl").is_file():
    root = download_codet_data()
print(root)
PY
)"
export HARNESS_DATA="$data"
pools="$data/codet/HumanEval_codegen16B_temp0.8_topp0.95_num100_max300"

echo "==> harness select on HumanEval (${limit[*]:-all 164 tasks}), pools from $data/codet" >&2
exec "$VENV/bin/harness" select --suite humaneval \
  --pool-solutions "${pools}_code_solution.jsonl" --pool-tests "${pools}_test_case.jsonl" \
  "${limit[@]}" "${args[@]}"
