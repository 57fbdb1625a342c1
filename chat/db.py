"""The ORM from async code: a small pool of threads instead of Channels' one database thread.

database_sync_to_async runs every call of a worker on one thread: each post and each join waits
for all the others' round trips. Here calls run on a bounded pool (one database connection per
thread, kept for DJANGO_CONN_MAX_AGE), so a worker holds at most THREADS (+1 for the admin).
The room's row lock (chat.services.message_create) still hands out seqs one at a time. On
PostgreSQL a post itself skips the threads: its one statement runs on the event loop (chat.asyncdb).

A connection the server dropped (a restart, a failover, pg_terminate_backend, a pooler's idle
timeout) fails the call that finds it. The connection is then closed, so the next call opens a new
one, and a call that is safe to repeat (run_idempotent) is retried once at once.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from chat import metrics

# SQLite lets one writer in at a time whatever the threads (and its in-memory test database fails
# instead of waiting), so more threads would only contend for its lock.
THREADS = 1 if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3") else 4

P = ParamSpec("P")
R = TypeVar("R")

_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="chat-db")


# A connection used this recently is not health-checked again (see _with_upkeep).
HEALTH_CHECK_IDLE_SECONDS = 1.0

_last_used: weakref.WeakKeyDictionary[BaseDatabaseWrapper, float] = weakref.WeakKeyDictionary()


def _with_upkeep(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return _call(func, False, *args, **kwargs)


def _with_retry(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    return _call(func, True, *args, **kwargs)


# What a connection lost under the call raises: its own error first, then "connection already closed".
LOST = (OperationalError, InterfaceError)


def _call(func: Callable[P, R], retry: bool, *args: P.args, **kwargs: P.kwargs) -> R:
    # Inside the call's own context: Django's connections are context-local, and
    # database_sync_to_async's upkeep runs outside the context copy that a pooled call uses.
    close_old_connections()
    # close_old_connections() re-arms CONN_HEALTH_CHECKS, which costs a `SELECT 1` round trip
    # before the first query: Django does that once per request, here it would be once per call
    # (each post, each join's reads). A connection that answered within the last second is
    # trusted, as Django trusts one within a request; one idle longer is checked as usual.
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and now - _last_used.get(conn, float("-inf")) < HEALTH_CHECK_IDLE_SECONDS:
            conn.health_check_done = True  # type: ignore[attr-defined]  # not in django-stubs
    try:
        try:
            return func(*args, **kwargs)
        except LOST:
            _drop_failed_connections()
            if not retry:
                raise
            return func(*args, **kwargs)
    finally:
        now = time.monotonic()
        for conn in connections.all(initialized_only=True):
            if conn.connection is not None and not conn.errors_occurred:
                _last_used[conn] = now
        close_old_connections()


def _drop_failed_connections() -> None:
    # A failed call leaves its connection marked; close it rather than health-check it: a fresh
    # one costs one connect, a dead one would fail the next call too.
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and conn.errors_occurred:
            conn.close()


def _started(submitted: float, retry: bool, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    # Stamped on the event loop when submitted and here in a pool thread: the difference is the queue.
    metrics.db_call_started(submitted)
    return (_with_retry if retry else _with_upkeep)(func, *args, **kwargs)


_pooled = sync_to_async(_started, thread_sensitive=False, executor=_pool)


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Call a sync ORM function on the pool and return its result."""
    return await _pooled(time.monotonic(), False, func, *args, **kwargs)


async def run_idempotent(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """As run, for a call that may be repeated: retried once if its connection was lost."""
    return await _pooled(time.monotonic(), True, func, *args, **kwargs)
