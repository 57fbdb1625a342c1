from __future__ import annotations

import pytest
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from chat import ratelimit
from chat.ratelimit import LocalRateLimiter, TokenBucket, parse_rate

pytestmark = pytest.mark.database_agnostic


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    return now


def test_bucket_allows_a_burst_then_refuses_with_the_wait(clock: list[float]) -> None:
    bucket = TokenBucket(*parse_rate("3/6"))  # 3 messages, one more every 2 s
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(2.0)
    clock[0] += 2.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0


@pytest.mark.parametrize("value", ["0/10", "5/0", "-1/3", "many/10", ""])
def test_a_rate_that_allows_nothing_or_is_not_n_per_s_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="expected N/S"):
        parse_rate(value)


def test_one_budget_per_key(clock: list[float]) -> None:
    limiter = LocalRateLimiter(2, 10)
    assert [limiter.take_now("g:alice") for _ in range(2)] == [0.0, 0.0]
    assert limiter.take_now("g:alice") == pytest.approx(5.0)
    assert limiter.take_now("u:7") == 0.0


def test_only_full_budgets_are_forgotten_when_there_are_many(
    clock: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LocalRateLimiter, "PRUNE_ABOVE", 3)
    limiter = LocalRateLimiter(1, 10)
    limiter.take_now("spent")
    clock[0] += 10  # "spent" is full again; the three below are spent now
    limiter.take_now("old")
    limiter.take_now("fresh")
    limiter.take_now("newcomer")  # the fourth key: full budgets are dropped first
    assert set(limiter._buckets) == {"old", "fresh", "newcomer"}
    assert limiter.take_now("old") > 0  # still spent: not forgotten


def test_a_broken_rate_limit_setting_stops_the_site_at_start_up() -> None:
    broken = override_settings(CHAT_RATE_LIMIT="20 per minute")
    with broken, pytest.raises(ImproperlyConfigured, match="CHAT_RATE_LIMIT"):
        apps.get_app_config("chat").ready()
