"""Channel layers whose group messages reach each worker once and its members without a hop.

The stock layers pay per recipient: the core Redis layer stores one copy per member, the pub/sub
layer queues, deserializes and dispatches one copy per member in its own task. Here a group message
is one PUBLISH; each worker decodes it once and hands the same dict to every local member.

Members are consumers as usual (`new_channel`, `group_add`, `group_send`, handlers named by
`type`). A consumer may also `attach` its `dispatch` to its channel: its messages are then
dispatched in the layer's receive task instead of travelling through a queue to the consumer's own.
Messages are shared between the members of a worker and must not be mutated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from channels.layers import BaseChannelLayer
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from chat import redisconn, shards

logger = logging.getLogger(__name__)

Message = dict[str, Any]
Sink = Callable[[Message], Awaitable[None]]


class LocalFanout(BaseChannelLayer):  # type: ignore[misc]
    """Channels, groups and delivery inside one process; subclasses carry messages between them."""

    # "direct": attach() and detach(); "reconnect_listeners": on_reconnect(). The consumer and the
    # worker use them where a layer offers them, and do without on the stock layers.
    extensions = ["groups", "flush", "direct", "reconnect_listeners"]

    def __init__(self, expiry: int = 60, capacity: int = 100, **kwargs: Any) -> None:
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)
        self.worker_id = uuid.uuid4().hex[:12]
        self._channels: set[str] = set()  # this process's live channels
        self._queues: dict[str, asyncio.Queue[Message]] = {}
        self._sinks: dict[str, Sink] = {}
        self._groups: dict[str, set[str]] = {}  # group -> its channels here
        self._memberships: dict[str, set[str]] = {}  # channel -> its groups
        self._reconnect_listeners: list[Callable[[], None]] = []
        self._background: set[asyncio.Task[None]] = set()

    # -- Channels API -------------------------------------------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = f"{prefix}.{self.worker_id}!{uuid.uuid4().hex}"
        self._channels.add(channel)
        return channel

    async def receive(self, channel: str) -> Message:
        self._channels.add(channel)
        queue = self._queue(channel)
        try:
            return await queue.get()
        except asyncio.CancelledError:
            # The consumer is going away; Channels has no "delete channel" call.
            self._forget(channel)
            raise

    async def flush(self) -> None:
        self._channels.clear()
        self._queues.clear()
        self._sinks.clear()
        self._groups.clear()
        self._memberships.clear()

    async def group_add(self, group: str, channel: str) -> None:
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        members = self._groups.get(group)
        if members is None:
            members = self._groups[group] = set()
            try:
                await self._watch_group(group)
            except BaseException:
                if not members:
                    self._groups.pop(group, None)
                raise
        members.add(channel)
        self._channels.add(channel)
        self._memberships.setdefault(channel, set()).add(group)

    async def group_discard(self, group: str, channel: str) -> None:
        self._memberships.get(channel, set()).discard(group)
        if self._leave(group, channel):
            await self._unwatch_group(group)

    def _leave(self, group: str, channel: str) -> bool:
        """Take the channel out of the group here; True if that emptied the group."""
        members = self._groups.get(group)
        if members is None:
            return False
        members.discard(channel)
        if members:
            return False
        del self._groups[group]
        return True

    # -- Direct dispatch ----------------------------------------------------------------------

    def attach(self, channel: str, sink: Sink) -> None:
        """Deliver this channel's messages by awaiting `sink` (normally the consumer's dispatch)."""
        self._sinks[channel] = sink

    def detach(self, channel: str) -> None:
        """The channel's consumer is gone: it leaves its groups and nothing more is kept for it."""
        self._forget(channel)

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call `listener` after the layer lost and regained its transport (messages may be lost)."""
        self._reconnect_listeners.append(listener)

    def local_members(self, group: str) -> frozenset[str]:
        return frozenset(self._groups.get(group, ()))

    # -- Local delivery -----------------------------------------------------------------------

    def _queue(self, channel: str) -> asyncio.Queue[Message]:
        queue = self._queues.get(channel)
        if queue is None:
            queue = self._queues[channel] = asyncio.Queue(maxsize=self.capacity)
        return queue

    def _forget(self, channel: str) -> None:
        # A consumer that failed half-way through joining (or was cancelled) must not stay a member:
        # its queue would fill and every broadcast would warn about it.
        self._channels.discard(channel)
        self._sinks.pop(channel, None)
        self._queues.pop(channel, None)
        for group in self._memberships.pop(channel, ()):
            if self._leave(group, channel):
                task = asyncio.ensure_future(self._unwatch_group(group))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _deliver(self, channel: str, message: Message) -> None:
        sink = self._sinks.get(channel)
        if sink is None:
            if channel not in self._channels:
                return  # gone: nobody will ever read it
            try:
                self._queue(channel).put_nowait(message)
            except asyncio.QueueFull:
                logger.warning("channel %s over capacity, message dropped", channel)
            return
        try:
            await sink(message)
        except Exception:
            # One broken member must not stop delivery to the others.
            logger.exception("delivery to %s failed", channel)

    async def _deliver_group(self, group: str, message: Message) -> None:
        members = self._groups.get(group)
        if members:
            # A member may leave (or a new one join) while earlier members are being served.
            for channel in tuple(members):
                await self._deliver(channel, message)

    def _notify_reconnect(self) -> None:
        for listener in tuple(self._reconnect_listeners):
            try:
                listener()
            except Exception:
                logger.exception("reconnect listener failed")

    async def _watch_group(self, group: str) -> None:
        """Start receiving the group's messages in this process."""

    async def _unwatch_group(self, group: str) -> None:
        """Stop receiving the group's messages in this process."""


class InMemoryFanoutChannelLayer(LocalFanout):
    """One process only: nothing leaves it. For development, tests and single-worker sites."""

    async def send(self, channel: str, message: Message) -> None:
        self.require_valid_channel_name(channel)
        await self._deliver(channel, _roundtrip(message))

    async def group_send(self, group: str, message: Message) -> None:
        self.require_valid_group_name(group)
        await self._deliver_group(group, _roundtrip(message))


def _roundtrip(message: Message) -> Message:
    # Same rules as over Redis: a message that cannot travel fails here too, and nobody shares
    # the sender's mutable dict.
    decoded: Message = orjson.loads(orjson.dumps(message))
    return decoded


class RedisFanoutChannelLayer(LocalFanout):
    """Redis pub/sub between workers: one PUBLISH per group message, one subscription per group.

    `url` names one Redis or several (shards, see chat.shards): a group lives on the shard of its
    key (a room's slug), and the worker keeps one subscriber per shard with its own reader,
    watchdog and reconnection, so a shard that fails stalls only the groups that live on it.

    Pub/sub delivers at most once: what is published while a worker is disconnected never reaches
    it. The chat protocol closes that gap with sequence numbers (see docs/protocol.md).
    """

    # How often each subscriber publishes to itself, and how long it waits for that ping to come
    # back before it declares its subscription dead and reconnects.
    watchdog_interval = 2.0
    watchdog_timeout = 6.0
    # How long a first group_add on another shard waits for the worker's own shard to listen.
    home_timeout = 1.0
    # How long group_add waits for Redis to confirm a subscription.
    subscribe_timeout = 5.0

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        prefix: str = "chat",
        expiry: int = 60,
        capacity: int = 100,
        **kwargs: Any,
    ) -> None:
        super().__init__(expiry=expiry, capacity=capacity, **kwargs)
        self.url = url
        self.prefix = prefix
        self.ring = shards.ring(url)
        # Shown by CLIENT LIST on every shard, so that an operator (or a test) can tell which worker it is.
        self.subscriber_name = f"{prefix}-sub-{self.worker_id}"
        self._subscribers = tuple(_Subscriber(self, index, shard) for index, shard in enumerate(self.ring.shards))
        self._group_prefix_len = len(f"{prefix}:g:")

    # -- Sending ------------------------------------------------------------------------------

    async def send(self, channel: str, message: Message) -> None:
        self.require_valid_channel_name(channel)
        worker = channel.partition("!")[0].rpartition(".")[2]
        # Through the shard the worker's id picks, where it listens from its first group on.
        home = self.ring.index(worker)
        payload = orjson.dumps([channel, message])
        await redisconn.client(self.ring.shards[home].url).publish(self._worker_channel(worker, home), payload)

    async def group_send(self, group: str, message: Message) -> None:
        self.require_valid_group_name(group)
        shard = self.ring.shards[self._shard_of(group)]
        await redisconn.client(shard.url).publish(self._group_channel(group), orjson.dumps(message))

    async def flush(self) -> None:
        await super().flush()
        await self.close()

    async def close(self) -> None:
        """Stop receiving (the publishing clients are shared, see chat.redisconn)."""
        for subscriber in self._subscribers:
            await subscriber.stop()

    # -- Receiving ----------------------------------------------------------------------------

    def _shard_of(self, group: str) -> int:
        return self.ring.index(shards.group_key(group))

    def _group_channel(self, group: str) -> str:
        return f"{self.prefix}:g:{group}"

    def _worker_channel(self, worker: str, shard: int) -> str:
        # One per shard: two shards may be databases of one server, and pub/sub ignores databases.
        return f"{self.prefix}:w:{worker}:{shard}"

    async def _watch_group(self, group: str) -> None:
        # Messages `send` to this worker arrive through the shard its id picks: listen there too.
        home = self._subscribers[self.ring.index(self.worker_id)]
        home.start()
        target = self._subscribers[self._shard_of(group)]
        await target.subscribe(self._group_channel(group))
        if home is not target and not home.listening():
            # On its own shard the worker's channel is confirmed with the group's (one SUBSCRIBE);
            # on another, wait for it too, briefly: a dead home shard must not stop joins elsewhere.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(home.until_listening(), timeout=self.home_timeout)

    async def _unwatch_group(self, group: str) -> None:
        subscriber = self._subscribers[self._shard_of(group)]
        await subscriber.unsubscribe(self._group_channel(group), unless=lambda: group in self._groups)

    async def _on_group_message(self, channel: bytes, data: bytes) -> None:
        group = channel[self._group_prefix_len :].decode()
        await self._deliver_group(group, orjson.loads(data))


class _Subscriber:
    """One shard's pub/sub connection, kept alive: its subscriptions, its reader and its watchdog."""

    def __init__(self, layer: RedisFanoutChannelLayer, index: int, shard: shards.Shard) -> None:
        self.layer = layer
        self.shard = shard
        self.channel = layer._worker_channel(layer.worker_id, index)
        self._channel_bytes = self.channel.encode()
        self._pubsub: aioredis.client.PubSub | None = None
        self._subscribed: dict[str, asyncio.Future[None]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._last_seen = 0.0
        self._lost = False
        self._lock = asyncio.Lock()

    def start(self) -> None:
        if self._reader is None:
            self._subscribed.setdefault(self.channel, asyncio.get_running_loop().create_future())
            self._reader = asyncio.create_task(self._read_forever(), name=f"fanout-reader-{self.shard.name}")
            self._watchdog = asyncio.create_task(self._watch(), name=f"fanout-watchdog-{self.shard.name}")

    def listening(self) -> bool:
        """Whether this worker's own channel on this shard is subscribed (confirmed by Redis)."""
        future = self._subscribed.get(self.channel)
        return future is not None and future.done()

    async def until_listening(self) -> None:
        """Return once this worker's own channel on this shard is subscribed."""
        while not self.listening():
            future = self._subscribed.get(self.channel)
            if future is None:
                return  # stopped
            await asyncio.shield(future)

    async def stop(self) -> None:
        for task in (self._watchdog, self._reader):
            if task is not None:
                task.cancel()
        for task in (self._watchdog, self._reader):
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watchdog = self._reader = None
        await self._reset()
        self._subscribed.clear()

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the subscription: later PUBLISHes will reach us."""
        self.start()
        # One subscription change at a time, so SUBSCRIBE and UNSUBSCRIBE reach Redis in order.
        async with self._lock:
            future = self._subscribed.get(channel)
            if future is None:
                future = self._subscribed[channel] = asyncio.get_running_loop().create_future()
                if self._pubsub is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._pubsub.subscribe(channel)  # On failure, the reconnect subscribes.
        # During an outage a joining consumer fails fast rather than waiting without end.
        await asyncio.wait_for(asyncio.shield(future), timeout=self.layer.subscribe_timeout)

    async def unsubscribe(self, channel: str, unless: Callable[[], bool]) -> None:
        """Drop the subscription, unless `unless()` says it is wanted again by the time it is our turn."""
        async with self._lock:
            if unless():
                return
            if self._subscribed.pop(channel, None) is not None and self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(channel)  # On failure, a reconnect drops it.

    async def _read_forever(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: reconnect
                if not self._lost:
                    # The connection had been confirmed: a new outage (a failover, say) is retried
                    # at once, not at the end of the back-off of an outage long over.
                    delay = 0.1
                logger.warning("redis pub/sub lost on %s (%s); reconnecting in %.1fs", self.shard.name, exc, delay)
            await self._reset()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _read(self) -> None:
        pubsub = self._pubsub = redisconn.subscriber(self.shard.url, self.layer.subscriber_name)
        async with self._lock:
            await pubsub.subscribe(*self._subscribed)
        self._last_seen = time.monotonic()
        async for item in pubsub.listen():
            self._last_seen = time.monotonic()
            if item["type"] == "message":
                await self._on_message(item["channel"], item["data"])
            elif item["type"] == "subscribe":
                channel: bytes = item["channel"]
                future = self._subscribed.get(channel.decode())
                if future is not None and not future.done():
                    future.set_result(None)
                if channel == self._channel_bytes and self._lost:
                    self._lost = False
                    logger.warning("redis pub/sub reconnected on %s", self.shard.name)
                    self.layer._notify_reconnect()

    async def _reset(self) -> None:
        """Forget the connection; every wanted subscription must be confirmed again."""
        self._lost = True
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await pubsub.connection_pool.disconnect()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
        for channel, future in list(self._subscribed.items()):
            if future.done():
                self._subscribed[channel] = asyncio.get_running_loop().create_future()

    async def _on_message(self, channel: bytes, data: bytes) -> None:
        if channel == self._channel_bytes:
            target, message = orjson.loads(data)
            if target is not None:  # None: the watchdog's ping
                await self.layer._deliver(target, message)
            return
        await self.layer._on_group_message(channel, data)

    async def _watch(self) -> None:
        """Publish to ourselves; a ping that does not come back means a dead subscription."""
        while True:
            await asyncio.sleep(self.layer.watchdog_interval)
            try:
                await redisconn.client(self.shard.url).publish(self.channel, b"[null,null]")
            except (RedisError, OSError):
                continue  # This shard is down: the reader is already reconnecting.
            timeout = self.layer.watchdog_timeout
            if time.monotonic() - self._last_seen > timeout and self._reader is not None:
                logger.warning("redis pub/sub silent on %s for %.0fs; reconnecting", self.shard.name, timeout)
                self._reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._reader
                await self._reset()
                self._last_seen = time.monotonic()
                self._reader = asyncio.create_task(self._read_forever(), name=f"fanout-reader-{self.shard.name}")
