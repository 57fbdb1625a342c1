"""The in-process half of the fan-out layer: channels, groups, direct delivery."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat.layers import InMemoryFanoutChannelLayer

pytestmark = pytest.mark.database_agnostic


async def test_group_message_reaches_each_attached_member_once_as_the_same_dict() -> None:
    layer = InMemoryFanoutChannelLayer()
    got: list[tuple[str, dict[str, Any]]] = []
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:

        async def sink(message: dict[str, Any], channel: str = channel) -> None:
            got.append((channel, message))

        layer.attach(channel, sink)
        await layer.group_add("room.a", channel)
    await layer.group_send("room.a", {"type": "t", "n": 1})
    assert sorted(c for c, _ in got) == sorted(channels)
    assert len({id(m) for _, m in got}) == 1  # decoded once, shared


async def test_a_detached_member_leaves_its_groups_and_gets_nothing_queued() -> None:
    layer = InMemoryFanoutChannelLayer()
    stays, goes = await layer.new_channel(), await layer.new_channel()
    got: list[dict[str, Any]] = []

    async def sink(message: dict[str, Any]) -> None:
        got.append(message)

    layer.attach(stays, sink)
    layer.attach(goes, sink)
    for channel in (stays, goes):
        await layer.group_add("room.a", channel)
    layer.detach(goes)  # e.g. its consumer failed half-way through joining
    assert layer.local_members("room.a") == {stays}
    for i in range(150):
        await layer.group_send("room.a", {"type": "t", "i": i})
    await layer.send(goes, {"type": "direct"})
    assert len(got) == 150
    assert goes not in layer._queues


async def test_a_plain_consumer_receives_through_its_queue() -> None:
    layer = InMemoryFanoutChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("room.b", channel)
    await layer.group_send("room.b", {"type": "t"})
    assert await asyncio.wait_for(layer.receive(channel), 1) == {"type": "t"}


async def test_the_last_member_leaving_empties_the_group() -> None:
    layer = InMemoryFanoutChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("room.c", channel)
    await layer.group_discard("room.c", channel)
    assert layer.local_members("room.c") == frozenset()
    assert "room.c" not in layer._groups
