"""A worker (`python -m chat.serve ...`) under tracemalloc that dumps a snapshot on each SIGUSR1.

    WORKER_CMD="$PWD/.venv/bin/python $PWD/bench/tracemalloc_worker.py -b 127.0.0.1 -p {port} \\
        chatsite.asgi:application" ROOMS=20 bench/peer/start.sh 1 9500
    kill -USR1 <pid>   # before and while bench/loadgen.mjs --idle holds its connections

Snapshots go to $TRACEMALLOC_DIR (default /tmp) as snapshot-<pid>-<n>.bin; compare two with
tracemalloc.Snapshot.load(...).compare_to(...).
"""

from __future__ import annotations

import itertools
import os
import runpy
import signal
import sys
import tracemalloc
from types import FrameType

tracemalloc.start(12)
_count = itertools.count()
_out = os.environ.get("TRACEMALLOC_DIR", "/tmp")


def _dump(signum: int, frame: FrameType | None) -> None:
    tracemalloc.take_snapshot().dump(f"{_out}/snapshot-{os.getpid()}-{next(_count)}.bin")


signal.signal(signal.SIGUSR1, _dump)
sys.path.insert(0, os.getcwd())  # the app root, as `python -m` would have it
sys.argv = ["chat.serve", *sys.argv[1:]]
runpy.run_module("chat.serve", run_name="__main__")
