"""Run daphne on uvloop: `python -m chat.serve [daphne's own arguments]`.

Daphne makes its event loop when `daphne.server` is first imported (Twisted's asyncio reactor
runs on it), so the loop policy has to be in place before that import.
"""

from __future__ import annotations

import asyncio
import gc
import sys

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


def main() -> None:
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface
    from django.core.exceptions import ImproperlyConfigured
    from twisted.internet import reactor  # daphne.cli installed the asyncio reactor

    gc.set_threshold(*GC_THRESHOLDS)
    # The reactor runs once daphne has imported the application.
    reactor.callWhenRunning(gc.freeze)

    try:
        CommandLineInterface.entrypoint()
    except ImproperlyConfigured as exc:
        # One line, not a traceback: the operator has a setting to fix, not a bug to report.
        sys.exit(f"chat.serve: not starting: {exc}")


if __name__ == "__main__":
    main()
