"""The ORM from async code: a small pool of threads instead of Channels' one database thread.

database_sync_to_async runs every call of a worker on one thread: each post and each join waits
for all the others' round trips. Here calls run on a bounded pool (one database connection per
thread, kept for DJANGO_CONN_MAX_AGE), so a worker holds at most THREADS (+1 for the admin).
The room's row lock (chat.services.message_create) still hands out seqs one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

# SQLite lets one writer in at a time whatever the threads (and its in-memory test database fails
# instead of waiting), so more threads would only contend for its lock.
THREADS = 1 if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else 4

P = ParamSpec("P")
R = TypeVar("R")

_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="chat-db")


def _with_upkeep(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # Inside the call's own context: Django's connections are context-local, and
    # database_sync_to_async's upkeep runs outside the context copy that a pooled call uses.
    close_old_connections()
    try:
        return func(*args, **kwargs)
    finally:
        close_old_connections()


_run = sync_to_async(_with_upkeep, thread_sensitive=False, executor=_pool)


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call a sync ORM function on the pool and return its result."""
    return await _run(func, *args, **kwargs)
