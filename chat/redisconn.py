"""Redis clients, with every option that matters set explicitly, for one shard each (chat.shards).

redis-py 8 changed defaults under applications before (a 5 s socket timeout, pools of 100 that
raise "Too many connections"); nothing here relies on a default. Pools block for a free connection
instead of raising, because a mass disconnect sends hundreds of consumers to Redis at once.

A shard behind Redis Sentinel gets the same clients through `Sentinel.master_for`: every new
connection asks the sentinels for the current primary, and a connection that breaks (the primary
died) is replaced by one to whichever server they name next, so a failover needs no restart. Such a
client fails like a down Redis until the sentinels have promoted a replica.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

import redis
import redis.sentinel
from redis import asyncio as aioredis
from redis.asyncio import sentinel as aiosentinel

from chat import shards

MAX_CONNECTIONS = 50
# How long a command waits for a free pooled connection before failing.
POOL_TIMEOUT = 10.0
# Talking to a sentinel is one short command; a sentinel that does not answer quickly is skipped
# for the next one (without this, redis-py would use the subscriber's "wait forever").
SENTINEL_OPTIONS = {"socket_timeout": 1.0, "socket_connect_timeout": 1.0, "socket_keepalive": True}

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = weakref.WeakKeyDictionary()
_sentinels: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[tuple[str, int], ...], aiosentinel.Sentinel]
] = weakref.WeakKeyDictionary()


class _BlockingSentinelPool(aiosentinel.SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Finds the primary through Sentinel, and waits for a free connection like the plain pools."""


def client(url: str) -> aioredis.Redis:
    """This event loop's client for one shard's URL (a client belongs to the loop that made it)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(url)
    if found is None:
        shard = shards.parse_shard(url)
        options: dict[str, Any] = {
            "max_connections": MAX_CONNECTIONS,
            "timeout": POOL_TIMEOUT,
            "socket_timeout": 5.0,
            "socket_connect_timeout": 2.0,
            "socket_keepalive": True,
            "health_check_interval": 30,
        }
        if shard.master:
            found = _master(shard, connection_pool_class=_BlockingSentinelPool, **options)
        else:
            found = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(url, **options))
        per_loop[url] = found
    return found


def subscriber(url: str, name: str) -> aioredis.client.PubSub:
    """A dedicated pub/sub connection to one shard that waits for messages for as long as it takes."""
    shard = shards.parse_shard(url)
    options: dict[str, Any] = {
        "socket_timeout": None,  # liveness is the layer's watchdog's job, not a read timeout's
        "socket_connect_timeout": 2.0,
        "socket_keepalive": True,
        "max_connections": 1,
        "client_name": name,
    }
    if shard.master:
        return _master(shard, **options).pubsub()
    return aioredis.Redis.from_url(url, **options).pubsub()


def sync_client(url: str) -> redis.Redis:
    """A blocking client for one shard's URL, for code outside the event loop (views)."""
    shard = shards.parse_shard(url)
    options: dict[str, Any] = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
    if not shard.master:
        return redis.Redis.from_url(url, **options)
    # redis-py leaves the blocking Sentinel client untyped.
    sentinel = redis.sentinel.Sentinel(list(shard.sentinels), sentinel_kwargs=SENTINEL_OPTIONS)  # type: ignore[no-untyped-call]
    master: redis.Redis = sentinel.master_for(shard.master, **_credentials(shard), **options)  # type: ignore[no-untyped-call]
    return master


def _master(shard: shards.Shard, **options: Any) -> aioredis.Redis:
    per_loop = _sentinels.setdefault(asyncio.get_running_loop(), {})
    sentinel = per_loop.get(shard.sentinels)
    if sentinel is None:
        sentinel = per_loop[shard.sentinels] = aiosentinel.Sentinel(  # type: ignore[no-untyped-call]
            list(shard.sentinels), sentinel_kwargs=SENTINEL_OPTIONS
        )
    master: aioredis.Redis = sentinel.master_for(shard.master, **_credentials(shard), **options)
    return master


def _credentials(shard: shards.Shard) -> dict[str, Any]:
    return {"db": shard.db, "username": shard.username, "password": shard.password}
