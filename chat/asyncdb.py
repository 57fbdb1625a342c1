"""A post's database work on the event loop, in one statement on async psycopg connections (PostgreSQL only).

Every post reads its author's rights and then inserts the message with the room's next seq. Through
chat.db that is two round trips, a hop to a pool thread and back, Django's connection upkeep, and a
fight with the loop's fan-out for the GIL (docs/performance.md, "Posts on the event loop"). Here
one statement (chat.services.post_statement) reads the rights, checks them and inserts, on the
loop itself, on up to SIZE autocommit connections per loop. They are opened with Django's own
connection parameters and adapters, so their rows are the ones the ORM reads, and the refusals are
chat.rights.check_can_write's, from the same rows.

What stays on chat.db: every other query, SQLite, and a post's rare turns, which run
chat.services.message_create whole there (a room in slow mode reads the author's last message; a
re-send of a stored message finds it). CHAT_ASYNC_DB=0 sends every post there.

As in chat.db, a connection the server dropped fails the statement that finds it and is closed;
a post with a client_id, safe to repeat, is then tried once more on a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
from django.conf import settings
from django.db import (
    DatabaseError,
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    connection,
)

from chat import db, metrics, services
from chat.identity import Identity
from chat.models import Message
from chat.rights import RoomReadOnly, check_can_write, rights_from_rows

# As many as chat.db's threads: a worker's posts never wait for one another's round trips.
SIZE = 4


def enabled() -> bool:
    """Whether posts run here: on PostgreSQL, unless CHAT_ASYNC_DB is off."""
    return bool(settings.CHAT_ASYNC_DB) and connection.vendor == "postgresql"


async def message_create(*, room_id: int, author: Identity, body: str, client_id: str | None) -> tuple[Message, bool]:
    """chat.services.message_create from the event loop: the same refusals, the same message, the same retry."""
    run = db.run if client_id is None else db.run_idempotent
    if enabled():
        try:
            try:
                return await _create(room_id=room_id, author=author, body=body, client_id=client_id)
            except db.LOST:
                if client_id is None:
                    raise
                return await _create(room_id=room_id, author=author, body=body, client_id=client_id)
        except _Whole:
            pass
    return await run(services.message_create, room_id=room_id, author=author, body=body, client_id=client_id)


class _Whole(Exception):
    """This post takes a turn that services.message_create handles, with its own queries."""


async def _create(*, room_id: int, author: Identity, body: str, client_id: str | None) -> tuple[Message, bool]:
    message = services.new_message(room_id=room_id, author=author, body=body, client_id=client_id)
    sql, params = services.post_statement(message, author)
    async with _connections().connection() as conn:
        with _as_django_errors():
            try:
                # Prepared: planning the statement is most of PostgreSQL's work for a post otherwise.
                rows = await (await conn.execute(sql, params, prepare=True)).fetchall()
            except psycopg.errors.UniqueViolation:
                if client_id is None:
                    raise
                raise _Whole from None  # a re-send of a stored message: its ack again
    if rows and rows[0][-2] is not None:
        services.mark_stored(message, rows[0][-2:])
        return message, True
    rights = rights_from_rows([row[:-2] for row in rows], author)
    if rights is None:
        raise RoomReadOnly  # deleted meanwhile: its sockets are being closed with 4404
    check_can_write(rights)  # the refusal the rights say
    raise _Whole  # slow mode (it reads the author's last message), or a sanction that just ended


class _Connections:
    """The open connections of one event loop: up to SIZE, each used by one post at a time."""

    def __init__(self) -> None:
        self.idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []  # with when each was opened
        self.slots = asyncio.Semaphore(SIZE)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        submitted = time.monotonic()
        async with self.slots:
            metrics.db_call_started(submitted)
            with _as_django_errors():
                conn, opened = self.idle.pop() if self.idle else (await _connect(), time.monotonic())
            try:
                yield conn
            finally:
                # Kept unless lost, busy (a post cancelled mid-statement) or older than CONN_MAX_AGE.
                max_age = _max_age()
                young = max_age is None or time.monotonic() - opened < max_age
                if young and not conn.closed and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    self.idle.append((conn, opened))
                else:
                    await conn.close()  # no round trip: it only frees the connection

    def close(self) -> None:
        for conn, _ in self.idle:
            conn.pgconn.finish()  # sync: the loop these were opened on may be gone
        self.idle.clear()


def _max_age() -> float | None:
    """Seconds a connection is kept (None: for good), as Django keeps its own: CONN_MAX_AGE."""
    max_age: float | None = connection.settings_dict["CONN_MAX_AGE"]
    return max_age


# Per event loop: a connection is bound to the loop it was opened on. A worker has one loop; a test
# run has one per test, so the last loop's connections are closed when a new loop asks.
_by_loop: dict[asyncio.AbstractEventLoop, _Connections] = {}


def close() -> None:
    """Close every idle connection (those of every loop); the next post opens a new one."""
    for mine in _by_loop.values():
        mine.close()


def _connections() -> _Connections:
    loop = asyncio.get_running_loop()
    mine = _by_loop.get(loop)
    if mine is None:
        close()
        _by_loop.clear()
        mine = _by_loop[loop] = _Connections()
    return mine


async def _connect() -> psycopg.AsyncConnection[Any]:
    # Django's own parameters: the database and credentials, client encoding, and its adapters
    # (datetimes loaded aware in the connection's time zone). Not its cursor class, which is sync
    # and binds parameters client-side: a prepared statement's are bound by the server.
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    # Django turns prepared statements off, for transaction-mode poolers. Here the post statement,
    # the only one these connections repeat, is prepared at its first run: PgBouncer >= 1.21 keeps
    # such statements across its server connections when max_prepared_statements is set.
    params.pop("prepare_threshold", None)
    conn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
    # As Django's ensure_timezone does at each connect.
    zone = connection.timezone_name
    if zone and conn.info.parameter_status("TimeZone") != zone:
        await conn.execute(connection.ops.set_time_zone_sql(), [zone])
    return conn


# psycopg's errors as Django's, so that callers catch one family (chat.db.LOST among them).
_DJANGO_ERRORS = (
    DataError,
    IntegrityError,
    OperationalError,
    InterfaceError,
    InternalError,
    ProgrammingError,
    NotSupportedError,
    DatabaseError,
)


@contextlib.contextmanager
def _as_django_errors() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        django_error = next((e for e in _DJANGO_ERRORS if isinstance(exc, getattr(psycopg, e.__name__))), DatabaseError)
        raise django_error(*exc.args) from exc
