#!/usr/bin/env bash
# ab.sh [REF] [ROUNDS] -- the CPU of a post (or of fan-out), one commit beside another, under the same noise.
#
# This host's CPU time per unit of work drifts by 30 % from one minute to the next (other guests of
# the hypervisor), so two runs one after the other cannot tell a 5 % change. Here worker A runs REF
# (default HEAD, a snapshot as BENCH_APP_REF makes it) and worker B the working tree, side by side
# on ports 9500 and 9501 (swapped every other round), through the same Redis and PostgreSQL. Two rooms of two clients, one
# sender each at 200 msg/s: the loadgen places room 0's sender on A and its reader on B, room 1's
# the other way round, so each worker stores 200 posts/s and writes 200 deliveries/s. Each round
# prints each worker's CPU per post in us (its delivery, the connects and the drain included) and
# B/A; the last line is the median ratio. Needs bench/setup.sh and the services (.ci/services).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
REF=${1:-HEAD}
ROUNDS=${2:-3}
[ -d node_modules/ws ] || npm ci --no-audit --no-fund >&2
eval "$(grep '^ROOM_PREFIX=' peer/peer.env)"
export ROOM_PREFIX BENCH_RUN_DIR=$HERE/run ROOMS=2
mkdir -p run
# LOAD=posts (the default) as above; LOAD=bigroom: the shared bigroom's load on each worker, two
# rooms of 250 clients with one sender each at 20 msg/s, per 1000 deliveries instead of per post.
LOAD=${LOAD:-posts}
case $LOAD in
  posts)   RATE=200 UNIT=us/post; ARGS=(--rooms 2 --clients-per-room 2) ;;
  bigroom) RATE=20 UNIT="ms/1k deliveries"; ARGS=(--rooms 2 --clients-per-room 250) ;;
  *) echo "ab: LOAD is posts or bigroom" >&2; exit 2 ;;
esac
ARGS+=(--senders-per-room 1 --rate $RATE --duration 15 --warmup 3 --drain 10)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

stop_all() {
  PEER_NAME=ab-a peer/stop.sh 2>/dev/null || true
  PEER_NAME=ab-b peer/stop.sh 2>/dev/null || true
}
trap stop_all EXIT

ratios=()
for ((round = 1; round <= ROUNDS; round++)); do
  # Every other round the two swap ports (and the order they start in), so neither has a side.
  port_a=$((9500 + (round + 1) % 2)) port_b=$((9500 + round % 2))
  if ((round % 2)); then
    PEER_NAME=ab-a BENCH_APP_REF=$REF peer/start.sh 1 $port_a 2> /dev/null
    PEER_NAME=ab-b peer/start.sh 1 $port_b 2> /dev/null
  else
    PEER_NAME=ab-b peer/start.sh 1 $port_b 2> /dev/null
    PEER_NAME=ab-a BENCH_APP_REF=$REF peer/start.sh 1 $port_a 2> /dev/null
  fi
  a=$(cat run/ab-a.pids) b=$(cat run/ab-b.pids)
  sleep 1
  a0=$(cpu_ticks "$a") b0=$(cpu_ticks "$b")
  out=$(mktemp)
  node loadgen.mjs --label ab --scenario "ab-$LOAD" --ports 9500,9501 --room-prefix "$ROOM_PREFIX" \
    --server-pids "$a,$b" --out "$out" "${ARGS[@]}" > /dev/null 2> run/ab-loadgen.log || { cat run/ab-loadgen.log >&2; exit 1; }
  a1=$(cpu_ticks "$a") b1=$(cpu_ticks "$b")
  stop_all
  node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
    if (r.lost || r.duplicates) throw new Error(`lost ${r.lost}, duplicates ${r.duplicates}`)' "$out"
  rm -f "$out"
  # Per worker, its sender's posts of the warm-up and the window (the CPU is read around the whole
  # run): in us per post, or (bigroom) in ms per 1000 of the deliveries written here, half of each
  # room's. Each post reaches the room's other members.
  line=$(awk -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v posts=$((RATE * (3 + 15))) -v mode="$LOAD" -v hz="$(getconf CLK_TCK)" '
    BEGIN {
      units = mode == "posts" ? posts / 1e6 : posts * 249 / 1000 / 1000
      ua = a / hz / units; ub = b / hz / units
      printf (mode == "posts" ? "%.0f %.0f %.3f" : "%.2f %.2f %.3f"), ua, ub, ub / ua
    }')
  read -r ua ub ratio <<< "$line"
  echo "round $round: A ($REF) $ua $UNIT, B (working tree) $ub $UNIT, B/A $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { printf "median B/A %.3f over %d rounds\n", (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2), NR }'
