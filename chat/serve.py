"""Run daphne on uvloop, listening with a backlog for bursts: `python -m chat.serve [daphne's own arguments]`.

Daphne makes its event loop when `daphne.server` is first imported (Twisted's asyncio reactor
runs on it), so the loop policy has to be in place before that import.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import Mapping
from typing import Any

import uvloop

# The database thread gives up the GIL at every round trip to PostgreSQL and, while the event loop
# is busy fanning out, gets it back only when the loop's thread is made to yield: every 5 ms by
# default. With several round trips per stored message that capped a worker near 50 posts/s.
SWITCH_INTERVAL_SECONDS = 0.001
# A worker holds hundreds of long-lived objects per connection, and a full collection walks them
# all: during 2,000 joins Python ran 6 of them, 80-110 ms each, every connection waiting meanwhile.
# What start-up made (Django, the app) is frozen out of the walks once the server runs, and a full
# collection comes after 100 of the middle generation's instead of 10 (docs/performance.md, "Joins").
GC_THRESHOLDS = (700, 10, 100)
# Connections the kernel completes for a worker before it accepts them. Twisted listens with 50:
# when a restarted worker's clients all come back at once (500 in flight in the bench's storm), the
# queue overflows, the kernel drops the handshake and the client waits out TCP's 1 s retransmit.
# Node and nginx listen with 511; the kernel caps this at net.core.somaxconn.
LISTEN_BACKLOG = 1024
BACKLOG_ENV = "CHAT_LISTEN_BACKLOG"
# Endpoint types whose Twisted parser takes a backlog (an adopted fd was listened on by its owner).
_LISTENING_TYPES = ("tcp:", "tcp6:", "unix:", "ssl:")


def listen_backlog(environ: Mapping[str, str] = os.environ) -> int:
    """CHAT_LISTEN_BACKLOG, else LISTEN_BACKLOG; anything but a positive whole number stops the start."""
    raw = environ.get(BACKLOG_ENV, "")
    if not raw:
        return LISTEN_BACKLOG
    if not raw.isdigit() or int(raw) < 1:
        sys.exit(f"chat.serve: not starting: {BACKLOG_ENV} must be a positive whole number, not {raw!r}")
    return int(raw)


def with_backlog(endpoints: list[str], backlog: int) -> list[str]:
    """Daphne's endpoint strings, each listening one given a backlog unless it names its own."""
    return [
        f"{e}:backlog={backlog}" if e.startswith(_LISTENING_TYPES) and ":backlog=" not in e else e for e in endpoints
    ]


def command_line(backlog: int) -> Any:
    """Daphne's command line, its server listening with `backlog` (through its `server_class`)."""
    from daphne.cli import CommandLineInterface
    from daphne.server import Server

    class ChatServer(Server):  # type: ignore[misc]
        def __init__(self, application: Any, endpoints: list[str] | None = None, **kwargs: Any) -> None:
            super().__init__(application, endpoints=with_backlog(endpoints or [], backlog), **kwargs)

    class ChatCommandLine(CommandLineInterface):  # type: ignore[misc]
        server_class = ChatServer

    return ChatCommandLine


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    cli = command_line(listen_backlog())
    from django.core.exceptions import ImproperlyConfigured
    from twisted.internet import reactor  # daphne.cli installed the asyncio reactor

    gc.set_threshold(*GC_THRESHOLDS)
    # The reactor runs once daphne has imported the application.
    reactor.callWhenRunning(gc.freeze)

    try:
        cli.entrypoint()
    except ImproperlyConfigured as exc:
        # One line, not a traceback: the operator has a setting to fix, not a bug to report.
        sys.exit(f"chat.serve: not starting: {exc}")


if __name__ == "__main__":
    main()
