"""chat.asyncdb: a post's statements on the event loop, on PostgreSQL, against a real server.

The refusals, acks and re-sends of a post run through it in every consumer test on PostgreSQL;
these are what only this path has: its rows, its connections and how it loses them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
from django.db import connection

from chat import asyncdb
from chat.identity import Identity
from chat.models import Message, Room
from tests.consumers.conftest import Client

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="PostgreSQL only"),
]

Connect = Callable[..., Awaitable[Client]]

GHOST = Identity(key="g:ghost", name="ghost", guest=True)


@pytest.fixture(autouse=True)
def kept_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test settings close every connection after use (CONN_MAX_AGE 0); keep chat.asyncdb's."""
    monkeypatch.setattr(asyncdb, "_max_age", lambda: 60.0)


def _idle() -> list[psycopg.AsyncConnection[Any]]:
    return [conn for conn, _ in asyncdb._connections().idle]


def _end_sessions(conns: list[psycopg.AsyncConnection[Any]]) -> None:
    """pg_terminate_backend on each, from another session, as a failover or an admin would."""
    with connection.cursor() as cursor:
        for conn in conns:
            cursor.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid])


async def test_a_post_is_the_message_the_orm_reads_back(room: Room) -> None:
    assert asyncdb.enabled()
    message, created = await asyncdb.message_create(room_id=room.pk, author=GHOST, body="hé 👋", client_id="c1")
    assert created and message.seq == 1
    read = await Message.objects.aget(pk=message.pk)
    for field in Message._meta.concrete_fields:
        ours, orms = getattr(message, field.attname), getattr(read, field.attname)
        assert (ours, type(ours)) == (orms, type(orms)), field.name
    assert message.sent_at.utcoffset() is not None and message.sent_at.utcoffset().total_seconds() == 0


async def test_a_re_send_gets_the_stored_message_and_no_copy(room: Room) -> None:
    first, _ = await asyncdb.message_create(room_id=room.pk, author=GHOST, body="once", client_id="c1")
    again, created = await asyncdb.message_create(room_id=room.pk, author=GHOST, body="once", client_id="c1")
    assert (again.pk, again.seq, created) == (first.pk, 1, False)
    assert await Message.objects.acount() == 1


async def test_a_post_whose_session_was_ended_is_retried_once_with_a_client_id(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": "first", "client_id": "c1"})
    assert (await alice.expect("ack"))["seq"] == 1
    lost = _idle()
    assert lost, "the post left its connection open for the next"
    await asyncio.to_thread(_end_sessions, lost)
    await alice.send({"type": "message", "body": "second", "client_id": "c2"})
    assert (await alice.expect("ack"))["seq"] == 2
    assert all(conn.closed for conn in lost) and not set(lost) & set(_idle())


async def test_a_post_without_client_id_is_not_retried_and_the_next_one_goes_through(
    connect: Connect, room: Room
) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": "first"})
    await alice.expect("message")
    await asyncio.to_thread(_end_sessions, _idle())
    await alice.send({"type": "message", "body": "maybe"})
    error = await alice.expect("error")
    assert (error["code"], error["retry_after"]) == ("unavailable", 1.0)
    await alice.send({"type": "message", "body": "third", "client_id": "c3"})
    assert (await alice.expect("ack"))["seq"] == 2
    assert [m.body async for m in Message.objects.order_by("seq")] == ["first", "third"]


async def test_a_post_cancelled_mid_statement_leaves_no_busy_connection_behind() -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with asyncdb._connections().connection() as conn:
            started.set()
            await conn.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.1)
    took = asyncio.get_running_loop().time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    took = asyncio.get_running_loop().time() - took
    # psycopg cancels the statement on the server: the connection is then idle, or else closed.
    assert all(conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE for conn in _idle())
    assert took < 4, "the cancel waited for the statement"
    async with asyncdb._connections().connection() as conn:
        assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)


def test_a_new_event_loop_closes_the_connections_of_the_last_one(db: None) -> None:
    async def open_one() -> psycopg.AsyncConnection[Any]:
        async with asyncdb._connections().connection() as conn:
            await conn.execute("SELECT 1")
        return conn

    first = asyncio.run(open_one())
    assert not first.closed
    second = asyncio.run(open_one())
    assert first.closed and second is not first
    asyncdb.close()
    assert second.closed
