from __future__ import annotations

import pytest

from chat import ratelimit
from chat.ratelimit import TokenBucket


def test_bucket_allows_a_burst_then_refuses_with_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])
    bucket = TokenBucket.from_setting("3/6")  # 3 messages, one more every 2 s
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(2.0)
    now[0] += 2.0
    assert bucket.take() == 0.0
    assert bucket.take() > 0
