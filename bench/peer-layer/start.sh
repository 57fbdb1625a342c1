#!/usr/bin/env bash
# usage: start.sh W BASEPORT -- our app (bench/peer) on another Channels layer: the peer's name says
# which, "ours-<layer>" (ours-pubsub: channels_redis.pubsub, ours-core: channels_redis.core), so
# that one run of compare.sh shows what chat.layers buys over the stock layers.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export CHAT_CHANNEL_LAYER=${PEER_NAME#ours-}
exec "$HERE/../peer/start.sh" "$@"
