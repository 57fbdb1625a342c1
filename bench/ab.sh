#!/usr/bin/env bash
# ab.sh [REF] [ROUNDS] -- the CPU of a post (or of fan-out): one commit beside another, same noise.
#
# This host's CPU time per unit of work drifts by 30 % from one minute to the next (other guests of
# the hypervisor), so two runs one after the other cannot tell a 5 % change. Here worker A runs REF
# (default HEAD, a snapshot as BENCH_APP_REF makes it) and worker B the working tree, side by side
# on ports 9500 and 9501 (swapped every other round), through the same Redis and PostgreSQL, and
# the loadgen reads both workers' CPU over its measured window.
#
# LOAD=posts (the default): two rooms of two clients, one sender each at 200 msg/s. The loadgen
# places room 0's sender on one worker and its reader on the other, room 1's the other way round,
# so each worker stores 200 posts/s and writes 200 deliveries/s: it prints us of CPU per post.
# LOAD=bigroom: the shared bigroom's load on each worker, two rooms of 250 clients with one sender
# each at 20 msg/s: ms of CPU per 1000 deliveries. Each round prints both and B/A; the last line is
# the median ratio. Needs bench/setup.sh and the services (.ci/services).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE"
REF=${1:-HEAD}
ROUNDS=${2:-3}
[ -d node_modules/ws ] || npm ci --no-audit --no-fund >&2
eval "$(grep '^ROOM_PREFIX=' peer/peer.env)"
export ROOM_PREFIX BENCH_RUN_DIR=$HERE/run ROOMS=2
mkdir -p run
LOAD=${LOAD:-posts}
case $LOAD in
  posts)   RATE=200 UNIT=us/post; ARGS=(--rooms 2 --clients-per-room 2) ;;
  bigroom) RATE=20 UNIT="ms/1k deliveries"; ARGS=(--rooms 2 --clients-per-room 250) ;;
  *) echo "ab: LOAD is posts or bigroom" >&2; exit 2 ;;
esac
# Posts without a client_id, as the shared harness sends them (peer.env): no ack per post.
ARGS+=(--senders-per-room 1 --rate $RATE --duration 15 --warmup 3 --drain 10 --acks=0)

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
  out=$(mktemp)
  # The loadgen reads both workers' CPU over its measured window: A as the server, B as its "aux".
  node loadgen.mjs --label ab --scenario "ab-$LOAD" --ports 9500,9501 --room-prefix "$ROOM_PREFIX" \
    --server-pids "$a" --aux-pids "$b" --out "$out" "${ARGS[@]}" > /dev/null 2> run/ab-loadgen.log ||
    { cat run/ab-loadgen.log >&2; exit 1; }
  stop_all
  # Each worker writes half of the window's deliveries. Its CPU in us per delivery is us per post
  # under LOAD=posts (one delivery each) and ms per 1000 deliveries under LOAD=bigroom.
  line=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop());
    if (r.lost || r.duplicates) throw new Error(`lost ${r.lost}, duplicates ${r.duplicates}`);
    const [ua, ub] = [r.server.cpu_s, r.redis.cpu_s].map((s) => (s * 1e6) / (r.expected / 2));
    const digits = process.argv[2] === "posts" ? 0 : 2;
    console.log(ua.toFixed(digits), ub.toFixed(digits), (ub / ua).toFixed(3));' "$out" "$LOAD")
  rm -f "$out"
  read -r ua ub ratio <<< "$line"
  echo "round $round: A ($REF) $ua $UNIT, B (working tree) $ub $UNIT, B/A $ratio"
  ratios+=("$ratio")
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ r[NR] = $1 } END { printf "median B/A %.3f over %d rounds\n", (NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2), NR }'
