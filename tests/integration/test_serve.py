"""The deployed launcher (python -m chat.serve) really runs daphne on uvloop, listening for bursts."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

from chat import serve
from tests.servers import ROOT, site

pytestmark = pytest.mark.database_agnostic

PROBE = """
import runpy, sys
sys.argv = ["chat.serve", "--help"]
try:
    runpy.run_module("chat.serve", run_name="__main__")
except SystemExit:
    pass
import daphne.server
print(type(daphne.server.twisted_loop).__module__)
"""


def test_launcher_puts_daphne_on_uvloop() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "uvloop"


# More than Twisted's own listen backlog (50) and fewer than ours (chat.serve.LISTEN_BACKLOG).
QUEUED = 200


def _completed_handshakes(port: int, count: int, wait: float) -> int:
    """Open `count` connections at once; how many the kernel completes within `wait` seconds."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
        pending = set(socks)
        deadline = time.monotonic() + wait
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], max(0.0, deadline - time.monotonic()))
            pending -= {s for s in writable if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0}
        return count - len(pending)
    finally:
        for sock in socks:
            sock.close()


def test_a_worker_queues_a_reconnect_burst_instead_of_dropping_handshakes() -> None:
    """With the worker unable to accept (stopped), the kernel holds a burst in the listen queue.

    At Twisted's backlog of 50 the 52nd handshake is dropped and its client waits out TCP's 1 s
    retransmit: a restarted worker's clients, all coming back at once, trickle in."""
    with site(redis_url=None) as deployment:
        worker = deployment.add_worker()
        assert worker.proc is not None
        os.kill(worker.proc.pid, signal.SIGSTOP)
        try:
            completed = _completed_handshakes(worker.port, QUEUED, wait=0.5)
        finally:
            os.kill(worker.proc.pid, signal.SIGCONT)
        assert completed == QUEUED


def test_every_listening_endpoint_gets_the_backlog_unless_it_names_one() -> None:
    assert serve.with_backlog(
        ["tcp:port=1:interface=127.0.0.1", "unix:/tmp/s", "fd:fileno=3", "tcp:port=2:backlog=7"], 9
    ) == ["tcp:port=1:interface=127.0.0.1:backlog=9", "unix:/tmp/s:backlog=9", "fd:fileno=3", "tcp:port=2:backlog=7"]


def test_the_backlog_comes_from_the_environment_and_a_bad_one_stops_the_start() -> None:
    assert serve.listen_backlog({}) == serve.LISTEN_BACKLOG
    assert serve.listen_backlog({serve.BACKLOG_ENV: "64"}) == 64
    for bad in ("0", "-1", "many"):
        with pytest.raises(SystemExit, match=serve.BACKLOG_ENV):
            serve.listen_backlog({serve.BACKLOG_ENV: bad})
