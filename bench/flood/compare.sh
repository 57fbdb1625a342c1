#!/usr/bin/env bash
# The history flood (issue 8, finding 3) on a commit ("before") and on this working tree ("after"),
# alternating, then a table of medians.
#
#   bench/flood/compare.sh [COMMIT] [flood.py options...]
#
# COMMIT defaults to HEAD (the committed code, before uncommitted fixes). It is checked out as a
# detached git worktree in $FLOOD_WORKTREE (/tmp/flood-before), removed at the end; /work/main's
# own files are not touched. RUNS=3 (pairs), SIDES="before after" (e.g. SIDES=before for one side).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
MAIN=$(cd "$HERE/../.." && pwd)
PY=${FLOOD_PYTHON:-$MAIN/.venv/bin/python}
WT=${FLOOD_WORKTREE:-/tmp/flood-before}
RUNS=${RUNS:-3}
SIDES=${SIDES:-before after}

COMMIT=HEAD
if [[ $# -gt 0 && $1 != -* ]]; then
    COMMIT=$1
    shift
fi
COMMIT=$(git -C "$MAIN" rev-parse --verify "$COMMIT^{commit}")

mkdir -p "$HERE/results"
SESSION="$HERE/results/$(date +%Y%m%d-%H%M%S)-compare.jsonl"

is_worktree() { git -C "$MAIN" worktree list --porcelain | grep -qxF "worktree $WT"; }

cleanup() {
    if is_worktree; then
        git -C "$MAIN" worktree remove --force "$WT" || echo "could not remove the worktree $WT" >&2
    fi
}

if [[ " $SIDES " == *" before "* ]]; then
    if is_worktree; then
        git -C "$MAIN" worktree remove --force "$WT"
    elif [[ -e $WT ]]; then
        echo "$WT exists and is not a worktree of $MAIN: move it away or set FLOOD_WORKTREE" >&2
        exit 1
    fi
    trap cleanup EXIT
    git -C "$MAIN" worktree add --detach "$WT" "$COMMIT" >&2
fi

echo "before = $(git -C "$MAIN" rev-parse --short "$COMMIT"), after = working tree of $MAIN" \
    "($(git -C "$MAIN" --no-optional-locks status --porcelain --untracked-files=no | wc -l) files changed)" >&2
echo "results: $SESSION" >&2

for ((i = 1; i <= RUNS; i++)); do
    for side in $SIDES; do
        case $side in
            before) tree=$WT ;;
            after) tree=$MAIN ;;
            *) echo "unknown side $side" >&2; exit 2 ;;
        esac
        echo "--- run $i/$RUNS: $side ($tree)" >&2
        # A failed run still prints its JSON line (with "error"); the table lists it.
        "$PY" "$HERE/flood.py" --tree "$tree" --label "$side" "$@" >>"$SESSION" || true
    done
done

echo >&2
"$PY" "$HERE/table.py" "$SESSION" | tee "${SESSION%.jsonl}.table.txt"
