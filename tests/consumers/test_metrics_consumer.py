"""What the room consumer and the worker count, through the full ASGI stack.

The registry is the process's: every test compares before and after, never absolute values.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from channels.layers import get_channel_layer
from django.test import override_settings
from prometheus_client import REGISTRY
from redis.exceptions import ConnectionError as RedisConnectionError

from chat import worker
from chat.models import Room
from chat.presence import presence
from tests.consumers.conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[Client]]

Key = tuple[str, tuple[tuple[str, str], ...]]


def key(name: str, **labels: str) -> Key:
    return name, tuple(sorted(labels.items()))


def read(which: Key) -> float:
    name, labels = which
    return REGISTRY.get_sample_value(name, dict(labels)) or 0.0


class Deltas:
    """How much each sample moved since this was made."""

    def __init__(self, *keys: Key) -> None:
        self.before = {k: read(k) for k in keys}

    def __call__(self) -> dict[Key, float]:
        return {k: read(k) - value for k, value in self.before.items()}


JOINS = key("chat_joins_total")
LEAVES = key("chat_leaves_total")
STORED = key("chat_messages_stored_total")
DELIVERED = key("chat_messages_delivered_total")
LATENCY = key("chat_broadcast_latency_seconds_count")
OPEN = key("chat_connections_open")


async def test_a_join_a_message_and_a_leave_each_move_their_counters_by_exactly_what_happened(
    connect: Connect, room: Room
) -> None:
    moved = Deltas(JOINS, LEAVES, STORED, DELIVERED, LATENCY)
    alice, bob = await connect("den"), await connect("den")
    assert moved() == {JOINS: 2, LEAVES: 0, STORED: 0, DELIVERED: 0, LATENCY: 0}
    await alice.send({"type": "message", "body": "hello", "client_id": "c1"})
    await alice.expect("message")
    await bob.expect("message")
    # One message, written to two members; its latency is sampled once on this worker, not per member.
    assert moved() == {JOINS: 2, LEAVES: 0, STORED: 1, DELIVERED: 2, LATENCY: 1}
    await bob.close()
    assert moved() == {JOINS: 2, LEAVES: 1, STORED: 1, DELIVERED: 2, LATENCY: 1}


async def test_a_re_sent_message_is_stored_and_counted_once(connect: Connect, room: Room) -> None:
    moved = Deltas(STORED, DELIVERED)
    alice = await connect("den")
    await alice.send({"type": "message", "body": "once", "client_id": "same"})
    await alice.expect("ack")
    await alice.expect("message")
    await alice.send({"type": "message", "body": "once", "client_id": "same"})  # its ack was lost, say
    assert (await alice.recv())["type"] == "ack"
    assert await alice.silent()
    assert moved() == {STORED: 1, DELIVERED: 1}


async def test_the_open_connections_gauge_counts_a_socket_until_it_closes(connect: Connect, room: Room) -> None:
    moved = Deltas(OPEN)
    alice = await connect("den")
    assert moved() == {OPEN: 1}
    await alice.close()
    assert moved() == {OPEN: 0}


async def test_a_frame_that_is_not_json_counts_as_refused_with_bad_json(connect: Connect, room: Room) -> None:
    bad_json = key("chat_frames_refused_total", code="bad_json")
    moved = Deltas(bad_json)
    alice = await connect("den")
    await alice.send_text("{not json")
    assert (await alice.expect("error"))["code"] == "bad_json"
    assert moved() == {bad_json: 1}


async def test_a_frame_over_its_budget_counts_as_rate_limited(connect: Connect, room: Room) -> None:
    limited = key("chat_rate_limited_total", kind="history")
    refused = key("chat_frames_refused_total", code="rate_limited")
    moved = Deltas(limited, refused)
    with override_settings(CHAT_HISTORY_RATE_LIMIT="1/60"):
        alice = await connect("den")
        await alice.send({"type": "history", "limit": 1})
        await alice.expect("history")
        assert moved() == {limited: 0, refused: 0}
        await alice.send({"type": "history", "limit": 1})
        assert (await alice.expect("error"))["code"] == "rate_limited"
    assert moved() == {limited: 1, refused: 1}


async def test_a_close_counts_its_code(connect: Connect) -> None:
    no_room = key("chat_closes_total", code="4404")
    moved = Deltas(no_room, JOINS)
    client = await connect("nowhere", join=False)
    assert (await client.comm.receive_output(2))["code"] == 4404
    assert moved() == {no_room: 1, JOINS: 0}


async def test_a_heartbeat_whose_redis_fails_counts_a_redis_error_and_still_beats(
    connect: Connect, room: Room, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = key("chat_redis_errors_total", where="heartbeat")
    moved = Deltas(errors)
    alice = await connect("den")

    async def refresh(*args: object) -> None:
        raise RedisConnectionError("refused")

    monkeypatch.setattr(presence(), "refresh", refresh)
    await worker.worker().beat()
    assert (await alice.expect("heartbeat"))["last_seq"] == 0
    assert moved() == {errors: 1}


async def test_a_layer_reconnect_is_counted(connect: Connect, room: Room) -> None:
    layer = get_channel_layer()
    if "reconnect_listeners" not in getattr(layer, "extensions", ()):
        pytest.skip("this layer cannot tell of its reconnects")
    reconnects = key("chat_redis_reconnects_total")
    moved = Deltas(reconnects)
    alice = await connect("den")  # the first member hooks the worker to its layer
    layer._notify_reconnect()
    assert moved() == {reconnects: 1}
    # The reconnect also wakes the heartbeat, which reads the room's last seq: its frame says the
    # read is over, so it cannot race the test database's teardown.
    assert (await alice.expect("heartbeat"))["last_seq"] == 0
