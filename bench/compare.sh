#!/usr/bin/env bash
# compare.sh [SCENARIO ...|all]  -- the shared side-by-side benchmark, with this app as peer "ours".
#
# Runs ../shared/bench/compare.sh with EXTRA_PEERS="ours:raw:9500:<this repo>/bench/peer" REF=ours.
# That harness writes venv/, node_modules/, results/ and run/ next to itself, and ../shared is
# read-only for us, so by default it runs from a mirror in bench/run/harness/: a folder of symlinks
# to the shared files (nothing is copied or changed) plus its own writable venv/, node_modules/,
# results/ and run/. HARNESS=direct runs the shared folder in place (where it is writable and set up).
#
# Environment: PEERS, OUT as for the shared compare.sh; SHARED_BENCH (default ../shared/bench);
# BENCH_APP_REF (below); OUR_LAYERS="pubsub core" adds our app on channels-redis's layers as the
# peers ours-pubsub (port 9700) and ours-core (9800), next to "ours" on chat.layers.
# REPEATS=N (default 1) runs the whole list of scenarios N times in a row, all into one results file
# (the same OUT for every repeat), so that report.py can quote medians of same-run repeats.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=$(cd "${SHARED_BENCH:-$ROOT/../shared/bench}" && pwd)
# BENCH_APP_REF=<commit>: run that commit's code (see peer/worker.sh); resolved once, so a commit
# landing mid-run does not change what the later scenarios measure.
if [ -n "${BENCH_APP_REF:-}" ]; then BENCH_APP_REF=$(git -C "$HERE/.." rev-parse --verify "$BENCH_APP_REF^{commit}"); export BENCH_APP_REF; fi
if [ -z "${EXTRA_PEERS:-}" ]; then
  EXTRA_PEERS="ours:raw:9500:$HERE/peer"
  for layer in ${OUR_LAYERS:-}; do
    case $layer in
      pubsub) EXTRA_PEERS="$EXTRA_PEERS ours-pubsub:raw:9700:$HERE/peer-layer" ;;
      core) EXTRA_PEERS="$EXTRA_PEERS ours-core:raw:9800:$HERE/peer-layer" ;;
      *) echo "compare: OUR_LAYERS takes pubsub and core, not $layer" >&2; exit 2 ;;
    esac
  done
fi
export EXTRA_PEERS
export REF=${REF:-ours}
REPEATS=${REPEATS:-1}
case $REPEATS in
  '' | *[!0-9]*) echo "compare: REPEATS takes a whole number >= 1, not '$REPEATS'" >&2; exit 2 ;;
esac
REPEATS=$((10#$REPEATS))
[ "$REPEATS" -ge 1 ] || { echo "compare: REPEATS takes a whole number >= 1, not 0" >&2; exit 2; }

if [ "${HARNESS:-mirror}" = direct ]; then
  HARNESS_DIR=$SHARED
else
  MIRROR=$HERE/run/harness
  mkdir -p "$MIRROR"
  for f in "$SHARED"/* "$SHARED"/.gitignore; do
    name=$(basename "$f")
    case $name in venv | node_modules | results | run) continue ;; esac
    ln -sfn "$f" "$MIRROR/$name"
  done
  if [ ! -x "$MIRROR/venv/bin/daphne" ] || [ ! -d "$MIRROR/node_modules/ws" ]; then
    echo "compare: setting up the harness mirror in $MIRROR (once)" >&2
    "$MIRROR/setup.sh"
  fi

  # Node resolves a symlinked script to its real path and would look for node_modules in ../shared;
  # keep the mirror's path (only after setup.sh: npm itself is a symlinked script that this breaks).
  # Python would write __pycache__ into ../shared's tutorial peer; don't.
  export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--preserve-symlinks --preserve-symlinks-main"
  export PYTHONPYCACHEPREFIX=$MIRROR/pycache
  HARNESS_DIR=$MIRROR
fi

# WAIT_QUIET=S: first wait up to S seconds for the host to be < 30 % busy over 5 s (the 2 cores are
# shared with whatever else runs here; the harness records host_cpu_busy_pct but cannot undo it).
host_busy() { # percent busy over 5 s, from /proc/stat
  local a b
  a=($(head -1 /proc/stat)); sleep 5; b=($(head -1 /proc/stat))
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( 100 - 100 * idle / (total > 0 ? total : 1) ))
}
if [ -n "${WAIT_QUIET:-}" ]; then
  deadline=$((SECONDS + WAIT_QUIET))
  while busy=$(host_busy) && [ "$busy" -ge 30 ] && [ $SECONDS -lt $deadline ]; do
    echo "compare: host ${busy}% busy; waiting for it to quieten" >&2
  done
  echo "compare: host ${busy}% busy at start" >&2
fi

# One file for every repeat. The harness runs in its own folder, so a relative OUT is relative to it
# (as it always was); this default is the name the harness itself would have chosen.
export OUT=${OUT:-results/$(date +%Y%m%d-%H%M%S).jsonl}
case $OUT in /*) RESULTS=$OUT ;; *) RESULTS=$HARNESS_DIR/$OUT ;; esac
for ((rep = 1; rep <= REPEATS; rep++)); do
  [ "$REPEATS" -gt 1 ] && echo "compare: repeat $rep of $REPEATS -> $RESULTS" >&2
  rc=0
  "$HARNESS_DIR/compare.sh" "$@" || rc=$?
  if [ $rc -ne 0 ]; then
    [ -s "$RESULTS" ] && echo "compare: stopped in repeat $rep of $REPEATS (exit $rc); lines so far in $RESULTS" >&2
    exit $rc
  fi
done

show=${RESULTS#"$ROOT"/}
echo "" >&2
echo "compare: $REPEATS repeat(s) of '$*' in $RESULTS (app: ${BENCH_APP_REF:-the working tree})" >&2
echo "compare: the tables (medians over the repeats) and the plot, from $ROOT:" >&2
echo "  bench/.venv/bin/python bench/report.py $show --ref $REF --vs socketio" >&2
echo "  bench/.venv/bin/python bench/plot.py $show -o docs/p99-vs-load.png" >&2
