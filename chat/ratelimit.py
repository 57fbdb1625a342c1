"""Rate limits: for every kind of frame, one budget per person and one per connection.

"N/S" allows a burst of N frames, refilled at N/S a second; each kind of inbound frame has its own
(FRAME_RATE_SETTINGS: messages, history requests, typing, and "other" for every frame that is
refused or of a kind added later). A person's budget is keyed by the identity's key (a user, or a
guest's session), so ten tabs do not make ten budgets. With Redis it lives there and every worker
spends from the same one (GCRA: one key per person and kind holding the time at which their budget
is full again, on Redis's own clock; with several Redis, on the person's shard, see chat.shards);
without Redis it lives in this process, which is then the whole site. If Redis (or the person's
shard) does not answer, each worker falls back to its own budgets rather than refusing every frame
or letting every frame through.

A connection's own budgets (ConnectionLimits) are checked first, in memory: a socket that floods
is refused without a trip to Redis, and one that goes on sending refused frames is let go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from functools import cache
from typing import Any, Protocol, cast

from django.conf import settings
from redis.exceptions import RedisError

from chat import redisconn, shards

logger = logging.getLogger(__name__)


def parse_rate(value: str) -> tuple[int, float]:
    """Parse "N/S" (N messages per S seconds) into (N, S)."""
    count, _, seconds = value.partition("/")
    try:
        burst, per = int(count), float(seconds or 1)
    except ValueError:
        burst, per = 0, 0.0
    if burst < 1 or per <= 0:
        raise ValueError(f"rate limit {value!r}: expected N/S with N >= 1 and S > 0")
    return burst, per


class TokenBucket:
    """Allows `burst` messages at once, refilled at `burst / per` messages a second."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, burst: int, per: float) -> None:
        self.burst = burst
        self.rate = burst / per
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    def take(self) -> float:
        """Spend a token; return 0 if allowed, else the seconds until one is available."""
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate

    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.burst

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now


class RateLimiter(Protocol):
    async def take(self, key: str) -> float:
        """Spend one message of `key`'s budget: 0 if allowed, else the seconds until it would be."""
        ...


class LocalRateLimiter:
    """Budgets in this process's memory. Full budgets are forgotten (a new one is the same)."""

    PRUNE_ABOVE = 10_000

    def __init__(self, burst: int, per: float) -> None:
        self.burst, self.per = burst, per
        self._buckets: dict[str, TokenBucket] = {}

    async def take(self, key: str) -> float:
        return self.take_now(key)

    def take_now(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.PRUNE_ABOVE:
                self._buckets = {k: b for k, b in self._buckets.items() if not b.full()}
            bucket = self._buckets[key] = TokenBucket(self.burst, self.per)
        return bucket.take()


# KEYS: the person's key. ARGV: emission interval (us), burst. Returns 0, or the wait in us.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local full_at = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
local wait = full_at - now - (burst - 1) * interval
if wait > 0 then return wait end
full_at = full_at + interval
redis.call('SET', KEYS[1], full_at, 'PX', math.ceil((full_at - now) / 1000) + 1)
return 0
"""


class RedisRateLimiter:
    """Budgets in Redis, shared by every worker, each person's on their shard; local while it is away."""

    def __init__(self, url: str, prefix: str, burst: int, per: float) -> None:
        self.url = url
        self.ring = shards.ring(url)
        self.prefix = prefix
        self.burst = burst
        self.interval_us = round(per / burst * 1_000_000)
        self.fallback = LocalRateLimiter(burst, per)
        self._degraded: set[int] = set()  # shards that did not answer last time

    async def take(self, key: str) -> float:
        index = self.ring.index(key)
        shard = self.ring.shards[index]
        client = redisconn.client(shard.url)
        try:
            # redis-py types eval() as sync-or-async; this client is the async one.
            pending = client.eval(_TAKE, 1, f"{self.prefix}:{key}", self.interval_us, self.burst)
            wait_us = int(await cast("Awaitable[Any]", pending))
        except (RedisError, OSError, TimeoutError) as exc:
            if index not in self._degraded:
                self._degraded.add(index)
                logger.warning("rate limits kept per worker until Redis %s answers again: %r", shard.name, exc)
            return self.fallback.take_now(key)
        if index in self._degraded:
            self._degraded.discard(index)
            logger.info("rate limits shared through Redis %s again", shard.name)
        return wait_us / 1_000_000


# Each kind of inbound frame, and the setting that holds its "N/S".
FRAME_RATE_SETTINGS = {
    "message": "CHAT_RATE_LIMIT",
    "history": "CHAT_HISTORY_RATE_LIMIT",
    "typing": "CHAT_TYPING_RATE_LIMIT",
    "other": "CHAT_OTHER_RATE_LIMIT",
}


def frame_rates() -> dict[str, tuple[int, float]]:
    """Each frame kind's budget from settings; ValueError names the setting that is wrong."""
    return _parsed_rates(tuple(getattr(settings, name) for name in FRAME_RATE_SETTINGS.values()))


@cache
def _parsed_rates(values: tuple[str, ...]) -> dict[str, tuple[int, float]]:
    # Read at every connection; parsed once per set of values (tests change the settings).
    rates = {}
    for (kind, name), value in zip(FRAME_RATE_SETTINGS.items(), values, strict=True):
        try:
            rates[kind] = parse_rate(value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return rates


@cache
def limiter(kind: str = "message") -> RateLimiter:
    """The process's rate limiter for one kind of frame: shared through Redis when the site has it."""
    burst, per = frame_rates()[kind]
    if settings.REDIS_URL:
        return RedisRateLimiter(settings.REDIS_URL, f"{settings.CHAT_LAYER_PREFIX}:rl:{kind}", burst, per)
    return LocalRateLimiter(burst, per)


class ConnectionLimits:
    """One connection's budgets, per kind of frame, and its patience with refused frames.

    Every refused frame is a strike; `strikes` of them within STRIKE_SECONDS and the connection is
    flooding: the consumer closes it (4429) instead of answering each frame.
    """

    STRIKE_SECONDS = 10.0

    __slots__ = ("_buckets", "_rates", "_strike_limit", "_strikes")

    def __init__(self, rates: dict[str, tuple[int, float]], strikes: int) -> None:
        # Buckets are made full at their first use, which is what they would be if made at the
        # connect: most connections send nothing for long stretches, and some never.
        self._rates = rates
        self._buckets: dict[str, TokenBucket] = {}
        self._strike_limit = strikes
        self._strikes: TokenBucket | None = None

    def take(self, kind: str) -> float:
        """Spend one frame of `kind`: 0 if allowed, else the seconds until it would be."""
        bucket = self._buckets.get(kind)
        if bucket is None:
            bucket = self._buckets[kind] = TokenBucket(*self._rates[kind])
        return bucket.take()

    def strike(self) -> bool:
        """Count a refused frame; True once the connection has had too many."""
        if self._strikes is None:
            self._strikes = TokenBucket(self._strike_limit, self.STRIKE_SECONDS)
        return self._strikes.take() > 0
