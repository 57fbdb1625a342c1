"""Delivery guarantees between two real daphne workers while nothing breaks: resume, idempotent sends, presence."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.client import ChatClient
from tests.integration.conftest import Connect, NewGuest
from tests.servers import FAST_CLIENTS, Site, site

pytestmark = pytest.mark.integration

ROOMS = ("resume", "busy", "tabs", "resend", "deleted", "reset", "doomed", "spared")


@pytest.fixture(scope="module")
def chat_site() -> Iterator[Site]:
    # A high rate limit: these tests send faster than a person, and limits are tested elsewhere.
    with site(**FAST_CLIENTS) as deployment:
        deployment.shell(
            "from chat.models import Room\n"
            + "".join(f"Room.objects.create(slug={slug!r}, name={slug.title()!r})\n" for slug in ROOMS)
        )
        deployment.add_worker()
        deployment.add_worker()
        yield deployment


def stream(client: ChatClient, connection: int) -> list[int]:
    """The seqs one connection delivered by itself: its first history, then live messages, in order."""
    seqs: list[int] = []
    for got in client.received:
        if got.connection != connection:
            continue
        if got.frame["type"] == "history" and got.frame["query"] is None:
            seqs += [m["seq"] for m in got.frame["messages"]]
        elif got.frame["type"] == "message":
            seqs.append(got.frame["seq"])
    return seqs


async def test_client_back_after_a_break_gets_exactly_what_it_missed(
    chat_site: Site, connect: Connect, new_guest: NewGuest
) -> None:
    one, two = chat_site.workers
    reader = await connect([one.port], "resume", cookie=await new_guest(one.port))
    writer = await connect([two.port], "resume", cookie=await new_guest(two.port))
    for i in range(5):
        await writer.send(f"before the break {i}")
    await reader.wait_for_seqs(5)

    await reader.stop()
    missed = [await writer.send(f"while away {i}") for i in range(7)]
    await writer.wait_for_acks(5)
    await reader.start()

    first = [f for f in reader.frames("history", since=2) if f["query"] is None]
    assert len(first) == 1
    assert (first[0]["resumed"], first[0]["reset"], first[0]["has_more"]) == (True, False, False)
    assert [m["seq"] for m in first[0]["messages"]] == list(range(6, 13))
    assert [m["client_id"] for m in first[0]["messages"]] == missed
    assert sorted(reader.messages) == list(range(1, 13))
    # Nothing it already had came again, and it did not have to ask for anything.
    assert stream(reader, 2) == list(range(6, 13))
    assert [f for f in reader.frames("history") if f["query"] is not None] == []


async def test_reconnecting_during_a_busy_conversation_leaves_no_gap_and_no_duplicate(
    chat_site: Site, connect: Connect, new_guest: NewGuest
) -> None:
    """The first history and the live messages after it join up exactly, even when messages arrive meanwhile."""
    one, two = chat_site.workers
    reader = await connect([one.port], "busy")
    writer = await connect([two.port], "busy", cookie=await new_guest(two.port))

    async def chatter() -> None:
        for i in range(150):
            await writer.send(f"busy {i}")
            await asyncio.sleep(0.02)

    talking = asyncio.create_task(chatter())
    rng = random.Random(7)
    while not talking.done():
        await asyncio.sleep(rng.uniform(0.1, 0.4))
        await reader.stop()
        await asyncio.sleep(rng.uniform(0.0, 0.2))
        await reader.start()
    await talking
    await writer.wait_for_acks(5)
    last = max(writer.acked.values())
    assert last == 150
    await reader.wait_for_seqs(last)

    assert reader.connection >= 5
    delivered: list[int] = []
    for connection in range(1, reader.connection + 1):
        seqs = stream(reader, connection)
        start = delivered[-1] + 1 if delivered else 1
        assert seqs == list(range(start, start + len(seqs))), f"connection {connection} skipped or repeated"
        delivered += seqs
    assert delivered == list(range(1, last + 1))
    assert [f for f in reader.frames("history") if f["query"] is not None] == [], "the server left a gap"


async def test_two_tabs_of_one_user_give_one_join_and_one_leave(
    chat_site: Site, connect: Connect, new_guest: NewGuest
) -> None:
    one, two = chat_site.workers
    observer = await connect([two.port], "tabs", cookie=await new_guest(two.port))
    cookie = await new_guest(one.port)

    def presence(event: str) -> list[dict[str, Any]]:
        return [f for f in observer.frames("presence") if f["event"] == event]

    tab1 = await connect([one.port], "tabs", cookie=cookie)
    await observer.wait_until(lambda: len(presence("join")) == 1, 5, "the first tab's join")
    tab2 = await connect([two.port], "tabs", cookie=cookie)
    assert tab1.you == tab2.you != observer.you
    assert [u for u in tab2.online if u == tab1.you] == [tab1.you]
    # The second tab's join, if it had one, went out before anything it says.
    await tab2.send("hello from the second tab")
    await observer.wait_until(lambda: any(m["author"] == tab2.you for m in observer.messages.values()), 5)
    assert presence("join") == [{"type": "presence", "event": "join", "user": tab1.you, "online": 2}]

    await tab1.stop()
    await asyncio.sleep(1.0)  # a leave for the first tab would take milliseconds
    assert presence("leave") == []
    await tab2.stop()
    await observer.wait_until(lambda: len(presence("leave")) == 1, 5, "the leave")
    await asyncio.sleep(1.0)
    assert presence("leave") == [{"type": "presence", "event": "leave", "user": tab1.you, "online": 1}]
    assert len(presence("join")) == 1


async def test_resending_a_client_id_stores_it_once_and_acks_the_same_seq(
    chat_site: Site, connect: Connect, new_guest: NewGuest, stored: Callable[[Site, str], Any]
) -> None:
    one, two = chat_site.workers
    observer = await connect([two.port], "resend")
    sender = await connect([one.port], "resend", cookie=await new_guest(one.port))

    def acks(client: ChatClient) -> list[int]:
        return [f["seq"] for f in client.frames("ack") if f["client_id"] == "same-id"]

    await sender.send("said once", client_id="same-id")
    await sender.send("said once", client_id="same-id")
    await sender.wait_until(lambda: len(acks(sender)) == 2, 5, "two acks")
    # Across a reconnect and to the other worker, as the outbox does after a connection died unacked.
    await sender.stop()
    sender.ports = [two.port]
    await sender.send("said once", client_id="same-id")
    await sender.start()
    await sender.wait_until(lambda: len(acks(sender)) == 3, 5, "the third ack")
    seq = acks(sender)[0]
    assert acks(sender) == [seq, seq, seq]

    # Another user's client_id is theirs: the same value does not swallow their message.
    other = await connect([two.port], "resend", cookie=await new_guest(two.port))
    await other.send("someone else", client_id="same-id")
    await other.wait_until(lambda: len(acks(other)) == 1, 5, "the other user's ack")
    assert acks(other) != [seq]
    await sender.send("the end")
    await observer.wait_until(lambda: len(observer.messages) == 3, 5, "three messages")
    assert [f["client_id"] for f in observer.frames("message")].count("same-id") == 2
    assert [m["body"] for m in observer.messages.values()] == ["said once", "someone else", "the end"]
    room = await asyncio.to_thread(stored, chat_site, "resend")
    assert room.seqs == [1, 2, 3]
    assert room.client_ids.count("same-id") == 2


async def test_a_deleted_message_disappears_everywhere_and_its_seq_stays_a_hole(
    chat_site: Site, connect: Connect, new_guest: NewGuest
) -> None:
    one, two = chat_site.workers
    reader = await connect([one.port], "deleted")
    writer = await connect([two.port], "deleted", cookie=await new_guest(two.port))
    for i in range(3):
        await writer.send(f"message {i}")
    await reader.wait_for_seqs(3)

    # What a moderator's delete in the admin does, from another process.
    await asyncio.to_thread(
        chat_site.shell,
        "from chat import services\nfrom chat.models import Message\n"
        "services.message_delete(messages=Message.objects.filter(room__slug='deleted', seq=2))\n",
    )
    for client in (reader, writer):
        await client.wait_for_view([1, 3], 5)
    await writer.send("after the delete")
    await reader.wait_for_view([1, 3, 4], 5)  # seq 4, not a reused 2
    await reader.stop()
    await reader.start()
    newcomer = await connect([two.port], "deleted")
    for client in (reader, newcomer):
        assert sorted(client.messages) == [1, 3, 4]
    assert [f for f in reader.frames("history") if f["query"] is not None] == [], "the hole was fetched again"


async def test_a_client_ahead_of_the_room_rebuilds_its_view(chat_site: Site, connect: Connect) -> None:
    """After a database reset a client may hold seqs the room never reached: the server says reset."""
    one, _ = chat_site.workers
    writer = await connect([one.port], "reset")
    for i in range(3):
        await writer.send(f"message {i}")
    reader = await connect([one.port], "reset")
    await reader.wait_for_seqs(3)
    await reader.stop()
    stale = dict(reader.messages[3], seq=40, body="from before the reset")
    reader.messages[40], reader.known = stale, 40

    await reader.start()
    first = [f for f in reader.frames("history", since=2) if f["query"] is None]
    assert (first[0]["resumed"], first[0]["reset"]) == (False, True)
    assert sorted(reader.messages) == [1, 2, 3]
    await writer.send("after the reset")
    await reader.wait_for_seqs(4)


async def test_a_room_deleted_in_the_admin_closes_its_sockets_on_both_workers(
    chat_site: Site, connect: Connect, new_guest: NewGuest
) -> None:
    one, two = (w.port for w in chat_site.workers)
    doomed = [await connect([port], "doomed", cookie=await new_guest(port)) for port in (one, two)]
    spared = await connect([two], "spared", cookie=await new_guest(two))
    # As the admin's delete does (chat.admin.RoomAdmin.delete_model), from a process of its own.
    await asyncio.to_thread(
        chat_site.shell,
        "from chat import services\nfrom chat.models import Room\n"
        "services.room_delete(rooms=Room.objects.filter(slug='doomed'))\n",
    )
    for client in doomed:
        await client.wait_until(lambda c=client: c.close_codes == [4404], 10, "4404 on its worker")
    await spared.send("still here")
    await spared.wait_for_acks(5)
    assert spared.close_codes == []
