"""Past one Redis: rooms sharded over two redis-servers, and a Redis Sentinel failover.

Every Redis here is a process of the test's own on a free loopback port (never the shared 6379),
killed with SIGKILL as a crash would, and stopped by PID at the end. Sites run with a 1 s heartbeat
and a 3 s presence TTL, so that recovery shows within seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis

from chat import shards
from chat.layers import RedisFanoutChannelLayer
from tests.client import CLOSE_TRY_AGAIN, ChatClient
from tests.integration.conftest import (
    Connect,
    NewGuest,
    RedisServer,
    SentinelCluster,
    Sink,
    kill_redis,
    layer_member,
)
from tests.integration.test_faults import assert_holds_exactly, wait_for_health
from tests.servers import FAST_CLIENTS, Site, site

pytestmark = [pytest.mark.integration, pytest.mark.database_agnostic]

HEARTBEAT = 1.0
PRESENCE_TTL = 3.0
SITE_ENV = {
    "CHAT_HEARTBEAT_SECONDS": str(HEARTBEAT),
    "CHAT_PRESENCE_TTL_SECONDS": str(PRESENCE_TTL),
}


def on_our_layer(deployment: Site) -> None:
    """Run the workers on chat.layers whatever layer the suite is run on (CHAT_TEST_CHANNEL_LAYER)."""
    # The shards of the room groups are this layer's; the stock ones take one plain URL here.
    deployment.env["CHAT_CHANNEL_LAYER"] = "fanout"


def rooms_by_shard(ring: shards.Ring, per_shard: int) -> list[list[str]]:
    """Room slugs that the ring puts on each shard, `per_shard` of each."""
    found: list[list[str]] = [[] for _ in ring.shards]
    for i in range(10_000):
        slug = f"room-{i}"
        rooms = found[ring.index(slug)]
        if len(rooms) < per_shard:
            rooms.append(slug)
        if all(len(rooms) == per_shard for rooms in found):
            return found
    raise AssertionError("the ring left a shard without rooms")


def sharded_url(servers: tuple[RedisServer, ...]) -> str:
    return ",".join(server.url for server in servers)


# -- The layer alone: two shards, two layers in this process -----------------------------------------


@pytest.fixture
async def layers(
    redis_shards: tuple[RedisServer, RedisServer],
) -> AsyncIterator[tuple[RedisFanoutChannelLayer, RedisFanoutChannelLayer]]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    one, two = (RedisFanoutChannelLayer(url=sharded_url(redis_shards), prefix=prefix) for _ in range(2))
    yield one, two
    await one.close()
    await two.close()


async def _member(layer: RedisFanoutChannelLayer, group: str) -> Sink:
    return (await layer_member(layer, group))[1]


def _group_channels(server: RedisServer, prefix: str) -> set[str]:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        return set(client.pubsub_channels(f"{prefix}:g:*"))
    finally:
        client.close()


async def test_a_rooms_group_is_subscribed_on_its_shard_only_and_delivered_across_workers(
    layers: tuple[RedisFanoutChannelLayer, RedisFanoutChannelLayer], redis_shards: tuple[RedisServer, RedisServer]
) -> None:
    one, two = layers
    (first, *_), (second, *_) = rooms_by_shard(one.ring, 1)
    sinks = {slug: await _member(two, f"room.{slug}") for slug in (first, second)}
    for slug, sink in sinks.items():
        await one.group_send(f"room.{slug}", {"type": "t", "room": slug})
        assert (await sink.next())["room"] == slug
    assert _group_channels(redis_shards[0], one.prefix) == {f"{one.prefix}:g:room.{first}"}
    assert _group_channels(redis_shards[1], one.prefix) == {f"{one.prefix}:g:room.{second}"}


async def test_send_reaches_a_worker_whose_rooms_are_all_on_another_shard_than_its_own(
    layers: tuple[RedisFanoutChannelLayer, RedisFanoutChannelLayer],
) -> None:
    one, _ = layers
    rooms = rooms_by_shard(one.ring, 1)
    for _ in range(20):  # workers with random ids: each shard is the own shard of some of them
        other = RedisFanoutChannelLayer(url=one.url, prefix=one.prefix)
        try:
            home = other.ring.index(other.worker_id)
            await _member(other, f"room.{rooms[1 - home][0]}")
            direct, sink = await other.new_channel(), Sink()
            other.attach(direct, sink)
            await one.send(direct, {"type": "direct", "home": home})
            assert await sink.next() == {"type": "direct", "home": home}
        finally:
            await other.close()


async def test_a_dead_shard_stalls_only_its_groups_and_its_return_is_announced(
    layers: tuple[RedisFanoutChannelLayer, RedisFanoutChannelLayer], redis_shards: tuple[RedisServer, RedisServer]
) -> None:
    one, two = layers
    two.subscribe_timeout = 1.0  # a join on the dead shard fails fast
    (alive, alive_later), (dead, dead_later) = rooms_by_shard(one.ring, 2)
    alive_sink, dead_sink = await _member(two, f"room.{alive}"), await _member(two, f"room.{dead}")
    reconnected = asyncio.Event()
    two.on_reconnect(reconnected.set)
    await asyncio.to_thread(kill_redis, redis_shards[1])
    try:
        # Longer than a watchdog period: the live shard's subscriber is not disturbed.
        for i in range(6):
            await one.group_send(f"room.{alive}", {"type": "t", "i": i})
            assert (await alive_sink.next(1.0))["i"] == i
            await asyncio.sleep(0.5)
        with pytest.raises((redis.RedisError, OSError)):
            await one.group_send(f"room.{dead}", {"type": "t"})
        await _member(two, f"room.{alive_later}")  # joining on the live shard does not wait for the dead one
        with pytest.raises(TimeoutError):
            await _member(two, f"room.{dead_later}")
        assert not reconnected.is_set()
    finally:
        await asyncio.to_thread(redis_shards[1].start)  # same port, empty: it keeps nothing
    await asyncio.wait_for(reconnected.wait(), 10)
    await one.group_send(f"room.{dead}", {"type": "t", "after": "restart"})
    assert (await dead_sink.next())["after"] == "restart"
    assert alive_sink.got.empty()


# -- Two shards under a real site ------------------------------------------------------------------


@pytest.fixture(scope="module")
def shard_site(redis_shards: tuple[RedisServer, RedisServer]) -> Iterator[tuple[Site, list[list[str]]]]:
    """A site on both servers, and two rooms on each shard."""
    url = sharded_url(redis_shards)
    rooms = rooms_by_shard(shards.ring(url), 2)
    # A budget that lets the tests send fast but keeps each person's key in Redis for a moment.
    with site(redis_url=url, CHAT_RATE_LIMIT="100/10", **SITE_ENV) as deployment:
        on_our_layer(deployment)
        deployment.shell(
            "from chat.models import Room\n"
            + "".join(f"Room.objects.create(slug={slug!r}, name={slug!r})\n" for slugs in rooms for slug in slugs)
        )
        yield deployment, rooms


def key_shard(ring: shards.Ring, prefix: str, key: str) -> int:
    """Where a key of the site belongs: presence and typing by room, rate limits and open sockets by person."""
    kind, _, rest = key.removeprefix(f"{prefix}:").partition(":")
    if kind == "p":  # p:<room>:users | names | u:<person> | typing:<person>
        return ring.index(rest.partition(":")[0])
    if kind == "rl":  # rl:<frame kind>:<person>, rl:connect:<address>
        return ring.index(rest.partition(":")[2])
    if kind == "socks":  # socks:<person>
        return ring.index(rest)
    raise AssertionError(f"a key nobody placed: {key}")


def site_keys(server: RedisServer, prefix: str) -> list[str]:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        return list(client.scan_iter(match=f"{prefix}:*", count=1000))
    finally:
        client.close()


async def live_between(sender: ChatClient, receiver: ChatClient, timeout: float = 1.0) -> bool:
    """Whether a message from `sender` reaches `receiver` as a live frame within `timeout`."""
    client_id = await sender.send("probe")
    await sender.wait_until(lambda: client_id in sender.acked, 5, "the probe's ack")
    seq = sender.acked[client_id]
    try:
        await receiver.wait_until(lambda: seq in live_seqs(receiver), timeout, "a live probe")
    except AssertionError:
        return False
    return True


def live_seqs(client: ChatClient) -> set[int]:
    """The seqs that reached this client as live broadcasts (not through a history page)."""
    return {frame["seq"] for frame in client.frames("message")}


@pytest.mark.timeout(180)
async def test_with_two_shards_a_dead_shard_stalls_only_its_rooms_and_its_rooms_lose_nothing(
    shard_site: tuple[Site, list[list[str]]],
    redis_shards: tuple[RedisServer, RedisServer],
    connect: Connect,
    new_guest: NewGuest,
    stored: Callable[[Site, str], Any],
) -> None:
    deployment, ((alive, alive_2), (dead, dead_2)) = shard_site
    prefix = deployment.env["CHAT_LAYER_PREFIX"]
    ring = shards.ring(deployment.env["REDIS_URL"])
    one, two = deployment.add_worker(), deployment.add_worker()
    async with asyncio.timeout(150):
        # Two people in each room, one on each worker.
        rooms: dict[str, list[ChatClient]] = {}
        for slug in (alive, alive_2, dead, dead_2):
            rooms[slug] = [await connect([w.port], slug, cookie=await new_guest(w.port)) for w in (one, two)]
        for slug, (a, b) in rooms.items():
            assert await live_between(a, b, 3) and await live_between(b, a, 3), f"no live delivery in {slug}"
        for client in rooms[alive] + rooms[dead]:
            for i in range(3):
                await client.send(f"burst {i}")
        for client in rooms[alive] + rooms[dead]:
            await client.wait_for_acks(5)

        # Every key the site holds is on its shard: rooms' on the room's, budgets on the person's.
        placed = {index: site_keys(server, prefix) for index, server in enumerate(redis_shards)}
        for index, keys in placed.items():
            assert [k for k in keys if key_shard(ring, prefix, k) != index] == [], f"misplaced on shard {index}"
        for index, slugs in enumerate(([alive, alive_2], [dead, dead_2])):
            assert {f"{prefix}:p:{slug}:users" for slug in slugs} <= set(placed[index])
        assert any(":rl:" in key for keys in placed.values() for key in keys), "no person's budget was seen"

        await asyncio.to_thread(kill_redis, redis_shards[1])
        try:
            before_outage = (await asyncio.to_thread(stored, deployment, dead)).last_seq
            # The live shard's rooms do not notice: every message is a live frame, at once.
            for i in range(10):
                for client in rooms[alive] + rooms[dead]:
                    await client.send(f"outage {i}")
                await asyncio.sleep(0.1)
            for client in rooms[alive] + rooms[dead]:
                await client.wait_for_acks(5)  # stored and acknowledged on either shard
            newcomer = await connect([one.port, two.port], alive_2)  # joining a live shard's room works
            assert await live_between(rooms[alive_2][0], newcomer)
            stalled = await connect([one.port, two.port], dead_2, start=False)
            joining = asyncio.create_task(stalled.start(timeout=60))
            await stalled.wait_until(
                lambda: CLOSE_TRY_AGAIN in stalled.close_codes, 10, "1013 in the dead shard's room"
            )
            # Redis is still there for the site: /healthz stays 200 while a shard is left.
            assert await wait_for_health((one, two), 200, 2) < 1

            alive_room = await asyncio.to_thread(stored, deployment, alive)
            dead_room = await asyncio.to_thread(stored, deployment, dead)
            for client in rooms[alive]:
                await client.wait_for_seqs(alive_room.last_seq, timeout=2)
                assert set(range(1, alive_room.last_seq + 1)) <= live_seqs(client), "a live shard's room stalled"
            for client in rooms[dead]:
                # No live frame from the dead shard, yet the heartbeat brings every stored message.
                during = set(range(before_outage + 1, dead_room.last_seq + 1))
                assert during.isdisjoint(live_seqs(client)), "the dead shard's room was live: wrong shard"
                await client.wait_for_seqs(dead_room.last_seq, timeout=3 * HEARTBEAT + 2)
        finally:
            await asyncio.to_thread(redis_shards[1].start)  # same port, empty: it keeps nothing
        up = time.monotonic()

        a, b = rooms[dead]
        # Short probes: a probe published before the subscriber is back is lost, and costs its timeout.
        while not (await live_between(a, b, 0.25) and await live_between(b, a, 0.25)):
            assert time.monotonic() - up < 15, "no live broadcast in the dead shard's room 15 s after it came back"
        recovered = time.monotonic() - up
        await joining
        for slug, clients in rooms.items():
            room = await asyncio.to_thread(stored, deployment, slug)
            assert room.seqs == list(range(1, room.last_seq + 1))
            for client in [*clients, *([newcomer] if slug == alive_2 else []), *([stalled] if slug == dead_2 else [])]:
                await client.wait_for_seqs(room.last_seq, timeout=5)
                assert_holds_exactly(client, room.last_seq)
            assert [c.reconnects for c in clients] == [0, 0], "a shard outage must not drop the WebSockets"
    print(f"\ndead shard: its rooms were live again {recovered:.2f}s after its redis-server came back")


# -- Redis Sentinel --------------------------------------------------------------------------------


def silences(clients: list[ChatClient], since: float) -> list[tuple[float, float]]:
    """Per client: (longest wait for a live message after `since`, when that wait ended), in seconds."""
    found = []
    for client in clients:
        times = [since, *sorted(r.at for r in client.received if r.frame["type"] == "message" and r.at > since)]
        gaps = [(later - earlier, later - since) for earlier, later in itertools.pairwise(times)]
        assert gaps, f"no live message after the kill: {client.describe()}"
        found.append(max(gaps))
    return found


@pytest.mark.timeout(180)
async def test_a_sentinel_failover_is_followed_without_a_restart_and_nothing_is_lost(
    sentinel_cluster: SentinelCluster, connect: Connect, new_guest: NewGuest, stored: Callable[[Site, str], Any]
) -> None:
    cluster = sentinel_cluster
    with site(redis_url=cluster.url, **FAST_CLIENTS, **SITE_ENV) as deployment:
        # The workers are configured as an operator would: where the sentinels are, and the name.
        deployment.env.pop("REDIS_URL")
        deployment.env.update(REDIS_SENTINELS=cluster.sentinel_addresses, REDIS_SENTINEL_MASTER=cluster.master)
        on_our_layer(deployment)
        deployment.shell("from chat.models import Room\nRoom.objects.create(slug='failover', name='Failover')\n")
        workers = deployment.add_worker(), deployment.add_worker()
        pids = [w.proc.pid for w in workers if w.proc is not None]
        async with asyncio.timeout(120):
            clients = [
                await connect([w.port], "failover", cookie=await new_guest(w.port)) for w in (*workers, *workers)
            ]
            assert await live_between(clients[0], clients[1], 3) and await live_between(clients[1], clients[0], 3)
            sending = asyncio.Event()
            sending.set()

            async def chatter(client: ChatClient, i: int) -> None:
                k = 0
                while sending.is_set():
                    await client.send(f"client {i} message {k}")
                    k += 1
                    await asyncio.sleep(0.1)

            talking = [asyncio.create_task(chatter(c, i)) for i, c in enumerate(clients)]
            try:
                await asyncio.sleep(1.5)
                await asyncio.to_thread(cluster.primary.kill)
                killed = time.monotonic()
                while await asyncio.to_thread(cluster.master_port) != cluster.replica.port:
                    assert time.monotonic() - killed < 30, "the sentinels did not promote the replica in 30 s"
                    await asyncio.sleep(0.1)
                promoted = time.monotonic() - killed
                while not (await live_between(clients[0], clients[1]) and await live_between(clients[3], clients[2])):
                    assert time.monotonic() - killed < 30, "no live broadcast 30 s after the primary died"
                await asyncio.sleep(1.0)  # and a little more traffic on the new primary
            finally:
                sending.clear()
                await asyncio.gather(*talking)
            for client in clients:
                await client.wait_for_acks(10)

            room = await asyncio.to_thread(stored, deployment, "failover")
            assert room.seqs == list(range(1, room.last_seq + 1))
            for client in clients:
                await client.wait_for_seqs(room.last_seq, timeout=5)
                assert_holds_exactly(client, room.last_seq)
                assert client.reconnects == 0, "a failover must not drop the WebSockets"
            # No worker was restarted, and both followed the promotion: they listen and write there.
            assert [w.proc.pid for w in workers if w.proc is not None and w.proc.poll() is None] == pids
            new_primary = cluster.replica.client()
            prefix = deployment.env["CHAT_LAYER_PREFIX"]
            listening = [c for c in new_primary.client_list() if c.get("name", "").startswith(f"{prefix}-sub-")]
            assert len(listening) == len(workers), "a worker's subscriber did not move to the new primary"
            expiries = new_primary.zrange(f"{prefix}:p:failover:users", 0, -1, withscores=True)
            assert expiries and max(score for _, score in expiries) > time.time(), "no presence on the new primary"

    waits = silences(clients, killed)
    longest = max(gap for gap, _ in waits)
    assert longest > 0.5, "the kill never stalled the room: was the primary in use?"
    print(
        f"\nsentinel failover: replica promoted {promoted:.2f}s after SIGKILL of the primary; the room was silent "
        f"for {longest:.2f}s (live again for every client {max(b for _, b in waits):.2f}s after the kill, "
        f"for the first {min(b for _, b in waits):.2f}s); every client holds 1..{room.last_seq}"
    )
