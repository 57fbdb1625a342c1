"""One rate budget per person, shared by every worker through real Redis."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis

from chat.ratelimit import RedisRateLimiter
from tests.servers import REDIS_URL, delete_prefix, free_port

pytestmark = pytest.mark.database_agnostic


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_prefix(REDIS_URL, prefix)


async def test_two_workers_spend_from_one_budget_per_person(prefix: str) -> None:
    one, two = (RedisRateLimiter(REDIS_URL, prefix, burst=3, per=60.0) for _ in range(2))
    assert [await one.take("g:alice"), await two.take("g:alice"), await one.take("g:alice")] == [0, 0, 0]
    assert 19.0 < await two.take("g:alice") <= 20.0  # one more every 20 s
    assert await one.take("u:7") == 0


async def test_the_budget_refills_and_its_key_expires(prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix, burst=1, per=0.5)
    assert await limiter.take("g:alice") == 0
    assert 0 < await limiter.take("g:alice") <= 0.5
    ttl_ms = redis.Redis.from_url(REDIS_URL).pttl(f"{prefix}:g:alice")
    assert 0 < ttl_ms <= 501  # a full budget leaves no key behind
    await asyncio.sleep(0.55)
    assert await limiter.take("g:alice") == 0


async def test_without_redis_each_worker_keeps_its_own_budget(caplog: pytest.LogCaptureFixture) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    limiter = RedisRateLimiter(nowhere, "t", burst=2, per=60.0)
    with caplog.at_level(logging.WARNING, logger="chat.ratelimit"):
        waits = [await limiter.take("g:alice") for _ in range(3)]
    assert waits[:2] == [0, 0] and waits[2] > 0
    assert len(caplog.records) == 1  # said once, not per message
