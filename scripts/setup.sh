#!/usr/bin/env bash
# Idempotent set-up: venv + package, Docker engine, sandbox images. Fast when already done.
#   HARNESS_VENV   where the venv lives (default: .venv in the project)
#   HARNESS_EXTRAS pip extras to install (default: dev)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HARNESS_VENV:-.venv}"
EXTRAS="${HARNESS_EXTRAS:-dev}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating venv in $VENV" >&2
  python3 -m venv "$VENV"
fi
# Reinstall only when pyproject.toml or the extras changed.
stamp="$VENV/.harness-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)-$EXTRAS-$(pwd)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "==> installing harness[$EXTRAS] into $VENV" >&2
  "$VENV/bin/pip" install -q -e ".[$EXTRAS]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  echo "$want" >"$stamp"
fi

bash scripts/ensure-docker.sh
"$VENV/bin/harness" sandbox build
