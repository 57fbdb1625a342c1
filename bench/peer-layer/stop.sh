#!/usr/bin/env bash
# usage: stop.sh -- as bench/peer/stop.sh, for the ours-<layer> peer.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
exec "$HERE/../peer/stop.sh" "$@"
