#!/usr/bin/env bash
# cpu_split.sh [RATE] [DURATION] -- one saturate step (1 room x 200 clients, 4 senders at RATE msg/s
# each, default 100 for DURATION s, default 6) against our app, with every process's CPU on the host
# over the measured window: our two workers, the load generator, each PostgreSQL backend, Redis.
#
# Saturate is decided by the whole host: the load generator, PostgreSQL and our workers share its
# two cores, and a step fails when their sum passes them. This says who takes how much of them.
# Output: the top processes (% of one core) and bench/loadgen.mjs's table line for the step.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
RATE=${1:-100}
DUR=${2:-6}
WARMUP=1
if [ -n "${BENCH_APP_REF:-}" ]; then BENCH_APP_REF=$(git -C "$HERE/.." rev-parse --verify "$BENCH_APP_REF^{commit}"); export BENCH_APP_REF; fi
[ -d node_modules/ws ] || npm ci --no-audit --no-fund >&2
export BENCH_RUN_DIR=$HERE/run PEER_NAME=ours
eval "$(grep '^ROOM_PREFIX=' peer/peer.env)"
OUTDIR=$HERE/results/cpu-split-$(date +%Y%m%d-%H%M%S)-$RATE
mkdir -p "$OUTDIR" run

STARTED=0
cleanup() { [ $STARTED = 1 ] && peer/stop.sh > /dev/null || true; }
trap cleanup EXIT

# pid name ticks(user+system) for every process; the name is the kernel's (comm), which may hold spaces.
ticks() {
  for stat in /proc/[0-9]*/stat; do
    awk '{ i = index($0, " ("); j = index($0, ") "); split(substr($0, j + 2), f, " ");
           name = substr($0, i + 2, j - i - 2); gsub(/ /, "_", name); print $1, name, f[12] + f[13] }' \
      "$stat" 2> /dev/null || true
  done | sort -k1,1
}

ROOMS=1 ROOM_PREFIX=$ROOM_PREFIX peer/start.sh 2 9500 > "$OUTDIR/start.log" 2>&1
STARTED=1
PIDS=$(paste -sd, run/ours.pids)
sleep 1
node loadgen.mjs --label ours --scenario saturate --ports 9500,9501 --room-prefix "$ROOM_PREFIX" \
  --server-pids "$PIDS" --out "$OUTDIR/loadgen.jsonl" --rooms 1 --clients-per-room 200 \
  --senders-per-room 4 --rate "$RATE" --duration "$DUR" --warmup $WARMUP --drain 10 > "$OUTDIR/loadgen.log" 2>&1 &
LG=$!
# The window starts when the load generator says its step began (after the joins), plus the warm-up.
for _ in $(seq 300); do grep -q "warm-up" "$OUTDIR/loadgen.log" && break; sleep 0.1; done
sleep $WARMUP
ticks > "$OUTDIR/ticks0"
sleep "$DUR"
ticks > "$OUTDIR/ticks1"
wait $LG || echo "cpu_split: loadgen exited $?" >&2
HZ=$(getconf CLK_TCK)
join "$OUTDIR/ticks0" "$OUTDIR/ticks1" \
  | awk -v d="$DUR" -v hz="$HZ" '{ c = $5 - $3; if (c > 0) printf "%6.0f%%  %s %s\n", 100 * c / hz / d, $1, $2 }' \
  | sort -nr | head -15 | tee "$OUTDIR/cpu.txt"
node table.mjs "$OUTDIR/loadgen.jsonl" | tee "$OUTDIR/table.txt"
echo "cpu_split: $OUTDIR (workers: $PIDS)" >&2
