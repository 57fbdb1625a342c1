"""Joins served from the worker's snapshot of a live room (chat.snapshots): no database, and never stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat import broadcast, consumers, db, services, snapshots, worker
from chat.identity import Identity
from chat.models import Message, Room, Sanction
from chat.protocol import Close
from tests.consumers.conftest import Client, guest_cookie, user_cookie

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[Client]]


@dataclass
class Reads:
    """How often joins went to the database since the last take(): snapshot reads, and plain join reads."""

    snapshots: int = 0
    joins: int = 0

    def take(self) -> tuple[int, int]:
        counted = (self.snapshots, self.joins)
        self.snapshots = self.joins = 0
        return counted


def count_reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    counted = Reads()
    read_snapshot, read_join = snapshots._read, consumers._join_reads

    def snapshot_read(slug: str) -> Any:
        counted.snapshots += 1
        return read_snapshot(slug)

    def join_reads(*args: Any) -> Any:
        counted.joins += 1
        return read_join(*args)

    monkeypatch.setattr(snapshots, "_read", snapshot_read)
    monkeypatch.setattr(consumers, "_join_reads", join_reads)
    return counted


@pytest.fixture
def direct_layer() -> None:
    """Snapshots need a layer that dispatches directly; `make pytest-layers` runs this module on one that does not."""
    if "direct" not in getattr(get_channel_layer(), "extensions", ()):
        pytest.skip("room snapshots need a channel layer with direct dispatch (chat.layers)")


@pytest.fixture
def reads(direct_layer: None, monkeypatch: pytest.MonkeyPatch) -> Reads:
    return count_reads(monkeypatch)


async def make_user(name: str, **extra: Any) -> Any:
    return await sync_to_async(get_user_model().objects.create_user)(name, password="pw-" + name + "-12345", **extra)


async def refused_with(client: Client, timeout: float = 2.0) -> int | None:
    """The code the server closes the socket with (frames on the way are skipped); None if it stays open.

    Reads the communicator's queue itself: its receive_output cancels the app on a timeout, and a
    test that fails because someone got in would then fail again in every test after it.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                output = await client.comm.output_queue.get()
                if output["type"] != "websocket.send":
                    assert output["type"] == "websocket.close", output
                    return int(output["code"])
    except TimeoutError:
        return None


async def post(client: Client, body: str) -> dict[str, Any]:
    """Send a message and return its broadcast (others' messages on the way are skipped)."""
    await client.send({"type": "message", "body": body})
    while (frame := await client.expect("message"))["body"] != body:
        pass
    return frame


async def store_quietly(room: Room, body: str) -> None:
    """A message stored as a service would, without the broadcast that should follow it."""
    ghost = Identity(key="g:ghost", name="ghost", guest=True)
    await sync_to_async(services.message_create)(room_id=room.pk, author=ghost, body=body, client_id=None)


async def store_and_broadcast(room: Room, body: str) -> None:
    """A message stored and broadcast as the consumer does it, from outside any consumer."""
    ghost = Identity(key="g:ghost", name="ghost", guest=True)
    message, _ = await sync_to_async(services.message_create)(room_id=room.pk, author=ghost, body=body, client_id=None)
    await broadcast.message_stored(message, room_slug=room.slug)


Action = Callable[[], Awaitable[None]]


def around_the_read(
    monkeypatch: pytest.MonkeyPatch, *, before: Action | None = None, after: Action | None = None
) -> None:
    """Run `before` and `after` around the next snapshot read, once each: what a live room does meanwhile."""
    pending = {"before": before, "after": after}

    async def run_idempotent(func: Any, *args: Any, **kwargs: Any) -> Any:
        if action := pending.pop("before", None):
            await action()
        result = await db.run_idempotent(func, *args, **kwargs)
        if action := pending.pop("after", None):
            await action()
        return result

    monkeypatch.setattr(snapshots, "db", SimpleNamespace(run_idempotent=run_idempotent))


async def eventually(check: Callable[[], bool], timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def bodies(client: Client) -> list[tuple[int, str]]:
    return [(m["seq"], m["body"]) for m in client.history["messages"]]


# -- Served from the snapshot ---------------------------------------------------------------------


async def test_later_joins_to_a_live_room_read_nothing_and_see_what_the_first_saw(
    connect: Connect, room: Room, reads: Reads
) -> None:
    for i in range(3):
        await store_quietly(room, f"before {i}")
    first = await connect("den")
    assert reads.take() == (1, 0)
    later = [await connect("den"), await connect("den", cookie=await guest_cookie("carol"))]
    assert reads.take() == (0, 0)
    for client in later:
        assert client.welcome["last_seq"] == first.welcome["last_seq"] == 3
        assert client.welcome["last_change"] == first.welcome["last_change"]
        assert client.welcome["room"] == first.welcome["room"]
        assert client.history == first.history
    assert bodies(first) == [(1, "before 0"), (2, "before 1"), (3, "before 2")]
    assert later[1].welcome["you"]["name"] == "carol"  # who they are still comes from their session


async def test_joins_at_once_to_a_room_not_yet_live_read_it_once(connect: Connect, room: Room, reads: Reads) -> None:
    await store_quietly(room, "hello")
    joined = await asyncio.gather(*(connect("den") for _ in range(4)))
    assert reads.take() == (1, 0)
    assert all(bodies(client) == [(1, "hello")] for client in joined)


async def test_messages_sent_after_the_read_reach_later_joiners_in_order_without_a_read(
    connect: Connect, room: Room, reads: Reads
) -> None:
    await store_quietly(room, "old")
    alice, bob = await connect("den"), await connect("den")
    sent = [await post(alice, "one"), await post(bob, "two"), await post(alice, "three")]
    reads.take()

    late = await connect("den")
    assert reads.take() == (0, 0)
    assert late.history["messages"][1:] == sent  # the very frames the room was sent
    assert bodies(late) == [(1, "old"), (2, "one"), (3, "two"), (4, "three")]
    assert late.welcome["last_seq"] == 4
    # And the live stream carries on from there, without a gap or a repeat.
    await post(alice, "four")
    assert (await late.expect("message"))["seq"] == 5


async def test_a_later_joiners_history_from_the_snapshot_is_the_newest_page(
    connect: Connect, room: Room, reads: Reads, settings: Any
) -> None:
    settings.CHAT_HISTORY_LIMIT = 3
    await store_quietly(room, "m1")
    alice = await connect("den")
    assert alice.history["has_more"] is False
    for i in range(2, 6):
        await post(alice, f"m{i}")
    reads.take()

    late = await connect("den")
    assert reads.take() == (0, 0)
    assert bodies(late) == [(3, "m3"), (4, "m4"), (5, "m5")]
    assert late.history["has_more"] is True
    assert late.welcome["last_seq"] == 5


async def test_a_resume_reads_the_database_even_in_a_live_room(connect: Connect, room: Room, reads: Reads) -> None:
    alice = await connect("den")
    for body in ("one", "two"):
        await post(alice, body)
    reads.take()
    back = await connect("den", query="after=1")
    assert reads.take() == (0, 1)
    assert (back.history["resumed"], bodies(back)) == (True, [(2, "two")])


async def test_messages_that_arrive_while_the_room_is_read_are_in_the_snapshot_once(
    connect: Connect, room: Room, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One stored before the read (so in it, and its broadcast arrives too), one stored after it.
    around_the_read(
        monkeypatch,
        before=lambda: store_and_broadcast(room, "during"),
        after=lambda: store_and_broadcast(room, "just after"),
    )
    first = await connect("den")
    assert bodies(first) == [(1, "during"), (2, "just after")]
    assert first.welcome["last_seq"] == 2
    late = await connect("den")
    assert reads.take() == (1, 0)
    assert bodies(late) == [(1, "during"), (2, "just after")] and late.welcome["last_seq"] == 2


async def test_an_order_that_arrives_while_the_room_is_read_makes_the_next_join_read_it_again(
    connect: Connect, room: Room, reads: Reads, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await make_user("troll")
    cookie = await user_cookie(user)

    async def ban() -> None:
        sanction = Sanction(room=room, kind=Sanction.Kind.BAN, user=user)
        await sync_to_async(services.sanction_save)(sanction=sanction)

    around_the_read(monkeypatch, after=ban)  # the read saw no ban
    await connect("den")
    assert await refused_with(await connect("den", join=False, cookie=cookie)) == Close.FORBIDDEN
    assert reads.take() == (2, 0)


async def test_a_join_that_comes_after_an_order_that_arrived_during_the_read_reads_again(
    connect: Connect, room: Room, direct_layer: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The troll subscribes after their ban's order reached this worker but before the read that
    # began earlier (and saw no ban) is done: that read must not let them in, nor will the order
    # reach them, so their join reads the room again.
    user = await make_user("troll")
    cookie = await user_cookie(user)
    group = broadcast.room_group("den")
    joining: list[asyncio.Task[Client]] = []

    async def ban_then_the_troll_joins() -> None:
        await sync_to_async(services.sanction_save)(sanction=Sanction(room=room, kind=Sanction.Kind.BAN, user=user))
        joining.append(asyncio.ensure_future(connect("den", join=False, cookie=cookie)))
        # The watcher, the first joiner and the troll: the troll is subscribed and asks for the snapshot.
        assert await eventually(lambda: len(get_channel_layer().local_members(group)) == 3)
        await asyncio.sleep(0.05)

    around_the_read(monkeypatch, after=ban_then_the_troll_joins)
    await connect("den")
    assert await refused_with(await joining[0]) == Close.FORBIDDEN


# -- Rights changes reach the next join ---------------------------------------------------------


@pytest.mark.parametrize("who", ["guest", "user"])
async def test_a_ban_keeps_the_banned_out_of_a_live_room(connect: Connect, room: Room, reads: Reads, who: str) -> None:
    bystander = await connect("den")
    if who == "guest":
        cookie = await guest_cookie("troll")
        troll = await connect("den", cookie=cookie)
        seq = (await post(troll, "trolling"))["seq"]
        key = await sync_to_async(lambda: Message.objects.get(seq=seq).author_key)()
        sanction = Sanction(room=room, kind=Sanction.Kind.BAN, person_key=key, person_name="troll")
    else:
        user = await make_user("troll")
        cookie = await user_cookie(user)
        troll = await connect("den", cookie=cookie)
        sanction = Sanction(room=room, kind=Sanction.Kind.BAN, user=user)
    assert reads.take() == (1, 0)  # the troll came in from the snapshot

    await sync_to_async(services.sanction_save)(sanction=sanction)
    assert await refused_with(troll) == Close.FORBIDDEN
    assert await refused_with(await connect("den", join=False, cookie=cookie)) == Close.FORBIDDEN
    assert reads.take() == (1, 0)  # read again, with the ban
    assert await refused_with(await connect("den", join=False, cookie=cookie)) == Close.FORBIDDEN
    await post(bystander, "still here")


async def test_lifting_a_ban_lets_the_person_back_into_a_live_room(connect: Connect, room: Room, reads: Reads) -> None:
    user = await make_user("sorry")
    cookie = await user_cookie(user)
    await connect("den")
    sanction = Sanction(room=room, kind=Sanction.Kind.BAN, user=user)
    await sync_to_async(services.sanction_save)(sanction=sanction)
    # The room's snapshot now holds the ban.
    assert await refused_with(await connect("den", join=False, cookie=cookie)) == Close.FORBIDDEN
    reads.take()

    await sync_to_async(services.sanction_lift)(sanctions=Sanction.objects.filter(pk=sanction.pk))
    back = await connect("den", cookie=cookie)
    assert back.welcome["you"]["name"] == "sorry"
    assert reads.take() == (1, 0)


async def test_making_a_live_room_members_only_refuses_a_stranger_on_their_next_join(
    connect: Connect, room: Room, reads: Reads
) -> None:
    member, stranger = await make_user("mia"), await make_user("sam")
    await sync_to_async(room.members.add)(member)
    mia = await connect("den", cookie=await user_cookie(member))
    stranger_cookie = await user_cookie(stranger)
    sam = await connect("den", cookie=stranger_cookie)
    await sam.close()
    assert reads.take() == (1, 0)

    def members_only() -> None:
        fresh = Room.objects.get(pk=room.pk)
        fresh.kind = Room.Kind.MEMBERS
        fresh.save(update_fields=["kind"])
        services.room_rights_changed(room=fresh)

    await sync_to_async(members_only)()
    assert await refused_with(await connect("den", join=False, cookie=stranger_cookie)) == Close.FORBIDDEN
    assert await refused_with(await connect("den", join=False)) == Close.FORBIDDEN  # a guest
    again = await connect("den", cookie=await user_cookie(member))
    assert again.welcome["room"]["kind"] == "members"
    assert await mia.silent()  # still in: a member


async def test_a_mute_set_while_a_room_is_live_shows_in_the_muted_persons_next_welcome(
    connect: Connect, room: Room, reads: Reads
) -> None:
    user = await make_user("loud")
    cookie = await user_cookie(user)
    await connect("den")
    assert (await connect("den", cookie=cookie)).welcome["rights"]["muted"] is False
    until = timezone.now() + timedelta(minutes=30)
    sanction = Sanction(room=room, kind=Sanction.Kind.MUTE, user=user, expires_at=until)
    await sync_to_async(services.sanction_save)(sanction=sanction)
    reads.take()

    rights = (await connect("den", cookie=cookie)).welcome["rights"]
    assert rights["muted"] is True and rights["muted_until"] is not None
    assert reads.take() == (1, 0)


# -- Content changes reach the next join --------------------------------------------------------


async def test_archiving_a_live_room_shows_in_the_next_joiners_welcome(
    connect: Connect, room: Room, reads: Reads
) -> None:
    bystander = await connect("den")

    def archive() -> None:
        fresh = Room.objects.get(pk=room.pk)
        fresh.archived = True
        services.room_save(room=fresh)

    await sync_to_async(archive)()
    assert (await bystander.expect("room"))["room"]["archived"] is True
    late = await connect("den")
    assert late.welcome["room"]["archived"] is True
    assert reads.take() == (2, 0)


async def test_an_edit_and_a_deletion_show_in_the_next_joiners_history(
    connect: Connect, room: Room, reads: Reads
) -> None:
    alice, bob = await connect("den"), await connect("den")
    first, second = (await post(alice, "helo"))["seq"], (await post(alice, "oops"))["seq"]
    await bob.expect("message")

    await alice.send({"type": "edit", "seq": first, "body": "hello"})
    for client in (alice, bob):
        await client.expect("edited")
    edited = await connect("den")
    assert [(m["seq"], m["body"], m["edited_at"] is not None) for m in edited.history["messages"]] == [
        (first, "hello", True),
        (second, "oops", False),
    ]
    assert edited.welcome["last_change"] == 1

    await alice.send({"type": "delete", "seq": second})
    for client in (alice, bob, edited):
        assert (await client.expect("deleted"))["seq"] == second
    deleted = await connect("den")
    assert bodies(deleted) == [(first, "hello")]
    assert deleted.welcome["last_change"] == 2
    assert reads.take() == (3, 0)


async def test_a_message_stored_without_its_broadcast_is_not_missed_by_later_joiners(
    connect: Connect, room: Room, reads: Reads
) -> None:
    alice = await connect("den")
    await store_quietly(room, "missed")
    assert (await post(alice, "seen"))["seq"] == 2  # a gap after what the snapshot holds

    late = await connect("den")
    assert bodies(late) == [(1, "missed"), (2, "seen")]
    assert late.welcome["last_seq"] == 2
    assert reads.take() == (2, 0)


async def test_renaming_a_live_room_sends_joins_to_its_old_name_away(
    connect: Connect, room: Room, reads: Reads
) -> None:
    """As the database would: the old name is no room any more (it may be taken by another room)."""
    await connect("den")

    def rename() -> None:
        fresh = Room.objects.get(pk=room.pk)
        fresh.slug = "lair"
        services.room_save(room=fresh)

    await sync_to_async(rename)()
    assert await refused_with(await connect("den", join=False)) == Close.NO_ROOM
    assert (await connect("lair")).welcome["room"]["slug"] == "lair"


# -- What else drops a snapshot -----------------------------------------------------------------


async def test_a_heartbeat_that_finds_the_room_ahead_makes_the_next_join_read_it_again(
    connect: Connect, room: Room, reads: Reads
) -> None:
    await connect("den")
    await store_quietly(room, "missed")
    snapshots_here = worker.worker().snapshots
    snapshots_here.check("den", 0)  # not ahead: kept
    assert bodies(await connect("den")) == []
    assert reads.take() == (1, 0)

    snapshots_here.check("den", 1)
    assert bodies(await connect("den")) == [(1, "missed")]
    assert reads.take() == (1, 0)

    await store_quietly(room, "missed too")
    await worker.worker().beat()  # the heartbeat itself reads the room's last seq
    assert bodies(await connect("den")) == [(1, "missed"), (2, "missed too")]
    assert reads.take() == (1, 0)


async def test_a_reconnect_of_the_layer_makes_the_next_join_read_the_room_again(
    connect: Connect, room: Room, reads: Reads
) -> None:
    await connect("den")
    await store_quietly(room, "lost while disconnected")
    get_channel_layer()._notify_reconnect()  # what the Redis layer does once it has its connection back
    assert bodies(await connect("den")) == [(1, "lost while disconnected")]
    assert reads.take() == (2, 0)


async def test_a_snapshot_is_read_again_once_older_than_its_max_age(
    connect: Connect, room: Room, reads: Reads, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CHAT_ROOM_SNAPSHOT_SECONDS = 30
    ahead, real = [0.0], time.monotonic
    monkeypatch.setattr(snapshots, "time", SimpleNamespace(monotonic=lambda: real() + ahead[0]))
    await connect("den")
    await store_quietly(room, "changed in a shell")
    ahead[0] = 29
    assert bodies(await connect("den")) == []  # young enough: served as read
    ahead[0] = 30
    assert bodies(await connect("den")) == [(1, "changed in a shell")]
    assert reads.take() == (2, 0)


async def test_with_snapshots_off_every_join_reads_the_database(
    connect: Connect, room: Room, reads: Reads, settings: Any
) -> None:
    settings.CHAT_ROOM_SNAPSHOT_SECONDS = 0
    await connect("den")
    await store_quietly(room, "fresh")
    for _ in range(2):
        assert bodies(await connect("den")) == [(1, "fresh")]
    assert reads.take() == (0, 3)
    # Nobody but the three consumers in the room's group: no watcher.
    assert get_channel_layer().local_members(broadcast.room_group("den")) == set(worker.worker().rooms["den"])


async def test_on_a_layer_without_direct_dispatch_every_join_reads_the_database(
    connect: Connect, room: Room, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    reads = count_reads(monkeypatch)
    alice = await connect("den")
    await post(alice, "hello")
    for _ in range(2):
        assert bodies(await connect("den")) == [(1, "hello")]
    assert reads.take() == (0, 3)


# -- Watchers ------------------------------------------------------------------------------------


async def test_the_watcher_leaves_the_rooms_group_when_the_last_member_leaves(
    connect: Connect, room: Room, reads: Reads
) -> None:
    layer, group = get_channel_layer(), broadcast.room_group("den")
    alice, bob = await connect("den"), await connect("den")
    assert len(layer.local_members(group)) == 3  # two members and the watcher
    await alice.close()
    assert len(layer.local_members(group)) == 2  # still live here: still watched
    await bob.close()
    assert await eventually(lambda: not layer.local_members(group)), layer.local_members(group)

    await store_quietly(room, "while nobody was here")
    assert bodies(await connect("den")) == [(1, "while nobody was here")]
    assert reads.take() == (2, 0)
    assert len(layer.local_members(group)) == 2


async def test_a_join_to_an_unknown_room_leaves_no_watcher_behind(connect: Connect, reads: Reads) -> None:
    layer, group = get_channel_layer(), broadcast.room_group("nowhere")
    lost = await connect("nowhere", join=False)
    assert await refused_with(lost) == Close.NO_ROOM
    await lost.close()
    assert await eventually(lambda: not layer.local_members(group)), layer.local_members(group)


async def test_a_refused_first_joiner_leaves_no_watcher_behind(connect: Connect, reads: Reads) -> None:
    await Room.objects.acreate(slug="inner", name="Inner", kind=Room.Kind.MEMBERS)
    layer, group = get_channel_layer(), broadcast.room_group("inner")
    stranger = await connect("inner", join=False)
    assert await refused_with(stranger) == Close.FORBIDDEN
    await stranger.close()
    assert await eventually(lambda: not layer.local_members(group)), layer.local_members(group)
