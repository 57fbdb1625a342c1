#!/usr/bin/env bash
# usage: start.sh W BASEPORT -- our app as deployed: W daphne workers on BASEPORT.., PostgreSQL, Redis.
#
# Called by the shared compare.sh (which sets BENCH_DIR, BENCH_RUN_DIR, PEER_NAME, ROOM_PREFIX, ROOMS)
# and by bench/run.sh. Prepares the database (create, migrate, rooms <prefix>r0..r(ROOMS-1) and
# <prefix>warm0..warm(W-1), emptied) and the Redis namespace, then starts the workers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/worker.sh"
W=${1:?usage: start.sh W BASEPORT}; BASE=${2:?usage: start.sh W BASEPORT}
PEER_NAME=${PEER_NAME:-ours}
if [ -z "${ROOM_PREFIX:-}" ]; then
  eval "$(grep '^ROOM_PREFIX=' "$HERE/peer.env")"
fi
if [ ! -x "$PROJECT_PY" ]; then # a fresh checkout: the app's runtime requirements, as deployed
  echo "$PEER_NAME: creating $PROJECT_ROOT/.venv from requirements.txt (once)" >&2
  "${PYTHON:-python3}" -m venv "$PROJECT_ROOT/.venv"
  "$PROJECT_PY" -m pip install -q -r "$PROJECT_ROOT/requirements.txt"
fi

if [ "$APP_ROOT" != "$PROJECT_ROOT" ] && [ ! -f "$APP_ROOT/manage.py" ]; then
  mkdir -p "$APP_ROOT.tmp"
  git -C "$PROJECT_ROOT" archive "$APP_SHA" | tar -x -C "$APP_ROOT.tmp"
  mv "$APP_ROOT.tmp" "$APP_ROOT"
fi
echo "$PEER_NAME: app code from ${APP_SHA:+commit $APP_SHA in }$APP_ROOT" >&2
cd "$APP_ROOT"
"$PROJECT_PY" "$HERE/prepare.py" --prefix "$ROOM_PREFIX" --rooms "${ROOMS:-20}" --warm "$W"
read -r -a cmd <<< "$WORKER_CMD"
peer_start "$PEER_NAME" "$WORKER_MARKER" "$W" "$BASE" "${cmd[@]}"
