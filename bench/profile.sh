#!/usr/bin/env bash
# profile.sh [py-spy|pyinstrument|cpu] [SCENARIO] -- profile our workers under load (default: py-spy, bigroom).
#
#   py-spy        starts the workers as usual and samples every worker with py-spy (all threads, idle
#                 time excluded) during the measured window: bench/results/profile-<ts>/
#                 <port>.svg (flame graph), <port>.txt (collapsed stacks) and summary.txt
#                 (bench/profile_summary.py: where the time goes, per delivery).
#   pyinstrument  runs each worker under pyinstrument instead (WORKER_CMD), which writes
#                 <port>.pyinstrument.html and .txt when the worker stops. It only sees the main
#                 thread (the event loop), not the database thread.
#   cpu           samples nothing: every process's CPU on the host over the recorded window (our
#                 workers, the load generator, each PostgreSQL backend, Redis), % of one core, in
#                 cpu-all.txt. Saturate is decided by the whole host's two cores, not one worker's.
#
# Needs bench/setup.sh (bench/.venv with py-spy and pyinstrument). py-spy needs ptrace (root, or
# kernel.yama.ptrace_scope=0).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
TOOL=${1:-py-spy}
SC=${2:-bigroom}
# BENCH_APP_REF=<commit>: run that commit's code (see peer/worker.sh); resolved once, so a commit
# landing mid-run does not change what the later scenarios measure.
if [ -n "${BENCH_APP_REF:-}" ]; then BENCH_APP_REF=$(git -C "$HERE/.." rev-parse --verify "$BENCH_APP_REF^{commit}"); export BENCH_APP_REF; fi
[ -x .venv/bin/py-spy ] || { echo "profile: run bench/setup.sh first" >&2; exit 1; }
case $SC in # as in run.sh
  rooms)    W=2; ARGS=(--rooms 20 --clients-per-room 10 --senders-per-room 1 --rate 5 --duration 20 --warmup 3 --drain 10) ;;
  bigroom)  W=2; ARGS=(--rooms 1 --clients-per-room 500 --senders-per-room 1 --rate 20 --duration 20 --warmup 3 --drain 15) ;;
  saturate) W=2; ARGS=(--rooms 1 --clients-per-room 200 --senders-per-room 4 --rate ${RATE:-25} --duration 20 --warmup 3 --drain 10) ;;
  # The join path: the sampling starts with the connects (after the harness's warm-up connection)
  # and lasts CONNECT_S seconds. idle and storm as in the shared compare.sh.
  idle)     W=1; ARGS=(--idle --connections 2000 --rooms 20 --hold 5 --connect-concurrency 50) ;;
  storm)    W=2; ARGS=(--rooms 20 --clients-per-room 100 --senders-per-room 1 --rate 2 --duration 5 --warmup 1 --drain 10 --connect-concurrency 500) ;;
  posts)    W=1; ARGS=(--rooms 1 --clients-per-room 2 --senders-per-room 1 --rate 200 --duration 20 --warmup 3 --drain 10) ;;
  *) echo "profile: scenario rooms, bigroom, saturate (one step at 25/s), idle, storm or posts" >&2; exit 2 ;;
esac
case $SC in
  idle | storm) LEAD_S=1; RECORD_S=${CONNECT_S:-8} ;;
  *) LEAD_S=6; RECORD_S=14 ;; # after joining (a few s) and the warm-up (3 s), inside the 20 s window
esac
OUTDIR=$HERE/results/profile-$(date +%Y%m%d-%H%M%S)-$TOOL-$SC
mkdir -p "$OUTDIR"
REDIS_PID=$(redis-cli -h 127.0.0.1 -p 6379 info server | awk -F: '/^process_id/{print $2}' | tr -d '\r')
export BENCH_RUN_DIR=$HERE/run PEER_NAME=ours
eval "$(grep '^ROOM_PREFIX=' peer/peer.env)"
rooms=$(printf '%s\n' "${ARGS[@]}" | grep -A1 -x -- --rooms | tail -1)
ports=$(seq -s, 9500 $((9500 + W - 1)))

if [ "$TOOL" = pyinstrument ]; then
  # pyinstrument is imported by the worker's own Python from bench/.venv's site-packages, appended
  # after the project's packages; the report is written when daphne exits on SIGTERM.
  SITE=$(echo "$HERE"/.venv/lib/python3*/site-packages)
  export PYTHONPATH=$SITE
  . peer/worker.sh
  export WORKER_CMD="$PROJECT_PY -m pyinstrument -r pyisession -o $OUTDIR/{port}.pyisession -m daphne -b 127.0.0.1 -p {port} chatsite.asgi:application"
fi

STARTED=0
SPIES=()
cleanup() {
  for p in "${SPIES[@]}"; do kill "$p" 2>/dev/null || true; done
  [ $STARTED = 1 ] && peer/stop.sh || true
}
trap cleanup EXIT

ROOMS=$rooms ROOM_PREFIX=$ROOM_PREFIX peer/start.sh "$W" 9500
STARTED=1
PIDS=$(paste -sd, run/ours.pids)
sleep 1
node loadgen.mjs --label ours --scenario "$SC" --ports "$ports" --room-prefix "$ROOM_PREFIX" \
  --server-pids "$PIDS" --aux-pids "$REDIS_PID" --out "$OUTDIR/loadgen.jsonl" "${ARGS[@]}" > /dev/null &
LG=$!
sleep $LEAD_S
declare -A CPU0 PORT
# pid name ticks (user + system) of every process; the name is the kernel's (comm), spaces as _.
ticks() {
  for stat in /proc/[0-9]*/stat; do
    awk '{ i = index($0, " ("); j = index($0, ") "); split(substr($0, j + 2), f, " ");
           name = substr($0, i + 2, j - i - 2); gsub(/ /, "_", name); print $1, name, f[12] + f[13] }' \
      "$stat" 2> /dev/null || true
  done | sort -k1,1
}
if [ "$TOOL" = cpu ]; then
  ticks > "$OUTDIR/ticks0"
  sleep "$RECORD_S"
  ticks > "$OUTDIR/ticks1"
  join "$OUTDIR/ticks0" "$OUTDIR/ticks1" \
    | awk -v d="$RECORD_S" -v hz="$(getconf CLK_TCK)" '{ c = $5 - $3; if (c > 0) printf "%6.0f%%  %s %s\n", 100 * c / hz / d, $1, $2 }' \
    | sort -nr | head -15 > "$OUTDIR/cpu-all.txt"
fi
if [ "$TOOL" = py-spy ]; then
  for pid in $(cat run/ours.pids); do
    CPU0[$pid]=$(awk '{print $14 + $15}' /proc/"$pid"/stat)
    port=$(tr '\0' ' ' < /proc/"$pid"/cmdline | grep -oE -- '-p [0-9]+' | cut -d' ' -f2)
    PORT[$pid]=$port
    .venv/bin/py-spy record --pid "$pid" --duration $RECORD_S --rate 200 --nonblocking --threads \
      --format raw -o "$OUTDIR/$port.txt" > "$OUTDIR/$port.py-spy.log" 2>&1 &
    SPIES+=($!)
    .venv/bin/py-spy record --pid "$pid" --duration $RECORD_S --rate 100 --nonblocking \
      --format flamegraph -o "$OUTDIR/$port.svg" >> "$OUTDIR/$port.py-spy.log" 2>&1 &
    SPIES+=($!)
  done
  wait "${SPIES[@]}" || true
  SPIES=()
  for pid in $(cat run/ours.pids); do
    # pid port record_s cpu_ticks: the worker's CPU while it was sampled
    echo "$pid ${PORT[$pid]} $RECORD_S $(( $(awk '{print $14 + $15}' /proc/"$pid"/stat) - ${CPU0[$pid]} ))" >> "$OUTDIR/cpu.txt"
  done
fi
wait $LG || echo "profile: loadgen exited $?" >&2
peer/stop.sh
STARTED=0
cp run/ours-*.log "$OUTDIR/" 2>/dev/null || true
node table.mjs "$OUTDIR/loadgen.jsonl" | tee "$OUTDIR/table.txt"
if [ "$TOOL" = cpu ]; then
  echo "CPU over ${RECORD_S}s, % of one core (workers: $PIDS):"
  cat "$OUTDIR/cpu-all.txt"
elif [ "$TOOL" = py-spy ]; then
  .venv/bin/python profile_summary.py "$OUTDIR" | tee "$OUTDIR/summary.txt"
else
  for f in "$OUTDIR"/*.pyisession; do
    .venv/bin/python -m pyinstrument --load="$f" -r html -o "${f%.pyisession}.html"
    .venv/bin/python -m pyinstrument --load="$f" -r text -o "${f%.pyisession}.txt"
    echo "pyinstrument: ${f%.pyisession}.html, .txt"
  done
fi
echo "profile: $OUTDIR" >&2
