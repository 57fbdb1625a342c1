"""Two real daphne workers against the real Redis: a message crosses workers, and only its room."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
import websockets

from tests.servers import Site, site

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=False)]


@pytest.fixture(scope="module")
def two_workers() -> Iterator[Site]:
    with site() as deployment:
        deployment.shell("from chat.models import Room; Room.objects.create(slug='kitchen', name='Kitchen')")
        deployment.add_worker()
        deployment.add_worker()
        yield deployment


async def _connect(url: str) -> websockets.ClientConnection:
    return await websockets.connect(url, origin=websockets.Origin("http://127.0.0.1"))


async def _until(conn: websockets.ClientConnection, kind: str, timeout: float = 5.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await conn.recv())
            if frame["type"] == kind:
                return frame


async def test_message_reaches_room_member_on_other_worker_with_same_seq(two_workers: Site) -> None:
    one, two = two_workers.workers
    sender = await _connect(one.ws("lobby"))
    receiver = await _connect(two.ws("lobby"))
    elsewhere = await _connect(two.ws("kitchen"))
    try:
        for conn in (sender, receiver, elsewhere):
            await _until(conn, "history")
        await sender.send(json.dumps({"type": "message", "body": "across workers", "client_id": "x1"}))
        ack = await _until(sender, "ack")
        got = await _until(receiver, "message")
        assert got["body"] == "across workers"
        assert got["seq"] == ack["seq"]
        with pytest.raises(TimeoutError):
            await _until(elsewhere, "message", timeout=1.0)
    finally:
        for conn in (sender, receiver, elsewhere):
            await conn.close()
