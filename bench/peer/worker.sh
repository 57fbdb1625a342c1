# worker.sh -- sourced by start.sh and stop.sh: how one worker of our app is launched, and its
# environment. Everything that decides "our app as deployed" for the benchmark lives here.
#
# WORKER_CMD is the whole worker command; "{port}" is replaced per worker (lib/peer.sh). Override it
# (and WORKER_MARKER, a string of its /proc/PID/cmdline that stop.sh checks before signalling) to
# benchmark another launcher.
PEER_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROJECT_ROOT=$(cd "$PEER_HERE/../.." && pwd)
PROJECT_PY=$PROJECT_ROOT/.venv/bin/python
# The code the workers run: the working tree, or with BENCH_APP_REF=<commit> a snapshot of that commit
# (git archive into bench/run/app-<sha>/, made by start.sh), so that edits in progress in the working
# tree do not leak into a measurement. The project's .venv serves both.
APP_ROOT=$PROJECT_ROOT
if [ -n "${BENCH_APP_REF:-}" ]; then
  APP_SHA=$(git -C "$PROJECT_ROOT" rev-parse --verify "$BENCH_APP_REF^{commit}")
  APP_ROOT=$PROJECT_ROOT/bench/run/app-${APP_SHA:0:12}
fi
WORKER_CMD=${WORKER_CMD:-"$PROJECT_PY -m chat.serve -b 127.0.0.1 -p {port} chatsite.asgi:application"}
WORKER_MARKER=${WORKER_MARKER:-chatsite.asgi:application}

# The shared harness's peer helpers (peer_start, peer_stop), for start.sh and stop.sh.
BENCH_DIR=${BENCH_DIR:-$(cd "$PROJECT_ROOT/../shared/bench" && pwd)}
# Pidfile and worker logs: the harness says where; on our own they stay in bench/run/.
export BENCH_RUN_DIR=${BENCH_RUN_DIR:-$PROJECT_ROOT/bench/run}
. "$BENCH_DIR/lib/peer.sh"

# Never inherited from the caller's shell (a developer's DATABASE_URL must not receive bench data);
# BENCH_DATABASE_URL / BENCH_REDIS_URL override them on purpose.
export DJANGO_SETTINGS_MODULE=chatsite.settings
export DJANGO_SECRET_KEY=bench-only-not-a-secret-7f3a9c
export DJANGO_DEBUG=0
export DJANGO_ALLOWED_HOSTS=127.0.0.1,localhost
export DJANGO_LOG_LEVEL=INFO
export DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/chat_bench}
# Database 8 is the benchmark's; only keys under CHAT_LAYER_PREFIX are ever deleted (prepare.py).
export REDIS_URL=${BENCH_REDIS_URL:-redis://127.0.0.1:6379/8}
export CHAT_LAYER_PREFIX=bench
# Documented deviation (docs/performance.md): the default 20 messages / 10 s per connection would
# refuse the bench senders (up to 100 msg/s each).
export CHAT_RATE_LIMIT=100000/1
# Likewise the hard cap on raw inbound frames per connection (default 200 / 10 s): saturate's
# senders post up to 200 frames/s each, which no person types.
export CHAT_INBOUND_FRAME_LIMIT=1000000/1
export PYTHONUNBUFFERED=1
# As deployed, static files are collected (prepare.py); into bench scratch, not the project's folder.
export DJANGO_STATIC_ROOT=$PROJECT_ROOT/bench/run/static
