"""Properties of the room socket over arbitrary client frames (hypothesis), through the full ASGI stack.

Whatever a client sends (any text, any JSON, binary frames, valid requests with any Unicode in
them), each frame gets exactly the answer the protocol gives it, every answer is a well-formed
frame under daphne's frame limit, the socket stays usable, and whatever was stored reads back.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chat import presence, protocol, ratelimit, worker
from chat.models import Message, Room
from chat.protocol import HistoryQuery, PostMessage, ProtocolError, Typing
from chatsite.asgi import application
from tests import shapes
from tests.unit.test_protocol_properties import (
    ANY_CHAR,
    CLIENT_ID,
    DAPHNE_FRAME_LIMIT,
    HOSTILE_BODY,
    STORED_CHAR,
    frames,
    frames_with_a_wrong_field,
    storable,
    texts,
    typed_bodies,
)

pytestmark = pytest.mark.django_db(transaction=True)

# docs/protocol.md, "Error codes", and the codes the consumer adds (chat/consumers.py).
ERROR_CODES = {
    "bad_json",
    "bad_request",
    "unknown_type",
    "empty",
    "too_long",
    "bad_text",
    "read_only",
    "rate_limited",
    "unavailable",
    "internal",
}
CLOSE_CODES = {int(code) for code in protocol.Close}
HEADERS = [(b"origin", b"http://127.0.0.1")]
# Budgets no example comes near, so that every frame reaches the path its content leads to.
UNLIMITED = override_settings(
    CHAT_RATE_LIMIT="100000/1",
    CHAT_HISTORY_RATE_LIMIT="100000/1",
    CHAT_TYPING_RATE_LIMIT="100000/1",
    CHAT_OTHER_RATE_LIMIT="100000/1",
    CHAT_FLOOD_STRIKES=100000,
)
ROOMS = itertools.count(1)


class Closed(Exception):
    """The server closed the socket (with a code it documents)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the server closed the socket with {code}")
        self.code = code


async def next_frame(comm: WebsocketCommunicator, timeout: float = 5.0) -> dict[str, Any]:
    """The next frame the server sends, checked: well-formed, under the frame limit, a known error code."""
    try:
        output = await comm.receive_output(timeout)
    except TimeoutError:
        raise AssertionError(f"the server did not answer within {timeout} s") from None
    if output["type"] == "websocket.close":
        assert output.get("code") in CLOSE_CODES, output
        raise Closed(output["code"])
    assert output["type"] == "websocket.send" and set(output) == {"type", "text"}, output
    assert len(output["text"].encode("utf-8")) <= DAPHNE_FRAME_LIMIT
    frame = shapes.check(orjson.loads(output["text"]))
    if frame["type"] == "error":
        assert frame["code"] in ERROR_CODES, frame
    return frame


async def join(slug: str) -> tuple[WebsocketCommunicator, dict[str, Any], dict[str, Any]]:
    comm = WebsocketCommunicator(application, f"/ws/rooms/{slug}/", headers=HEADERS)
    connected, _ = await comm.connect()
    assert connected
    welcome, history = await next_frame(comm), await next_frame(comm)
    assert (welcome["type"], history["type"]) == ("welcome", "history")
    return comm, welcome, history


class ExpectedRoom:
    """What the room must hold after the frames sent so far: seq -> body, and each client_id's seq."""

    def __init__(self, *, archived: bool) -> None:
        self.archived = archived
        self.bodies: dict[int, str] = {}
        self.client_ids: dict[str, int] = {}
        self.last_seq = 0

    def page(self, query: HistoryQuery) -> tuple[list[int], bool]:
        seqs = [
            s
            for s in sorted(self.bodies)
            if (query.after is None or s > query.after) and (query.before is None or s < query.before)
        ]
        if query.after is not None:
            return seqs[: query.limit], len(seqs) > query.limit
        return seqs[-query.limit :], len(seqs) > query.limit


async def answer_matches(comm: WebsocketCommunicator, request: Any, model: ExpectedRoom) -> None:
    """Read the answers to one frame and check them against what the protocol says it gets."""
    event(type(request).__name__ + (f": {request.code}" if isinstance(request, ProtocolError) else ""))
    if isinstance(request, ProtocolError):
        error = await next_frame(comm)
        assert (error["type"], error["code"], error.get("client_id")) == ("error", request.code, request.client_id)
    elif isinstance(request, PostMessage) and model.archived:
        error = await next_frame(comm)
        assert (error["type"], error["code"], error.get("client_id")) == ("error", "read_only", request.client_id)
    elif isinstance(request, PostMessage):
        repeat = request.client_id in model.client_ids
        if request.client_id is not None:
            ack = await next_frame(comm)
            seq = model.client_ids.get(request.client_id, model.last_seq + 1)
            assert ack == {"type": "ack", "client_id": request.client_id, "seq": seq}, ack
        if not repeat:
            message = await next_frame(comm)
            model.last_seq += 1
            assert (message["type"], message["seq"]) == ("message", model.last_seq), message
            assert (message["body"], message["client_id"]) == (request.body, request.client_id)
            model.bodies[model.last_seq] = request.body
            if request.client_id is not None:
                model.client_ids[request.client_id] = model.last_seq
    elif isinstance(request, HistoryQuery):
        page = await next_frame(comm)
        assert page["type"] == "history", page
        assert page["query"] == {"before": request.before, "after": request.after, "limit": request.limit}
        expected, more = model.page(request)
        got = [m["seq"] for m in page["messages"]]
        # Cut by size at most: keeping the oldest when paging forward, the newest when paging back.
        kept = expected[: len(got)] if request.after is not None else expected[len(expected) - len(got) :]
        assert got == kept and (got or not expected), (got, expected)
        assert page["has_more"] is (more or len(got) < len(expected))
        assert [m["body"] for m in page["messages"]] == [model.bodies[s] for s in got]
    else:
        assert isinstance(request, Typing)  # relayed to the others only: nothing comes back


def expected_request(frame: str | bytes) -> Any:
    """The request a frame makes, or the refusal it earns (from the parser, tested on its own)."""
    if isinstance(frame, bytes):
        return ProtocolError("bad_request", "binary")
    try:
        return protocol.parse_inbound(frame, max_body=django_settings.CHAT_MAX_BODY)
    except ProtocolError as error:
        return error


CLIENT_IDS = st.none() | st.sampled_from(["a", "b", "c"]) | st.from_regex(CLIENT_ID, fullmatch=True)
VALID_FRAMES = st.one_of(
    st.fixed_dictionaries(
        {"type": st.just("message"), "body": typed_bodies(300) | HOSTILE_BODY | st.sampled_from(["", " \n", "\u200b"])},
        optional={"client_id": CLIENT_IDS},
    ),
    st.fixed_dictionaries(
        {"type": st.just("history")},
        optional={
            "before": st.none() | st.integers(0, 12),
            "after": st.none() | st.integers(0, 12),
            "limit": st.integers(1, protocol.MAX_HISTORY_PAGE),
        },
    ),
    st.just({"type": "typing"}),
)
INBOUND = st.one_of(
    texts(ANY_CHAR, 70_000),  # any text at all, lone surrogates included (the test client sends them as they are)
    st.builds(json.dumps, frames() | frames_with_a_wrong_field(), ensure_ascii=st.booleans()),
    st.builds(json.dumps, VALID_FRAMES, ensure_ascii=st.booleans()),
    st.builds(json.dumps, VALID_FRAMES, ensure_ascii=st.booleans()),
    st.binary(max_size=64),
)
# A room's name and topic come from the admin: anything but NUL, which PostgreSQL does not store.
ROOM_TEXT = st.text(STORED_CHAR.filter(lambda c: c != "\x00"), min_size=1, max_size=100)


@pytest.fixture
def unlimited() -> Iterator[None]:
    with UNLIMITED:
        yield


def fresh_worker() -> None:
    """A new layer, presence store, rate limiter and registry for each example, as tests/conftest.py gives each test."""
    channel_layers.backends.clear()
    for made in (presence.presence, ratelimit.limiter, worker.worker):
        made.cache_clear()


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    sent=st.lists(INBOUND, min_size=1, max_size=8),
    name=ROOM_TEXT,
    topic=ROOM_TEXT,
    archived=st.sampled_from([False, False, False, True]),
)
async def test_any_frames_get_their_answers_keep_the_socket_and_store_only_what_reads_back(
    unlimited: None, caplog: pytest.LogCaptureFixture, sent: list[str | bytes], name: str, topic: str, archived: bool
) -> None:
    fresh_worker()
    caplog.clear()
    room = await Room.objects.acreate(slug=f"prop-{next(ROOMS)}", name=name, topic=topic, archived=archived)
    model = ExpectedRoom(archived=archived)
    comm, welcome, _ = await join(room.slug)
    try:
        assert (welcome["room"]["name"], welcome["room"]["topic"]) == (name, topic)
        for frame in [*sent, '{"type": "message", "body": "still here", "client_id": "last-word"}']:
            received = {"type": "websocket.receive", "bytes" if isinstance(frame, bytes) else "text": frame}
            await comm.send_input(received)
            try:
                await answer_matches(comm, expected_request(frame), model)
            except Closed as closed:
                pytest.fail(f"{closed} after {frame[:200]!r}")
        assert await comm.receive_nothing(0.05)
    finally:
        await comm.disconnect()
    stored = {m.seq: m.body async for m in Message.objects.filter(room=room)}
    assert stored == model.bodies
    assert all(storable(body) for body in stored.values())
    await every_stored_message_reads_back(room.slug, stored)
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not failures, [r.getMessage() for r in failures]


async def every_stored_message_reads_back(slug: str, stored: dict[int, str]) -> None:
    """A newcomer gets a sound welcome and history, and pages back through every stored message."""
    comm, welcome, history = await join(slug)
    try:
        assert welcome["last_seq"] == max(stored, default=0)
        read = {m["seq"]: m["body"] for m in history["messages"]}
        while history["has_more"]:
            oldest = min(m["seq"] for m in history["messages"])
            await comm.send_input(
                {"type": "websocket.receive", "text": json.dumps({"type": "history", "before": oldest})}
            )
            history = await next_frame(comm)
            assert history["messages"], "a page that says has_more must carry something"
            read |= {m["seq"]: m["body"] for m in history["messages"]}
        assert read == stored
    finally:
        await comm.disconnect()


async def frames_until_closed(comm: WebsocketCommunicator) -> tuple[list[dict[str, Any]], int]:
    received = []
    while True:
        try:
            received.append(await next_frame(comm))
        except Closed as closed:
            return received, closed.code


# Each flood: the frame, the kind of budget it spends, and the frame type of its answer (None: none).
FLOODS = {
    "history": ('{"type": "history"}', "history", "history"),
    "garbage": ("not json", "other", "error"),
    "typing": ('{"type": "typing"}', "typing", None),
    "message": ('{"type": "message", "body": "spam"}', "message", "message"),
}


@pytest.fixture
def stopped_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Budgets that do not refill during the test, however slowly the machine serves it."""
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(monotonic=lambda: 1000.0))


@pytest.mark.parametrize("kind", FLOODS)
async def test_a_flood_is_answered_then_refused_then_closed_with_4429_and_answered_no_more(
    stopped_clock: None, kind: str
) -> None:
    """300 frames of one kind sent without reading, at the default budgets."""
    text, budget, answer = FLOODS[kind]
    burst, _ = ratelimit.frame_rates()[budget]
    strikes = django_settings.CHAT_FLOOD_STRIKES
    await Room.objects.acreate(slug="flood", name="Flood")
    comm, _, _ = await join("flood")
    try:
        for _ in range(300):
            await comm.send_input({"type": "websocket.receive", "text": text})
        received, code = await frames_until_closed(comm)
        assert code == protocol.Close.FLOOD
        assert await comm.receive_nothing(0.5), "answered after closing"
    finally:
        await comm.disconnect()
    # Served while the budget lasts, refused `strikes` times (each saying when to come back), then let go.
    answers, refusals = received[: len(received) - strikes], received[len(received) - strikes :]
    assert [f["type"] for f in answers] == ([answer] * burst if answer else [])
    assert [(f["type"], f["code"]) for f in refusals] == [("error", "rate_limited")] * strikes
    assert all(f["retry_after"] > 0 for f in refusals)
    # Nothing for the other frames of the 300 (the budgets come from settings: no fixed count here).
    assert len(received) == (burst if answer else 0) + strikes < 300
    # The worker goes on serving everyone else.
    other, _, history = await join("flood")
    await other.disconnect()
    assert history["type"] == "history"
