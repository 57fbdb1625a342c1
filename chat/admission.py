"""Who may open a socket, shared by every worker: attempts per client address, open sockets per person.

Both are checked before a join costs anything (no subscription, no presence, no history read).
Without Redis, or while a shard is away, each worker counts on its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Iterable
from functools import cache
from typing import Any, cast

from django.conf import settings
from redis.exceptions import RedisError

from chat import ratelimit, redisconn, shards
from chat.identity import is_one_connection

logger = logging.getLogger(__name__)


def client_address(scope: dict[str, Any]) -> str:
    """The client's address: the peer's, or behind DJANGO_TRUSTED_PROXY_COUNT proxies, theirs in X-Forwarded-For.

    Each trusted proxy appends the address it was reached from, so the client is the entry that
    many places from the right; anything further left was written by the client and proves nothing.
    """
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    count: int = settings.TRUSTED_PROXY_COUNT
    if count:
        header = b",".join(value for name, value in scope.get("headers", ()) if name == b"x-forwarded-for")
        hops = [hop.strip() for hop in header.decode("latin-1").split(",") if hop.strip()]
        if len(hops) >= count:
            return str(hops[-count])
    return peer


def _exempt(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _exempt_networks(tuple(settings.CHAT_CONNECT_LIMIT_EXEMPT)))


@cache
def _exempt_networks(nets: tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(net, strict=False) for net in nets]


@cache
def _attempts() -> ratelimit.RateLimiter:
    burst, per = ratelimit.parse_rate(settings.CHAT_CONNECT_RATE_LIMIT)
    if settings.REDIS_URL:
        return ratelimit.RedisRateLimiter(settings.REDIS_URL, f"{settings.CHAT_LAYER_PREFIX}:rl:connect", burst, per)
    return ratelimit.LocalRateLimiter(burst, per)


async def attempt_wait(address: str) -> float:
    """Count a connection attempt from `address`: 0 if allowed, else the seconds until it would be."""
    if not address or _exempt(address):
        return 0.0
    return await _attempts().take(address)


# KEYS: the person's sockets (zset channel -> expiry). ARGV: channel, now, expiry, limit, ttl (ms).
_OPEN = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class OpenSockets:
    """Each person's open sockets, across workers; a killed worker's run out like its presence (TTL)."""

    def __init__(self, url: str, prefix: str, ttl: float, limit: int) -> None:
        self.ring = shards.ring(url) if url else None
        self.prefix, self.ttl, self.limit = prefix, ttl, limit
        self._local: dict[str, dict[str, float]] = {}

    def _key(self, person: str) -> str:
        return f"{self.prefix}:{person}"

    def _client(self, person: str) -> Any:
        assert self.ring is not None
        return redisconn.client(self.ring.shard(person).url)

    async def open(self, person: str, channel: str) -> bool:
        """Count a socket of `person`; False (and not counted) if they already have `limit` open."""
        if is_one_connection(person):
            return True  # a person for this socket only, with a key nobody can ask for again
        now = time.time()
        if self.ring is not None:
            try:
                args = (channel, now, now + self.ttl, self.limit, int(self.ttl * 1000))
                pending = self._client(person).eval(_OPEN, 1, self._key(person), *args)
                return bool(await cast("Awaitable[Any]", pending))
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("open sockets counted per worker: Redis did not answer: %r", exc)
        mine = {c: t for c, t in self._local.get(person, {}).items() if t > now}
        if channel not in mine and len(mine) >= self.limit:
            return False
        mine[channel] = now + self.ttl
        self._local[person] = mine
        return True

    async def close(self, person: str, channel: str) -> None:
        self._local.get(person, {}).pop(channel, None)
        if self.ring is not None and not is_one_connection(person):
            with contextlib.suppress(RedisError, OSError, TimeoutError):  # else it runs out with its TTL
                await cast("Awaitable[Any]", self._client(person).zrem(self._key(person), channel))

    async def refresh(self, sockets: Iterable[tuple[str, str]]) -> None:
        """Push the expiry of these (person, channel) sockets forward: the worker's heartbeat."""
        expiry = time.time() + self.ttl
        by_shard: dict[int, list[tuple[str, str]]] = {}
        for person, channel in sockets:
            if is_one_connection(person):
                continue
            if person in self._local and channel in self._local[person]:
                self._local[person][channel] = expiry
            if self.ring is not None:
                by_shard.setdefault(self.ring.index(person), []).append((person, channel))
        for entries in by_shard.values():
            pipe = self._client(entries[0][0]).pipeline(transaction=False)
            for person, channel in entries:
                pipe.zadd(self._key(person), {channel: expiry}, xx=True)
                pipe.pexpire(self._key(person), int(self.ttl * 1000))
            await pipe.execute()


@cache
def open_sockets() -> OpenSockets:
    return OpenSockets(
        settings.REDIS_URL,
        f"{settings.CHAT_LAYER_PREFIX}:socks",
        settings.CHAT_PRESENCE_TTL_SECONDS,
        settings.CHAT_MAX_SOCKETS_PER_PERSON,
    )
