"""This worker's counters, gauges and histograms, which /metrics serves to Prometheus.

Each daphne worker is its own process with its own registry, scraped on its own port
(docs/deployment.md, "Metrics"). The hooks below are what the consumer, the worker and chat.db
call; they are cheap enough for the paths they sit on, and their labels take a small fixed set of
values (codes and kinds, never room slugs or names), so the series count stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Literal, get_args

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import CounterMetricFamily, Metric

from chat.protocol import Close

# A `_created` series beside every counter doubles what is scraped and is read by no dashboard here.
disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped in prometheus_client

# Where the consumer and the worker catch a Redis failure (chat_redis_errors_total{where}).
RedisWhere = Literal["join", "leave", "broadcast", "ratelimit", "heartbeat", "presence"]
# The `error` frame codes of docs/protocol.md, and the budgets of chat.ratelimit (tests check both
# lists): their series exist from the start, so rate() over them works before the first refusal.
ERROR_CODES = (
    "bad_json",
    "bad_request",
    "unknown_type",
    "empty",
    "bad_text",
    "too_long",
    "read_only",
    "muted",
    "slow_mode",
    "forbidden",
    "not_found",
    "rate_limited",
    "unavailable",
    "internal",
)
RATE_LIMIT_KINDS = ("message", "history", "typing", "other")
# What RoomConsumer.close sends. 1009 is daphne's own, and 4012/4013 are only how 1012/1013 leave
# without chat.transport: they are counted as 1012/1013, which is what they mean.
CLOSE_CODES = tuple(
    code for code in Close if code not in (Close.TOO_BIG, Close.RESTARTING_FALLBACK, Close.TRY_AGAIN_FALLBACK)
)

# Stored to written is milliseconds when all is well (the commit included: sent_at is stamped
# before the insert); the upper buckets show a stall (a Redis outage, a worker that cannot keep up).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A free thread takes a call within a fraction of a millisecond; more means the pool is the queue.
POOL_WAIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

CONNECTIONS_OPEN = Gauge(
    "chat_connections_open", "Room WebSocket connections this worker holds, from the handshake to the end."
)
JOINS = Counter("chat_joins_total", "Connections that joined a room on this worker (welcome and history sent next).")
LEAVES = Counter("chat_leaves_total", "Connections that had joined a room on this worker and ended.")
MESSAGES_STORED = Counter(
    "chat_messages_stored_total",
    "Messages this worker stored (a re-sent post that found its first copy is not counted).",
)
BROADCAST_LATENCY = Histogram(
    "chat_broadcast_latency_seconds",
    "From a message's sent_at (when it was stored, on any worker) to when this worker wrote it to its first member.",
    buckets=LATENCY_BUCKETS,
)
FRAMES_REFUSED = Counter("chat_frames_refused_total", "Error frames this worker sent, by error code.", ["code"])
CLOSES = Counter("chat_closes_total", "Close codes this worker sent to clients, by code.", ["code"])
RATE_LIMITED = Counter(
    "chat_rate_limited_total", "Inbound frames refused by a budget (connection or person), by kind.", ["kind"]
)
REDIS_ERRORS = Counter(
    "chat_redis_errors_total", "Redis failures the consumer and heartbeat caught, by where.", ["where"]
)
REDIS_RECONNECTS = Counter("chat_redis_reconnects_total", "Times the channel layer lost and regained Redis pub/sub.")
DB_POOL_WAIT = Histogram(
    "chat_db_pool_wait_seconds",
    "Time a database call waited for a free thread of chat.db's pool before it started.",
    buckets=POOL_WAIT_BUCKETS,
)

for _code in ERROR_CODES:
    FRAMES_REFUSED.labels(_code)
for _close in CLOSE_CODES:
    CLOSES.labels(str(int(_close)))
for _kind in RATE_LIMIT_KINDS:
    RATE_LIMITED.labels(_kind)
for _where in get_args(RedisWhere):
    REDIS_ERRORS.labels(_where)


class _Deliveries:
    """chat_messages_delivered_total, and the latency sample taken on each message's first member."""

    # A broadcast reaches every member of a room, so this runs once per member: a prometheus
    # Counter's inc() (a lock, a float) would cost several times the rest of the write. A plain int
    # that only the event loop's thread adds to is read at scrape time instead.
    __slots__ = ("count", "last_sampled")

    NAME = "chat_messages_delivered_total"
    HELP = "Frames of broadcast messages this worker wrote to members (one per member per message)."

    def __init__(self) -> None:
        self.count = 0
        self.last_sampled: str | None = None

    def written(self, frame: str) -> None:
        self.count += 1
        # Every member of a delivery gets the same frame (the same object on the fan-out layers,
        # where this comparison is one pointer check): a new one is the message's first member here.
        if frame != self.last_sampled:
            self.last_sampled = frame
            BROADCAST_LATENCY.observe(_seconds_since_sent(frame))

    def describe(self) -> Iterable[Metric]:
        return [CounterMetricFamily(self.NAME, self.HELP)]

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.NAME, self.HELP, value=self.count)


def _seconds_since_sent(frame: str) -> float:
    sent_at = datetime.fromisoformat(orjson.loads(frame)["sent_at"]).timestamp()
    # Workers on other hosts read another clock: a skew that puts sent_at in the future is no
    # negative latency, and would only pull the sum down.
    return max(0.0, time.time() - sent_at)


_deliveries = _Deliveries()
REGISTRY.register(_deliveries)

# The text format Prometheus reads (the OpenMetrics one would be chosen by content negotiation,
# which no scraper here needs).
CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """Every metric of this process in Prometheus text format: the site's, and the process and GC ones."""
    return generate_latest(REGISTRY)


# -- Hooks --------------------------------------------------------------------------------------


def connection_opened() -> None:
    CONNECTIONS_OPEN.inc()


def connection_closed() -> None:
    CONNECTIONS_OPEN.dec()


def joined() -> None:
    JOINS.inc()


def left() -> None:
    LEAVES.inc()


def message_stored() -> None:
    MESSAGES_STORED.inc()


# Count one broadcast message frame written to one member: bound once, as it runs per member.
message_written = _deliveries.written


def frame_refused(code: str) -> None:
    FRAMES_REFUSED.labels(code).inc()


def closed(code: int) -> None:
    CLOSES.labels(str(int(code))).inc()


def rate_limited(kind: str) -> None:
    RATE_LIMITED.labels(kind).inc()


def redis_error(where: RedisWhere) -> None:
    REDIS_ERRORS.labels(where).inc()


def redis_reconnected() -> None:
    REDIS_RECONNECTS.inc()


def db_call_started(submitted: float) -> None:
    """Record the pool wait of a call submitted at `submitted` (time.monotonic()) that starts now."""
    DB_POOL_WAIT.observe(time.monotonic() - submitted)
