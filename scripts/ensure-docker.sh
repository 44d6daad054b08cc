#!/usr/bin/env bash
# Make sure a Docker engine answers. Idempotent.
# When none answers and we are root: install Debian's docker.io (if missing), start dockerd in the
# background with its log in $HARNESS_DOCKERD_LOG, and wait until `docker info` answers.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive  # apt-get never waits on a question nobody sees (output goes to /dev/null)
LOG="${HARNESS_DOCKERD_LOG:-/var/log/harness/dockerd.log}"

if docker info >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "error: no Docker engine answers and this user is not root, so harness cannot start one." >&2
  echo "       Start Docker (e.g. 'sudo systemctl start docker') or add this user to the 'docker' group," >&2
  echo "       or set DOCKER_HOST to an engine you can reach; then rerun." >&2
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "==> installing Debian's docker.io (engine) ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq docker.io >/dev/null
fi

mkdir -p "$(dirname "$LOG")"
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "==> starting dockerd (log: $LOG) ..." >&2
  # In its own session: started as a job of this script it shared the caller's process group, so a
  # Ctrl-C (or `timeout`, or a runner killing the group) during the rest of main.sh/test.sh stopped the
  # engine too (dockerd handles SIGINT, even when started with it ignored).
  setsid nohup dockerd >"$LOG" 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then echo "==> Docker engine is up" >&2; exit 0; fi
  sleep 1
done
echo "error: dockerd did not answer within 60 s; see its log at $LOG" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
