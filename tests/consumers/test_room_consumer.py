"""The room consumer through the full ASGI stack, on the in-memory layer and presence."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.sessions.backends.db import SessionStore
from django.test import override_settings

from chat import broadcast, protocol, services, worker
from chat.identity import GUEST_NAME_KEY
from chat.models import Message, Room
from chatsite.asgi import application
from tests.consumers.conftest import Client, WhileJoining, guest_cookie

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def room() -> Room:
    created: Room = await Room.objects.acreate(slug="den", name="Den", topic="Quiet please")
    return created


async def stored() -> list[tuple[int, str]]:
    """The messages the rooms hold: seq and body, deleted ones (tombstones) left out."""
    return [(m.seq, m.body) async for m in Message.objects.filter(deleted_at__isnull=True).order_by("seq")]


async def test_connect_sends_welcome_then_history(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    assert alice.welcome["room"] == {
        "slug": "den",
        "name": "Den",
        "topic": "Quiet please",
        "archived": False,
        "kind": "public",
        "guests": True,
        "slow_mode": 0,
    }
    assert alice.welcome["rights"] == {"moderator": False, "muted": False, "muted_until": None, "edit_window": 900}
    assert alice.welcome["you"]["guest"] is True and alice.welcome["you"]["name"].startswith("guest-")
    assert alice.welcome["online"] == [alice.welcome["you"]]
    assert alice.history == {
        "type": "history",
        "messages": [],
        "has_more": False,
        "resumed": False,
        "reset": False,
        "query": None,
    }


async def test_history_holds_the_last_fifty_oldest_first(connect: Connect, room: Room) -> None:
    for i in range(1, 56):
        await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body=f"m{i}", client_id=None)
    alice = await connect("den")
    seqs = [m["seq"] for m in alice.history["messages"]]
    assert seqs == list(range(6, 56)) and alice.history["has_more"] is True
    assert alice.welcome["last_seq"] == 55


async def test_message_is_stored_then_broadcast_to_everyone_with_its_seq(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den"), await connect("den")
    await alice.send({"type": "message", "body": "hello <b>bob</b>", "client_id": "c1"})
    ack = await alice.expect("ack")
    to_alice, to_bob = await alice.expect("message"), await bob.expect("message")
    assert ack == {"type": "ack", "client_id": "c1", "seq": 1}
    assert to_alice == to_bob
    assert to_bob["body"] == "hello <b>bob</b>" and to_bob["seq"] == 1 and to_bob["client_id"] == "c1"
    assert to_bob["author"] == alice.welcome["you"] and to_bob["room"] == "den"
    assert await stored() == [(1, "hello <b>bob</b>")]


async def test_message_does_not_reach_another_room(connect: Connect, room: Room) -> None:
    await Room.objects.acreate(slug="attic", name="Attic")
    alice, elsewhere = await connect("den"), await connect("attic")
    await alice.send({"type": "message", "body": "den only"})
    await alice.expect("message")
    assert await elsewhere.silent(0.3)


async def test_resend_with_same_client_id_is_acked_with_same_seq_and_stored_once(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    for _ in range(2):
        await alice.send({"type": "message", "body": "once", "client_id": "dup"})
        assert (await alice.expect("ack"))["seq"] == 1
    assert await stored() == [(1, "once")]


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[]", "bad_request"),
        ('{"type": "message"}', "bad_request"),
        ('{"type": "message", "body": 3}', "bad_request"),
        ('{"type": "message", "body": "x", "client_id": 3}', "bad_request"),
        ('{"type": "shout", "body": "x"}', "unknown_type"),
        ('{"type": "message", "body": "   "}', "empty"),
        ('{"type": "message", "body": "' + "x" * 4001 + '"}', "too_long"),
        ('{"type": "history", "limit": 1000}', "bad_request"),
    ],
)
async def test_bad_input_gets_its_error_stores_nothing_and_keeps_the_socket(
    connect: Connect, room: Room, frame: str, code: str
) -> None:
    alice, bob = await connect("den"), await connect("den")
    await alice.send_text(frame)
    error = await alice.expect("error")
    assert error["code"] == code
    assert await stored() == []
    # Still open and serving: the next good message goes through to both.
    await alice.send({"type": "message", "body": "still here"})
    assert (await bob.expect("message"))["body"] == "still here"


async def test_a_huge_frame_is_refused_unparsed_and_the_socket_stays(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    await alice.send_text('{"type": "message", "body": "' + "x" * 200_000 + '"}')
    assert (await alice.expect("error"))["code"] == "too_long"
    await alice.send({"type": "message", "body": "small"})
    assert (await alice.expect("message"))["body"] == "small"
    assert await stored() == [(1, "small")]


async def test_binary_frame_is_refused_with_bad_request(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    await alice.comm.send_to(bytes_data=b"\x00\x01binary")
    assert (await alice.expect("error"))["code"] == "bad_request"
    await alice.send({"type": "message", "body": "ok"})
    assert (await alice.expect("message"))["seq"] == 1


async def test_unknown_room_is_accepted_then_closed_with_4404() -> None:
    comm = WebsocketCommunicator(application, "/ws/rooms/nowhere/", headers=[(b"origin", b"http://127.0.0.1")])
    connected, _ = await comm.connect()
    assert connected
    assert await comm.receive_output(2) == {"type": "websocket.close", "code": 4404}


@pytest.mark.parametrize("slug", ["den", "nowhere"])
async def test_a_worker_shutting_down_sends_every_newcomer_elsewhere_with_1012(room: Room, slug: str) -> None:
    # Even for a room that does not exist: 4404 is final for a client, 1012 only says "not here".
    shutting_down = worker.worker()
    shutting_down.closing = True
    try:
        comm = WebsocketCommunicator(application, f"/ws/rooms/{slug}/", headers=[(b"origin", b"http://127.0.0.1")])
        connected, _ = await comm.connect()
        assert connected
        assert await comm.receive_output(2) == {"type": "websocket.close", "code": worker.CLOSE_RESTARTING}
        assert slug not in shutting_down.rooms
    finally:
        shutting_down.closing = False


async def test_foreign_origin_is_rejected(room: Room) -> None:
    comm = WebsocketCommunicator(application, "/ws/rooms/den/", headers=[(b"origin", b"http://evil.example")])
    connected, _ = await comm.connect()
    assert not connected


async def test_archived_room_is_readable_but_refuses_messages(connect: Connect, room: Room) -> None:
    await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body="before", client_id=None)
    await Room.objects.filter(pk=room.pk).aupdate(archived=True)
    alice = await connect("den")
    assert alice.welcome["room"]["archived"] is True
    assert [m["body"] for m in alice.history["messages"]] == ["before"]
    await alice.send({"type": "message", "body": "after", "client_id": "c9"})
    error = await alice.expect("error")
    assert (error["code"], error["client_id"]) == ("read_only", "c9")
    assert await stored() == [(1, "before")]


async def test_rate_limit_refuses_a_flood_and_stores_only_what_it_allowed(connect: Connect, room: Room) -> None:
    with override_settings(CHAT_RATE_LIMIT="3/60"):
        alice = await connect("den")
        for i in range(5):
            await alice.send({"type": "message", "body": f"flood {i}", "client_id": f"f{i}"})
        frames = [await alice.recv() for _ in range(3 * 2 + 2)]
    errors = [f for f in frames if f["type"] == "error"]
    assert [e["code"] for e in errors] == ["rate_limited", "rate_limited"]
    assert [e["client_id"] for e in errors] == ["f3", "f4"] and all(e["retry_after"] > 0 for e in errors)
    assert [body for _, body in await stored()] == ["flood 0", "flood 1", "flood 2"]


async def test_the_rate_limit_is_one_budget_for_all_of_a_persons_tabs(connect: Connect, room: Room) -> None:
    session = SessionStore()
    session[GUEST_NAME_KEY] = "alice"  # as the room page leaves it
    await sync_to_async(session.create)()
    cookie = f"sessionid={session.session_key}"
    with override_settings(CHAT_RATE_LIMIT="3/60"):
        tabs = [await connect("den", cookie=cookie), await connect("den", cookie=cookie)]
        stranger = await connect("den")
        assert tabs[0].welcome["you"] == tabs[1].welcome["you"]  # one person: the same id
        assert (tabs[0].welcome["you"]["name"], tabs[0].welcome["you"]["guest"]) == ("alice", True)
        for i in range(3):
            await tabs[i % 2].send({"type": "message", "body": f"tab {i % 2}: {i}", "client_id": f"t{i}"})
            assert (await tabs[i % 2].expect("ack"))["seq"] == i + 1
        await tabs[1].send({"type": "message", "body": "tab 1: 3", "client_id": "t3"})
        refused = await tabs[1].expect("error")
        await stranger.send({"type": "message", "body": "someone else", "client_id": "s0"})
        assert (await stranger.expect("ack"))["seq"] == 4
    assert (refused["code"], refused["client_id"]) == ("rate_limited", "t3")
    assert [body for _, body in await stored()] == ["tab 0: 0", "tab 1: 1", "tab 0: 2", "someone else"]


async def test_presence_join_and_leave_reach_the_others(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    bob = await connect("den")
    joined = await alice.expect("presence")
    assert joined == {"type": "presence", "event": "join", "user": bob.welcome["you"], "online": 2}
    assert sorted(u["name"] for u in bob.welcome["online"]) == sorted(
        [alice.welcome["you"]["name"], bob.welcome["you"]["name"]]
    )
    await bob.close()
    left = await alice.expect("presence")
    assert left == {"type": "presence", "event": "leave", "user": bob.welcome["you"], "online": 1}


async def test_a_crowd_joining_and_leaving_costs_each_member_a_few_frames_not_one_each(
    connect: Connect, room: Room
) -> None:
    alice = await connect("den")
    crowd = [await connect("den") for _ in range(8)]
    names = {c.welcome["you"]["name"] for c in crowd}

    async def presence_until(done: Callable[[set[str]], bool], listed: set[str]) -> tuple[int, int]:
        frames = 0
        online = -1
        while not done(listed):
            frame = await alice.expect("presence")
            frames += 1
            online = frame["online"]
            changes = frame["changes"] if frame["event"] == "batch" else [frame]
            for change in changes:
                (listed.add if change["event"] == "join" else listed.discard)(change["user"]["name"])
        return frames, online

    listed: set[str] = set()
    frames, online = await presence_until(lambda seen: seen >= names, listed)
    assert (listed, online) == (names, 9)
    assert frames < len(crowd)  # the first at once, the rest together
    for member in crowd:
        await member.close()
    frames, online = await presence_until(lambda seen: not seen, listed)
    assert online == 1 and frames < len(crowd)


async def test_typing_reaches_the_others_not_the_typist_and_is_throttled(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den"), await connect("den")
    await alice.expect("presence")  # bob's join
    await alice.send({"type": "typing"})
    assert await bob.expect("typing") == {"type": "typing", "user": alice.welcome["you"]}
    await alice.send({"type": "typing"})
    assert await bob.silent(0.3)
    assert await alice.silent(0.1)


async def test_history_request_pages_backwards_and_fills_gaps(connect: Connect, room: Room) -> None:
    for i in range(1, 11):
        await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body=f"m{i}", client_id=None)
    alice = await connect("den")
    await alice.send({"type": "history", "before": 4, "limit": 2})
    page = await alice.expect("history")
    assert [m["seq"] for m in page["messages"]] == [2, 3] and page["has_more"] is True
    assert page["query"] == {"before": 4, "after": None, "limit": 2}
    await alice.send({"type": "history", "after": 6, "before": 9})
    gap = await alice.expect("history")
    assert [m["seq"] for m in gap["messages"]] == [7, 8] and gap["has_more"] is False


async def test_resume_after_sends_exactly_what_was_missed(connect: Connect, room: Room) -> None:
    for i in range(1, 8):
        await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body=f"m{i}", client_id=None)
    alice = await connect("den", query="after=4")
    assert [m["seq"] for m in alice.history["messages"]] == [5, 6, 7]
    assert (alice.history["resumed"], alice.history["reset"], alice.history["has_more"]) == (True, False, False)


async def test_resume_too_far_behind_resets_to_the_newest_page(connect: Connect, room: Room) -> None:
    with override_settings(CHAT_RESUME_LIMIT=3, CHAT_HISTORY_LIMIT=2):
        for i in range(1, 8):
            await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body=f"m{i}", client_id=None)
        alice = await connect("den", query="after=1")
    assert [m["seq"] for m in alice.history["messages"]] == [6, 7]
    assert (alice.history["resumed"], alice.history["reset"]) == (False, True)


async def test_messages_stored_during_replay_arrive_once_after_the_history(connect: Connect, room: Room) -> None:
    """A message stored while a joiner reads its history is neither lost nor doubled."""
    for i in range(1, 4):
        await sync_to_async(services.message_create)(room_id=room.pk, author=_ghost(), body=f"m{i}", client_id=None)
    sender = await connect("den")
    joiners = [Client("/ws/rooms/den/") for _ in range(5)]
    posting = [sender.send({"type": "message", "body": f"live {i}"}) for i in range(5)]
    await asyncio.gather(*(j.open() for j in joiners), *posting)
    try:
        for joiner in joiners:
            seqs: list[int] = []
            while len(set(seqs)) < 8:
                frame = await joiner.recv()
                if frame["type"] == "history":
                    seqs += [m["seq"] for m in frame["messages"]]
                elif frame["type"] == "message":
                    seqs.append(frame["seq"])
            assert sorted(seqs) == list(range(1, 9)), seqs
            assert await joiner.silent(0.1) or (await joiner.recv())["type"] == "presence"
    finally:
        for joiner in joiners:
            await joiner.close()


async def test_a_message_stored_after_the_history_was_read_but_before_the_join_ends_arrives_live(
    connect: Connect, room: Room, while_joining: WhileJoining
) -> None:
    """The history is read in the join's first trip: a message stored while presence is written must arrive live."""

    async def post_meanwhile(who: Any) -> None:
        message, _ = await sync_to_async(services.message_create)(
            room_id=room.pk, author=_ghost(), body="meanwhile", client_id=None
        )
        await broadcast.message_stored(message, room_slug="den")

    while_joining(post_meanwhile)
    alice = await connect("den")
    assert alice.history["messages"] == []
    assert (await alice.expect("message"))["body"] == "meanwhile"


async def test_broadcast_arriving_after_the_history_that_held_it_is_not_shown_twice(
    connect: Connect, room: Room
) -> None:
    """Stored, then read into a joiner's history, then its broadcast arrives: one copy only."""
    message, _ = await sync_to_async(services.message_create)(
        room_id=room.pk, author=_ghost(), body="late", client_id=None
    )
    alice = await connect("den")
    assert [m["seq"] for m in alice.history["messages"]] == [1]
    await broadcast.message_stored(message, room_slug="den")
    await broadcast.frame_send("den", protocol.deleted_frame(seq=99, change=1))  # a marker after it
    assert (await alice.recv())["type"] == "deleted"


async def test_deleting_a_message_in_the_admin_removes_it_live(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": "oops"})
    seq = (await alice.expect("message"))["seq"]
    await sync_to_async(services.message_delete)(messages=Message.objects.filter(room=room, seq=seq))
    assert await alice.expect("deleted") == {"type": "deleted", "seq": seq, "change": 1}
    assert await stored() == []


async def test_archiving_in_the_admin_reaches_open_pages(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    room.archived = True
    await sync_to_async(services.room_save)(room=room)
    frame = await alice.expect("room")
    assert frame["room"]["archived"] is True


def _ghost() -> protocol.Identity:  # type: ignore[name-defined]
    from chat.identity import Identity

    return Identity(key="g:ghost", name="ghost", guest=True)


async def test_deleting_a_room_closes_its_open_connections_with_4404(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den"), await connect("den")
    await Room.objects.acreate(slug="attic", name="Attic")
    elsewhere = await connect("attic")
    await sync_to_async(services.room_delete)(rooms=Room.objects.filter(slug="den"))
    for client in (alice, bob):
        assert await client.comm.receive_output(2) == {"type": "websocket.close", "code": protocol.Close.NO_ROOM}
    assert await elsewhere.silent(0.3)  # another room is not touched
    assert not await Room.objects.filter(slug="den").aexists()


async def test_a_connection_without_a_session_is_a_guest_without_a_trip_to_the_database_thread(
    connect: Callable[..., Awaitable[Client]], room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    import channels.auth

    looked_up: list[Any] = []
    resolve = channels.auth.get_user

    async def get_user(scope: Any) -> Any:
        looked_up.append(scope)
        return await resolve(scope)

    monkeypatch.setattr(channels.auth, "get_user", get_user)
    anonymous = await connect("den")
    assert anonymous.welcome["you"]["guest"] is True and looked_up == []
    # With a session the user is looked up as before.
    named = await connect("den", cookie=await guest_cookie("wren"))
    assert named.welcome["you"]["name"] == "wren" and len(looked_up) == 1
