"""A worker process's connections, and its duties towards them.

Every CHAT_HEARTBEAT_SECONDS, for each room with members here: keep their presence alive, announce
users whose connections expired (a killed worker's), and tell each member the room's last seq so
that a client notices any broadcast it missed. On a graceful shutdown, ask every client to
reconnect elsewhere (close code 1012) before the process goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from chat import admission, broadcast, db, metrics, protocol, selectors
from chat.presence import presence
from chat.snapshots import RoomSnapshots

if TYPE_CHECKING:
    from chat.consumers import RoomConsumer

logger = logging.getLogger(__name__)


CLOSE_RESTARTING = protocol.Close.RESTARTING
# Time for the close frames to leave the socket buffers before the process exits.
SHUTDOWN_GRACE_SECONDS = 0.5
# Presence changes that follow one another this closely in a room go out together (Worker.announce).
PRESENCE_WINDOW_SECONDS = 0.25

User = dict[str, Any]


class _Changes:
    """A room's presence changes of one window, netted per user: leave + join is no news."""

    def __init__(self) -> None:
        # person's id -> (event, user, how many changes, exclude); in order of each person's last change.
        self.by_user: dict[str, tuple[str, User, int, str | None]] = {}
        self.online = 0

    def add(self, event: str, user: User, online: int, exclude: str | None) -> None:
        key = user.get("id") or user["name"]  # a person, not a name (an entry from an older worker has no id)
        earlier = self.by_user.pop(key, None)
        self.by_user[key] = (event, user, (earlier[2] if earlier else 0) + 1, exclude)
        self.online = online

    def frames(self) -> tuple[list[str], str | None]:
        """The frames that say it all (none when nothing changed after all), and whom to leave out."""
        net = [(event, user, exclude) for event, user, count, exclude in self.by_user.values() if count % 2]
        if len(net) == 1:
            event, user, exclude = net[0]
            return [protocol.presence_frame(event=event, user=user, online=self.online)], exclude
        changes = [(event, user) for event, user, _ in net]
        return (protocol.presence_batch_frames(changes=changes, online=self.online) if changes else []), None


class Worker:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.rooms: dict[str, dict[str, RoomConsumer]] = {}
        self._online: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._hooked = False
        self.closing = False
        # Rooms whose presence window is open: changes wait there to go out together.
        self._windows: dict[str, _Changes] = {}
        self._flushers: set[asyncio.Task[None]] = set()
        self._snapshots: RoomSnapshots | None = None

    @property
    def snapshots(self) -> RoomSnapshots:
        """What this worker holds of the rooms live on it, for joins (made with the first join)."""
        if self._snapshots is None:
            self._snapshots = RoomSnapshots()
        return self._snapshots

    def register(self, slug: str, consumer: RoomConsumer) -> bool:
        """Serve this consumer's room; False once the worker is shutting down (send it away)."""
        if self.closing:
            return False
        self.rooms.setdefault(slug, {})[consumer.channel_name] = consumer
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.create_task(self._run(), name="chat-heartbeat")
        if not self._hooked:
            self._hooked = True
            layer = get_channel_layer()
            if "reconnect_listeners" in getattr(layer, "extensions", ()):
                # After a pub/sub outage, tell clients the last seq now rather than in a while.
                layer.on_reconnect(self.wake)
                layer.on_reconnect(metrics.redis_reconnected)
            self._hook_shutdown()
        return True

    async def announce(self, slug: str, event: str, user: User, online: int, exclude: str | None = None) -> None:
        """Tell the room that `user` joined or left (all but the channel `exclude`).

        In a quiet room the frame goes out at once. Changes that follow within
        PRESENCE_WINDOW_SECONDS wait and go out together, netted (a reconnect is no news), so that
        hundreds of joins to a big room cost each member a few frames, not hundreds.
        """
        window = self._windows.get(slug)
        if window is not None:
            window.add(event, user, online, exclude)
            return
        self._windows[slug] = _Changes()
        flusher = asyncio.create_task(self._flush_windows(slug), name=f"chat-presence-{slug}")
        self._flushers.add(flusher)
        flusher.add_done_callback(self._flushers.discard)
        await broadcast.frame_send(
            slug, protocol.presence_frame(event=event, user=user, online=online), exclude=exclude
        )

    async def _flush_windows(self, slug: str) -> None:
        try:
            while True:
                await asyncio.sleep(PRESENCE_WINDOW_SECONDS)
                window = self._windows[slug]
                if not window.by_user:
                    return  # a quiet window: the next change goes out at once
                self._windows[slug] = _Changes()
                frames, exclude = window.frames()
                try:
                    for frame in frames:
                        await broadcast.frame_send(slug, frame, exclude=exclude)
                except (RedisError, OSError) as exc:
                    metrics.redis_error("presence")
                    # The heartbeat still corrects the count; the list catches up with the next change.
                    logger.warning("presence changes of %s not sent: %r", slug, exc)
        finally:
            # Whatever ends this task, the room must not be left with a window nobody flushes.
            self._windows.pop(slug, None)

    def unregister(self, slug: str, consumer: RoomConsumer) -> None:
        members = self.rooms.get(slug)
        if members is not None:
            members.pop(consumer.channel_name, None)
            if not members:
                del self.rooms[slug]
        self.release(slug)

    def release(self, slug: str) -> None:
        """A connection to the room is gone (or was refused): with nobody left here, stop holding the room."""
        if slug not in self.rooms and self._snapshots is not None:
            self._snapshots.forget(slug)

    def _hook_shutdown(self) -> None:
        # Under daphne, Twisted runs "before shutdown" triggers on SIGTERM/SIGINT and waits for
        # the Deferreds they return; daphne then cancels the applications. Elsewhere: nothing to do.
        reactor = sys.modules.get("twisted.internet.reactor")
        if reactor is None:
            return
        from twisted.internet.defer import Deferred

        reactor.addSystemEventTrigger(
            "before", "shutdown", lambda: Deferred.fromFuture(asyncio.ensure_future(self.close_all()))
        )

    async def close_all(self) -> None:
        """Ask every client to reconnect (to another worker) and give the frames time to leave."""
        # From now on newcomers are sent away too, or they would be welcomed by a dying worker.
        self.closing = True
        if settings.CHAT_DRAIN_SECONDS > 0:
            # /readyz says 503 from now on: a load balancer that polls it stops sending clients here
            # before the ones here are asked to go, so they do not come back to a dying worker.
            logger.info("shutdown: draining for %.1f s before closing connections", settings.CHAT_DRAIN_SECONDS)
            await asyncio.sleep(settings.CHAT_DRAIN_SECONDS)
        consumers = [c for members in self.rooms.values() for c in members.values()]
        for consumer in consumers:
            await consumer.close(CLOSE_RESTARTING)
        if consumers:
            logger.info("shutdown: asked %d clients to reconnect", len(consumers))
            await asyncio.sleep(SHUTDOWN_GRACE_SECONDS)

    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                await self.beat()
            except Exception:
                logger.exception("heartbeat failed")

    async def beat(self) -> None:
        slugs = list(self.rooms)
        if not slugs:
            return
        last_seqs = await db.run(selectors.room_last_seqs, slugs=slugs)
        for slug, last_seq in last_seqs.items():
            self.snapshots.check(slug, last_seq)
        try:
            sockets = [(c.identity.key, c.channel_name) for members in self.rooms.values() for c in members.values()]
            await admission.open_sockets().refresh(sockets)
        except (RedisError, OSError) as exc:
            metrics.redis_error("heartbeat")
            logger.warning("open sockets not refreshed: %s", exc)
        for slug in slugs:
            members = self.rooms.get(slug)
            if not members:
                continue
            try:
                await presence().refresh(slug, [(c.identity, c.channel_name) for c in members.values()])
                gone, online = await presence().sweep(slug)
                self._online[slug] = online
                for user in gone:
                    await self.announce(slug, "leave", user, online)
            except (RedisError, OSError) as exc:
                metrics.redis_error("heartbeat")
                logger.warning("presence of %s not refreshed: %s", slug, exc)
            frame = protocol.heartbeat_frame(last_seq=last_seqs.get(slug, 0), online=self._online.get(slug, 0))
            for consumer in tuple(members.values()):
                await consumer.send_frame(frame)


@cache
def worker() -> Worker:
    return Worker(settings.CHAT_HEARTBEAT_SECONDS)
