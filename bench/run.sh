#!/usr/bin/env bash
# run.sh [SCENARIO ...|all] -- our own load generator (bench/loadgen.mjs) against our app, started as
# deployed by bench/peer/start.sh; the same scenarios as the shared compare.sh, plus our protocol's
# checks (acks, per-receiver seq continuity). Results: bench/results/<ts>.jsonl and .table.txt.
#
# Environment: OUT (append to this file), BASEPORT (9500), WORKERS (override W of every scenario),
# LOADGEN_ARGS (more loadgen.mjs options, e.g. "--settle-max 60"), BENCH_APP_REF (see peer/worker.sh).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ -z "${OUT:-}" ] || OUT=$(realpath -m "$OUT")
cd "$HERE"
ALL="rooms bigroom saturate idle storm"  # and posts, run only when named
[ $# -gt 0 ] || { echo "usage: $0 SCENARIO... | all   (scenarios: $ALL)" >&2; exit 2; }
SCENARIOS=()
for a in "$@"; do [ "$a" = all ] && SCENARIOS+=($ALL) || SCENARIOS+=("$a"); done

# BENCH_APP_REF=<commit>: run that commit's code (see peer/worker.sh); resolved once, so a commit
# landing mid-run does not change what the later scenarios measure.
if [ -n "${BENCH_APP_REF:-}" ]; then BENCH_APP_REF=$(git -C "$HERE/.." rev-parse --verify "$BENCH_APP_REF^{commit}"); export BENCH_APP_REF; fi
[ -d node_modules/ws ] || npm ci --no-audit --no-fund >&2
REDIS_PID=$(redis-cli -h 127.0.0.1 -p 6379 info server | awk -F: '/^process_id/{print $2}' | tr -d '\r')
[ -n "$REDIS_PID" ] || { echo "run: redis on 127.0.0.1:6379 not answering" >&2; exit 1; }
mkdir -p results run
TS=$(date +%Y%m%d-%H%M%S)
OUT=${OUT:-$HERE/results/$TS.jsonl}
BASE=${BASEPORT:-9500}
export BENCH_RUN_DIR=$HERE/run PEER_NAME=ours
eval "$(grep '^ROOM_PREFIX=' peer/peer.env)"
export ROOM_PREFIX

RUNNING=0
trap '[ $RUNNING = 1 ] && peer/stop.sh' EXIT

for sc in "${SCENARIOS[@]}"; do
  case $sc in # as in ../shared/bench/compare.sh
    rooms)    W=2; ARGS=(--rooms 20 --clients-per-room 10 --senders-per-room 1 --rate 5 --duration 20 --warmup 3 --drain 10) ;;
    bigroom)  W=2; ARGS=(--rooms 1 --clients-per-room 500 --senders-per-room 1 --rate 20 --duration 20 --warmup 3 --drain 15) ;;
    saturate) W=2; ARGS=(--rooms 1 --clients-per-room 200 --senders-per-room 4 --rate 5,10,25,50,100,150,200 --duration 6 --warmup 1 --drain 10 --stop-on-fail) ;;
    idle)     W=1; ARGS=(--idle --connections 2000 --rooms 20 --hold 5 --connect-concurrency 50) ;;
    storm)    W=2; ARGS=(--rooms 20 --clients-per-room 100 --senders-per-room 1 --rate 2 --duration 5 --warmup 1 --drain 10 --connect-concurrency 500) ;;
    # Not in the shared harness: the cost of a post itself. One worker, one sender at 200 msg/s and
    # one reader, so "CPU ms/1k" is the server's CPU per post in us (its one delivery included).
    posts)    W=1; ARGS=(--rooms 1 --clients-per-room 2 --senders-per-room 1 --rate 200 --duration 15 --warmup 3 --drain 10) ;;
    *) echo "unknown scenario: $sc" >&2; exit 2 ;;
  esac
  W=${WORKERS:-$W}
  ports=$(seq -s, "$BASE" $((BASE + W - 1)))
  rooms=$(printf '%s\n' "${ARGS[@]}" | grep -A1 -x -- --rooms | tail -1)
  echo "=== $sc (W=$W, ports $ports)" >&2
  rm -f run/ours-*.log
  ROOMS=$rooms peer/start.sh "$W" "$BASE"
  RUNNING=1
  sleep 1
  node loadgen.mjs --label ours --scenario "$sc" --ports "$ports" --room-prefix "$ROOM_PREFIX" \
    --server-pids "$(paste -sd, run/ours.pids)" --aux-pids "$REDIS_PID" --out "$OUT" "${ARGS[@]}" ${LOADGEN_ARGS:-} > /dev/null || echo "run: loadgen failed for $sc" >&2
  peer/stop.sh
  RUNNING=0
  mkdir -p "${OUT%.jsonl}.logs"
  for f in run/ours-*.log; do cp "$f" "${OUT%.jsonl}.logs/$sc-$(basename "$f")"; done
  issues=$(cat run/ours-*.log | grep -E "Traceback|ERROR|WARNING|Error:|over capacity|Exception" | sed -E 's/^[0-9-]+ [0-9:,]+ //' | sort | uniq -c | sort -rn | head -8 || true)
  [ -z "$issues" ] || { echo "[$sc] worker log lines (count, text):"; echo "$issues"; } | tee -a "${OUT%.jsonl}.notes.txt" >&2
done
node table.mjs "$OUT" | tee "${OUT%.jsonl}.table.txt"
echo "run: results in $OUT" >&2
