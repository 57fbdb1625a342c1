"""chat.asyncdb: a post's one statement on the event loop, on PostgreSQL, against a real server.

The refusals, acks and re-sends of a post run through it in every consumer test on PostgreSQL;
these are what only this path has: its rows, its connections and how it loses them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from chat import asyncdb, services
from chat.identity import Identity
from chat.models import Message, Room, Sanction
from chat.rights import Refused
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


MINUTE = timedelta(minutes=1)

# Who posts, in what room, with what sanction: services.message_create's answer is the reference.
CASES: dict[str, dict[str, Any]] = {
    "anyone": {},
    "banned": {"sanction": ("ban", None)},
    "muted": {"sanction": ("mute", None)},
    "muted for ten minutes": {"sanction": ("mute", 10 * MINUTE)},
    "muted until a minute ago": {"sanction": ("mute", -MINUTE)},
    "in an archived room": {"room": {"archived": True}},
    "in slow mode, having just posted": {"room": {"slow_mode_seconds": 60}, "posted": True},
    "in slow mode, first post": {"room": {"slow_mode_seconds": 60}},
    "a muted moderator": {"moderator": True, "sanction": ("mute", None)},
    "a moderator in slow mode": {"moderator": True, "room": {"slow_mode_seconds": 60}, "posted": True},
    "banned staff": {"staff": True, "sanction": ("ban", None)},
    "a moderator of an archived room": {"moderator": True, "room": {"archived": True}},
}


def _situation(slug: str, case: dict[str, Any]) -> tuple[Room, Identity]:
    room = Room.objects.create(slug=slug, name=slug, **case.get("room", {}))
    user = get_user_model().objects.create_user(username=f"u-{slug}", is_staff=case.get("staff", False))
    who = Identity(key=f"u:{user.pk}", name=user.username, guest=False, user_id=user.pk, staff=user.is_staff)
    if case.get("moderator"):
        room.moderators.add(user)
    if case.get("posted"):
        Message.objects.create(room=room, seq=1, author_user=user, author_key=who.key, author_name="u", body="before")
        Room.objects.filter(pk=room.pk).update(last_seq=1)
    if "sanction" in case:
        kind, lasts = case["sanction"]
        expires = None if lasts is None else timezone.now() + lasts
        Sanction.objects.create(room=room, kind=kind, person_key=who.key, user=user, expires_at=expires)
    return room, who


async def _outcome(
    create: Callable[..., Awaitable[tuple[Message, bool]]], room: Room, who: Identity
) -> tuple[Any, ...]:
    try:
        message, created = await create(room_id=room.pk, author=who, body="hello", client_id="c1")
    except Refused as refused:
        return ("refused", refused.code)
    return ("stored", message.seq, created)


@pytest.mark.parametrize("name", CASES)
async def test_a_post_is_refused_or_stored_as_services_message_create_decides(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    reference = await _outcome(sync_to_async(services.message_create), *await sync_to_async(_situation)("ref", case))
    whole = []
    real = services.message_create

    def spy(**kwargs: Any) -> tuple[Message, bool]:
        whole.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(services, "message_create", spy)
    ours = await _outcome(asyncdb.message_create, *await sync_to_async(_situation)("ours", case))
    assert ours == reference
    assert ours[0] == ("refused" if name in REFUSED else "stored"), ours
    assert bool(whole) == name.startswith("in slow mode"), "only slow mode takes services.message_create's way"


REFUSED = {"banned", "muted", "muted for ten minutes", "in an archived room", "in slow mode, having just posted"}
REFUSED |= {"a moderator of an archived room"}


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
