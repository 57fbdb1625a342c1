"""What an attacker can send or store cannot break a room: real daphne workers, real Redis.

daphne refuses to send a WebSocket message over its 1 MiB limit and fails the connection (1011)
instead, so every frame the server builds must fit whatever the database holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from chat.protocol import Close
from tests import shapes
from tests.client import DIRECT, ORIGIN
from tests.servers import Site, site

pytestmark = [pytest.mark.integration, pytest.mark.database_agnostic]

DAPHNE_LIMIT = 1024 * 1024
# Each control character is six bytes of JSON ("\u0001"): 50 of these made a 1.2 MB first page.
POISON = "\u0001" * 3999 + "!"
FOX = "\U0001f98a" * 4000  # four bytes each in UTF-8: 400 of them made every catch-up page too big


@pytest.fixture(scope="module")
def deployment() -> Iterator[Site]:
    with site() as deployment:
        deployment.shell(_seed("poisoned", POISON, 50) + _seed("foxes", FOX, 400))
        deployment.add_worker()
        deployment.add_worker()
        yield deployment
        logs = deployment.logs()
        assert "Traceback" not in logs, logs[logs.find("Traceback") - 500 :][:3000]


def _seed(slug: str, body: str, count: int) -> str:
    """Django code that stores `count` messages as if they had been posted before any check existed."""
    return (
        "from django.utils import timezone\n"
        "from chat.models import Message, Room\n"
        f"room = Room.objects.create(slug={slug!r}, name={slug!r}, last_seq={count})\n"
        "Message.objects.bulk_create([Message(room=room, seq=i, author_key='g:old', author_name='old',"
        f" body={body!r}, sent_at=timezone.now()) for i in range(1, {count + 1})])\n"
    )


class Raw:
    """A WebSocket that records the size of every frame it gets (with no client-side limit)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sizes: list[int] = []

    async def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str)
        self.sizes.append(len(text.encode()))
        return shapes.check(orjson.loads(text))

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            frame = await self.recv()
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def until_closed(self, pause: float = 0.0) -> tuple[list[dict[str, Any]], int | None]:
        """Every frame until the server closes, `pause` s apart: the frames, and the close code it sent."""
        frames = []
        try:
            while True:
                frames.append(await self.recv())
                await asyncio.sleep(pause)
        except websockets.ConnectionClosed as closed:
            return frames, None if closed.rcvd is None else closed.rcvd.code

    async def catch_up(self) -> list[int]:
        """Welcome, then the history frames until one says nothing more is coming: their seqs."""
        await self.expect("welcome")
        seqs: list[int] = []
        while True:
            page = await self.expect("history")
            seqs += [m["seq"] for m in page["messages"]]
            if not page["has_more"] or not page["resumed"]:
                return seqs


async def _open(port: int, slug: str, query: str = "") -> Raw:
    url = f"ws://127.0.0.1:{port}/ws/rooms/{slug}/" + (f"?{query}" if query else "")
    return Raw(await websockets.connect(url, origin=ORIGIN, max_size=None, open_timeout=10))


async def test_a_room_poisoned_with_control_characters_still_lets_everyone_in(deployment: Site) -> None:
    for worker in deployment.workers:
        client = await _open(worker.port, "poisoned")
        try:
            welcome = await client.expect("welcome")
            page = await client.expect("history")
            seqs, last = [m["seq"] for m in page["messages"]], welcome["last_seq"]
            assert seqs == list(range(last + 1 - len(seqs), last + 1)) and page["has_more"] is True  # newest kept
            assert POISON in {m["body"] for m in page["messages"]}  # shown as stored, not altered
            await client.send({"type": "message", "body": "still here", "client_id": "ok-1"})
            assert (await client.expect("ack"))["seq"] == welcome["last_seq"] + 1
            assert max(client.sizes) < DAPHNE_LIMIT
            print(f"poisoned room, worker {worker.port}: largest frame {max(client.sizes)} bytes")
        finally:
            await client.ws.close()


async def test_the_poison_itself_is_refused_at_the_door(deployment: Site) -> None:
    client = await _open(deployment.workers[0].port, "poisoned")
    try:
        await client.catch_up()
        await client.send({"type": "message", "body": POISON, "client_id": "p-1"})
        error = await client.expect("error")
        assert (error["code"], error["client_id"]) == ("bad_text", "p-1")
        await client.send({"type": "message", "body": "a\u0000b", "client_id": "p-2"})
        assert (await client.expect("error"))["code"] == "bad_text"
    finally:
        await client.ws.close()


@pytest.mark.parametrize("after", [0, 300])
async def test_a_client_far_behind_in_a_room_of_huge_messages_catches_up_page_by_page(
    deployment: Site, after: int
) -> None:
    # One worker for the first connection, the other for the resume, as after a worker loss.
    client = await _open(deployment.workers[after % 2].port, "foxes", f"after={after}")
    try:
        seqs = await client.catch_up()
        assert seqs == list(range(after + 1, 401)), "every missed message exactly once, in order"
        assert len(client.sizes) > 3 and max(client.sizes) < DAPHNE_LIMIT
        print(f"resume after={after}: {len(client.sizes) - 1} history frames, largest {max(client.sizes)} bytes")
    finally:
        await client.ws.close()


async def test_history_requests_page_back_through_huge_messages_to_the_first(deployment: Site) -> None:
    client = await _open(deployment.workers[1].port, "foxes")
    try:
        await client.expect("welcome")
        seqs = [m["seq"] for m in (await client.expect("history"))["messages"]]
        requests = 0
        while seqs[0] > 1:
            requests += 1
            assert requests < 100, "paging must make progress"
            await client.send({"type": "history", "before": seqs[0], "limit": 100})
            page = await client.expect("history")
            assert page["messages"], "a page that is cut short still carries messages"
            older = [m["seq"] for m in page["messages"]]
            assert older[-1] == seqs[0] - 1 and page["has_more"] is (older[0] > 1)
            seqs = older + seqs
        assert seqs == list(range(1, 401)) and max(client.sizes) < DAPHNE_LIMIT
        await client.send({"type": "history", "after": 0, "limit": 100})
        forward = await client.expect("history")
        assert forward["messages"][0]["seq"] == 1 and forward["has_more"] is True
    finally:
        await client.ws.close()


# A burst meets the frame cap before the consumer answers. Paced at first, the flood gets tens of
# megabytes of history pages queued ahead of its close frame; a client that reads them slowly still
# gets the close frame and its code (cut after one second, it got a reset and lost them in CI).
# Without chat.transport, autobahn resets the connection 1 s after the close frame, read or not.
SLOW_READER = pytest.param(
    150, 0.03, id="slow-reader", marks=pytest.mark.skipif(not DIRECT, reason="needs chat.transport")
)


@pytest.mark.parametrize(("paced", "read_pause"), [pytest.param(0, 0.0, id="burst"), SLOW_READER])
async def test_a_history_flood_is_cut_off_and_the_worker_keeps_serving(
    deployment: Site, paced: int, read_pause: float
) -> None:
    worker = deployment.workers[0]
    flooder = await _open(worker.port, "foxes")
    await flooder.expect("history")
    frame = orjson.dumps({"type": "history", "limit": 100}).decode()
    started = time.monotonic()
    sent = 0
    with contextlib.suppress(websockets.ConnectionClosed):  # the server may hang up mid-flood
        for _ in range(2000):
            await flooder.ws.send(frame)
            sent += 1
            if sent <= paced:
                await asyncio.sleep(0.004)
    received, code = await flooder.until_closed(read_pause)
    assert code == Close.FLOOD
    # Cut off by the connection's frame cap (chat.transport) before most frames reach the consumer,
    # or, without daphne's internals, by the consumer's budget after a few rate_limited answers.
    kinds = [f["type"] if f["type"] != "error" else f["code"] for f in received]
    assert kinds.count("history") <= 80 and set(kinds) <= {"history", "rate_limited", "presence"}, kinds
    # Someone else on the same worker is served as usual, right away.
    newcomer = await _open(worker.port, "foxes")
    try:
        await newcomer.expect("history")
    finally:
        await newcomer.ws.close()
    elapsed = time.monotonic() - started
    print(f"history flood: {sent} of 2000 frames sent, {len(received)} answers, closed after {elapsed:.2f} s")


@pytest.mark.skipif(not DIRECT, reason="the close frame (not a dropped connection) needs chat.transport")
async def test_an_oversized_inbound_frame_is_closed_with_1009_not_dropped(deployment: Site) -> None:
    client = await _open(deployment.workers[0].port, "foxes")
    await client.expect("history")
    await client.ws.send("x" * (DAPHNE_LIMIT + 1))
    _, code = await client.until_closed()
    assert code == Close.TOO_BIG
