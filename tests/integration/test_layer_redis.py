"""The Redis fan-out layer against the real Redis: subscription, idle survival, reconnect."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from chat.layers import RedisFanoutChannelLayer
from tests.integration.conftest import layer_member
from tests.servers import REDIS_URL

pytestmark = [pytest.mark.integration, pytest.mark.database_agnostic]


@pytest.fixture
async def layers() -> AsyncIterator[tuple[RedisFanoutChannelLayer, RedisFanoutChannelLayer]]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    one = RedisFanoutChannelLayer(url=REDIS_URL, prefix=prefix)
    two = RedisFanoutChannelLayer(url=REDIS_URL, prefix=prefix)
    yield one, two
    await one.close()
    await two.close()


async def test_group_message_reaches_members_on_both_workers_once(layers: Any) -> None:
    one, two = layers
    _, a = await layer_member(one, "room.x")
    _, b = await layer_member(two, "room.x")
    _, c = await layer_member(two, "room.x")
    _, other = await layer_member(two, "room.y")
    await one.group_send("room.x", {"type": "room.frame", "n": 1})
    assert [await s.next() for s in (a, b, c)] == [{"type": "room.frame", "n": 1}] * 3
    await asyncio.sleep(0.2)
    assert all(s.got.empty() for s in (a, b, c, other))


async def test_message_sent_right_after_group_add_is_not_missed(layers: Any) -> None:
    """group_add returns only once Redis confirmed the subscription."""
    one, two = layers
    for i in range(20):
        _, sink = await layer_member(two, f"room.fresh{i}")
        await one.group_send(f"room.fresh{i}", {"type": "t", "i": i})
        assert (await sink.next())["i"] == i


async def test_send_to_a_channel_on_another_worker(layers: Any) -> None:
    one, two = layers
    channel, sink = await layer_member(two, "room.z")
    await one.send(channel, {"type": "direct", "v": 2})
    assert await sink.next() == {"type": "direct", "v": 2}


async def test_idle_subscriber_survives_longer_than_redis_py_8_timeout(layers: Any) -> None:
    """redis-py 8's default 5 s socket timeout killed idle pub/sub readers; ours must not die."""
    one, two = layers
    _, sink = await layer_member(two, "room.idle")
    reconnects: list[int] = []
    two.on_reconnect(lambda: reconnects.append(1))
    await asyncio.sleep(7.5)
    await one.group_send("room.idle", {"type": "t", "after": "idle"})
    assert (await sink.next())["after"] == "idle"
    assert reconnects == []


async def test_reader_reconnects_and_resubscribes_after_its_connection_is_killed(layers: Any) -> None:
    one, two = layers
    _, sink = await layer_member(two, "room.k")
    reconnected = asyncio.Event()
    two.on_reconnect(reconnected.set)
    killed = _kill_subscriber(two)
    assert killed == 1
    await asyncio.wait_for(reconnected.wait(), 10)
    await one.group_send("room.k", {"type": "t", "after": "reconnect"})
    assert (await sink.next())["after"] == "reconnect"


def _kill_subscriber(layer: RedisFanoutChannelLayer) -> int:
    """Kill exactly this layer's pub/sub connection (found by its client name), nobody else's."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ids = [c["id"] for c in client.client_list() if c.get("name") == layer.subscriber_name]
        for client_id in ids:
            client.client_kill_filter(_id=client_id)
        return len(ids)
    finally:
        client.close()
