#!/usr/bin/env bash
# usage: stop.sh -- stops exactly the workers start.sh recorded (SIGTERM, then SIGKILL after 10 s).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/worker.sh"
peer_stop "${PEER_NAME:-ours}" "$WORKER_MARKER"
