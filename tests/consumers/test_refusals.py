"""Bad input and failures the server survives: each gets an error frame or a documented close code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.test import override_settings

from chat import consumers, protocol, selectors, services, snapshots
from chat.identity import GUEST_NAME_KEY
from chat.models import Message, Room
from chat.protocol import Close
from tests.consumers.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[Client]]


async def stored() -> list[str]:
    return [m.body async for m in Message.objects.order_by("seq")]


@pytest.mark.parametrize("body", ["a\x00b", "\x01" * 10 + "!", "bell\x07", "\x9b[31m red", "\ufffe", "\U0010ffff"])
async def test_text_no_room_can_hold_is_refused_with_bad_text_and_not_stored(
    connect: Connect, room: Room, body: str
) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": body, "client_id": "c1"})
    error = await alice.expect("error")
    assert (error["code"], error["client_id"]) == ("bad_text", "c1")
    await alice.send({"type": "message", "body": "tab\tand\nnew line", "client_id": "c2"})
    assert (await alice.expect("ack"))["client_id"] == "c2"
    assert await stored() == ["tab\tand\nnew line"]


@pytest.mark.parametrize("client_id", ["a\x00b", "has space", "é", ""])
async def test_a_client_id_that_is_not_a_plain_token_is_refused(connect: Connect, room: Room, client_id: str) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": "hi", "client_id": client_id})
    assert (await alice.expect("error"))["code"] == "bad_request"
    assert await stored() == []


@pytest.mark.parametrize("body", ["\u200b", "\ufeff\u200d\u200e\u2060", " \u3164 ", "\u2800", "\u0301\u0301", "\n\t "])
async def test_a_body_of_only_invisible_characters_is_empty(connect: Connect, room: Room, body: str) -> None:
    alice = await connect("den")
    await alice.send({"type": "message", "body": body, "client_id": "c1"})
    assert (await alice.expect("error"))["code"] == "empty"
    assert await stored() == []


async def test_a_lone_surrogate_is_not_json_the_server_reads(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    await alice.send_text('{"type": "message", "body": "\\ud800"}')
    assert (await alice.expect("error"))["code"] == "bad_json"


@pytest.mark.parametrize(
    "bound", ['"before": 9223372036854775808', '"after": 18446744073709551616', '"before": -1', '"after": true']
)
async def test_history_bounds_outside_any_seq_are_refused(connect: Connect, room: Room, bound: str) -> None:
    alice = await connect("den")
    await alice.send_text('{"type": "history", ' + bound + "}")
    assert (await alice.expect("error"))["code"] == "bad_request"


async def test_a_resume_point_beyond_any_seq_starts_over(connect: Connect, room: Room) -> None:
    alice = await connect("den", query=f"after={2**70}")
    assert (alice.history["resumed"], alice.history["reset"]) == (False, False)


async def test_every_kind_of_frame_has_a_budget(connect: Connect, room: Room) -> None:
    with override_settings(CHAT_HISTORY_RATE_LIMIT="2/60", CHAT_TYPING_RATE_LIMIT="1/60", CHAT_OTHER_RATE_LIMIT="1/60"):
        alice = await connect("den")
        for _ in range(3):
            await alice.send({"type": "history", "limit": 1})
        kinds = [(await alice.recv())["type"] for _ in range(3)]
        assert kinds == ["history", "history", "error"]
        await alice.send({"type": "typing"})
        await alice.send({"type": "typing"})
        assert (await alice.expect("error"))["code"] == "rate_limited"
        await alice.send_text("not json")
        await alice.send_text("not json")
        codes = [(await alice.expect("error"))["code"] for _ in range(2)]
        assert codes == ["bad_json", "rate_limited"]


async def test_the_budgets_are_a_persons_not_only_a_connections(connect: Connect, room: Room) -> None:
    session = SessionStore()
    session[GUEST_NAME_KEY] = "alice"
    await sync_to_async(session.create)()
    cookie = f"sessionid={session.session_key}"
    with override_settings(CHAT_HISTORY_RATE_LIMIT="2/60"):
        tab1, tab2, stranger = (
            await connect("den", cookie=cookie),
            await connect("den", cookie=cookie),
            await connect("den"),
        )
        await tab1.send({"type": "history", "limit": 1})
        await tab2.send({"type": "history", "limit": 1})
        assert [(await tab1.expect("history"))["type"], (await tab2.expect("history"))["type"]] == ["history"] * 2
        await tab2.send({"type": "history", "limit": 1})  # the third of alice's, in her second tab
        assert (await tab2.expect("error"))["code"] == "rate_limited"
        await stranger.send({"type": "history", "limit": 1})
        assert (await stranger.recv())["type"] == "history"  # someone else: their own budget


async def test_a_flood_ends_in_rate_limited_then_4429_and_nothing_more_is_answered(
    connect: Connect, room: Room
) -> None:
    with override_settings(CHAT_HISTORY_RATE_LIMIT="3/60", CHAT_FLOOD_STRIKES=2):
        alice = await connect("den")
        for _ in range(50):
            await alice.send({"type": "history", "limit": 1})
        frames = []
        while True:
            output = await alice.comm.receive_output(2)
            if output["type"] == "websocket.close":
                break
            frames.append(output["text"])
    assert output["code"] == Close.FLOOD
    assert len(frames) == 3 + 2  # three answers, two rate_limited: the third refusal closes
    assert await alice.comm.receive_nothing(0.3)


async def test_a_post_whose_database_connection_is_lost_twice_gets_unavailable(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAT_ASYNC_DB = False  # on chat.db's threads; chat.asyncdb's own: tests/consumers/test_asyncdb.py
    alice = await connect("den")
    real = services.message_create
    calls: list[str] = []

    def lost(**kwargs: Any) -> Any:
        calls.append(kwargs["client_id"])
        if len(calls) <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(services, "message_create", lost)
    await alice.send({"type": "message", "body": "hello", "client_id": "c1"})
    error = await alice.expect("error")
    assert (error["code"], error["client_id"], error["retry_after"]) == ("unavailable", "c1", 1.0)
    assert calls == ["c1", "c1"]  # retried once: a client_id makes the post safe to repeat
    await alice.send({"type": "message", "body": "hello", "client_id": "c1"})  # as the page re-sends it
    assert (await alice.expect("ack"))["seq"] == 1
    assert await stored() == ["hello"]


async def test_a_post_without_client_id_is_not_retried_when_its_connection_is_lost(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.CHAT_ASYNC_DB = False
    alice = await connect("den")
    calls = []

    def lost(**kwargs: Any) -> Any:
        calls.append(1)
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(services, "message_create", lost)
    await alice.send({"type": "message", "body": "hello"})
    assert (await alice.expect("error"))["code"] == "unavailable"
    assert calls == [1]


async def test_a_read_that_fails_once_is_retried_on_a_new_connection(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await connect("den")
    real = selectors.message_page
    failures = [OperationalError("connection lost")]

    def flaky(**kwargs: Any) -> selectors.Page:
        if failures:
            raise failures.pop()
        return real(**kwargs)

    monkeypatch.setattr(selectors, "message_page", flaky)
    await alice.send({"type": "history", "limit": 5})
    assert (await alice.expect("history"))["messages"] == []


async def test_a_bug_while_handling_a_frame_costs_one_error_frame_not_the_connection(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await connect("den")

    def broken(**kwargs: Any) -> selectors.Page:
        raise RuntimeError("a bug")

    monkeypatch.setattr(selectors, "message_page", broken)
    await alice.send({"type": "history", "limit": 5})
    assert (await alice.expect("error"))["code"] == "internal"
    await alice.send({"type": "message", "body": "still open", "client_id": "c1"})
    assert (await alice.expect("ack"))["seq"] == 1


async def test_a_join_whose_database_does_not_answer_is_told_to_try_again(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: Any) -> Any:
        raise OperationalError("could not connect to server")

    # Both ways in: the room's first join on a worker reads its snapshot, the others read per join.
    monkeypatch.setattr(consumers, "_join_reads", down)
    monkeypatch.setattr(snapshots, "_read", down)
    alice = await connect("den", join=False)
    assert await alice.comm.receive_output(2) == {"type": "websocket.close", "code": Close.TRY_AGAIN}


async def test_a_frame_the_server_cannot_send_closes_with_4500_not_1011(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    consumer_sends: list[Any] = []

    class Refusing(Exception):
        pass

    # The consumer's own send, as daphne's refuses a message over its limit (PayloadExceededError).
    from chat.consumers import RoomConsumer

    original = RoomConsumer.send_frame

    async def send_frame(self: RoomConsumer, frame: str) -> None:
        real_send = self.base_send

        async def refusing(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send" and '"history"' in message.get("text", ""):
                raise Refusing("tried to send WebSocket message with size 2000000 exceeding payload limit")
            consumer_sends.append(message)
            await real_send(message)

        self.base_send = refusing
        await original(self, frame)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RoomConsumer, "send_frame", send_frame)
        await alice.send({"type": "history", "limit": 5})
        assert await alice.comm.receive_output(2) == {"type": "websocket.close", "code": Close.SEND_FAILED}
    assert protocol.Close.SEND_FAILED == 4500
