"""Message rate limits: a token bucket per connection."""

from __future__ import annotations

import time


class TokenBucket:
    """Allows `burst` messages at once, refilled at `burst / per` messages a second."""

    __slots__ = ("_stamp", "_tokens", "burst", "rate")

    def __init__(self, burst: int, per: float) -> None:
        self.burst = burst
        self.rate = burst / per
        self._tokens = float(burst)
        self._stamp = time.monotonic()

    @classmethod
    def from_setting(cls, value: str) -> TokenBucket:
        """Parse "N/S": N messages per S seconds."""
        count, _, seconds = value.partition("/")
        return cls(int(count), float(seconds or 1))

    def take(self) -> float:
        """Spend a token; return 0 if allowed, else the seconds until one is available."""
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate
