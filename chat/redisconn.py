"""Redis clients, with every option that matters set explicitly.

redis-py 8 changed defaults under applications before (a 5 s socket timeout, pools of 100 that
raise "Too many connections"); nothing here relies on a default. Pools block for a free connection
instead of raising, because a mass disconnect sends hundreds of consumers to Redis at once.
"""

from __future__ import annotations

import asyncio
import weakref

from redis import asyncio as aioredis

MAX_CONNECTIONS = 50
# How long a command waits for a free pooled connection before failing.
POOL_TIMEOUT = 10.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aioredis.Redis]] = weakref.WeakKeyDictionary()


def client(url: str) -> aioredis.Redis:
    """This event loop's client for `url` (a client belongs to the loop that made it)."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    found = per_loop.get(url)
    if found is None:
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=POOL_TIMEOUT,
            socket_timeout=5.0,
            socket_connect_timeout=2.0,
            socket_keepalive=True,
            health_check_interval=30,
        )
        found = per_loop[url] = aioredis.Redis(connection_pool=pool)
    return found


def subscriber(url: str, name: str) -> aioredis.client.PubSub:
    """A dedicated pub/sub connection that waits for messages for as long as it takes."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=None,  # liveness is the layer's watchdog's job, not a read timeout's
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        max_connections=1,
        client_name=name,
    ).pubsub()
