"""What a worker holds of a room that is live on it: enough to let people in without the database.

A join needs the room's row, the joiner's rights in it and the newest page of history. For a room
with members on this worker, those are read once, when the first of them joins, and kept current by
the room's own broadcasts, which reach the worker anyway: a watcher channel in the room's group sees
each of them once. Every later join reads nothing (chat.consumers); the database answers only the
first join, and resumes, which page forward from where the client stopped.

What keeps a snapshot true:
- It is read after its watcher joined the room's group, so whatever is stored later arrives as a
  broadcast (and what arrives while it is read waits, like a joining consumer's `pending`).
- A new message extends its history. Seqs are consecutive, so a gap (a broadcast this worker
  missed, or two that crossed) is seen, and drops it.
- Anything else that changes what it holds sends the room a frame or an order: an edit, a deletion,
  a change to the room, a ban, a mute, a change of members or moderators. Each drops it, and the
  next join reads it again. So do a lost pub/sub connection (messages may be lost) and a heartbeat
  that finds the room's last seq ahead of it.
- It is at most CHAT_ROOM_SNAPSHOT_SECONDS old: a change that sent nothing (Redis was down, or it
  was made in a shell) holds for joins by then at the latest.
A consumer that joined from a snapshot that was about to be dropped is not wrong for long: it was
subscribed before it read the snapshot, so the order that dropped it reaches the consumer too (a
re-check of its rights, or its close). Writes never use snapshots: every send reads the rights
afresh (chat.services).

Only layers that dispatch directly (chat.layers) have watchers; on the others every join reads the
database, as it did before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from channels.layers import get_channel_layer
from django.conf import settings

from chat import broadcast, db, protocol, selectors
from chat.protocol import Encoded
from chat.rights import RoomRules, room_rules_get

logger = logging.getLogger(__name__)

# Frames without a seq that change nothing a snapshot holds: presence and typing. Any other frame
# (an edit, a deletion, a change to the room) drops the room's snapshot.
_HARMLESS = frozenset({"presence", "typing"})


@dataclass(slots=True)
class Snapshot:
    """A room as a worker holds it: its rules, its last seq and its newest page of history."""

    rules: RoomRules
    last_seq: int
    history: list[Encoded]  # the newest CHAT_HISTORY_LIMIT messages that are not deleted, oldest first
    has_more: bool  # older messages exist
    read_at: float = field(default_factory=time.monotonic)

    @property
    def last_change(self) -> int:
        return self.rules.room.last_change  # any change after the read drops the snapshot

    def add(self, seq: int, encoded: bytes, limit: int) -> bool:
        """The room's next message; False if it is not the next one (the snapshot is no longer whole)."""
        if seq <= self.last_seq:
            return True  # already read with the snapshot
        if seq != self.last_seq + 1:
            return False
        self.last_seq = seq
        self.history.append((seq, encoded))
        if len(self.history) > limit:
            del self.history[0]
            self.has_more = True
        return True


@dataclass(slots=True)
class _Reading:
    """A read of a room under way: what arrives meanwhile waits here, to be applied to what is read."""

    arrived: list[dict[str, Any]] = field(default_factory=list)
    # An order or a change came meanwhile: the read may be older than it. Those who subscribed
    # before it came have it too and may use the read; no one else, and it is not kept.
    spoiled: bool = False
    task: asyncio.Future[Snapshot | None] | None = None


def _spoils(event: dict[str, Any]) -> bool:
    """Whether a broadcast changes what a snapshot holds in a way a new message does not."""
    if event["type"] != broadcast.FRAME:
        return True  # a close or a re-check: rights changed
    if event["seq"] is not None:
        return False
    return orjson.loads(event["frame"]).get("type") not in _HARMLESS


def _read(slug: str) -> Snapshot | None:
    """A room's snapshot, from the database; None if there is no such room."""
    rules = room_rules_get(slug=slug)
    if rules is None:
        return None
    page = selectors.message_page(room_id=rules.room.pk, limit=settings.CHAT_HISTORY_LIMIT)
    history = protocol.messages_encoded(page.messages, room_slug=slug)
    # The page may hold a message stored after the row was read: its seq counts too.
    last_seq = max(rules.room.last_seq, history[-1][0] if history else 0)
    return Snapshot(rules=rules, last_seq=last_seq, history=history, has_more=page.has_more)


class RoomSnapshots:
    """One worker's snapshots of the rooms live on it."""

    def __init__(self) -> None:
        self.max_age = settings.CHAT_ROOM_SNAPSHOT_SECONDS
        self.limit = settings.CHAT_HISTORY_LIMIT
        self._held: dict[str, Snapshot] = {}
        self._reading: dict[str, _Reading] = {}
        self._watchers: dict[str, str] = {}  # room -> its watcher's channel
        layer = get_channel_layer()
        self.enabled = self.max_age > 0 and "direct" in getattr(layer, "extensions", ())
        if self.enabled and "reconnect_listeners" in getattr(layer, "extensions", ()):
            layer.on_reconnect(self.drop_all)

    async def get(self, slug: str) -> Snapshot | None:
        """The room's snapshot, read now if it is not held; None if there is no such room or no watcher.

        Raises what chat.db raises when the database is not answering.
        """
        if not self.enabled:
            return None
        held = self._held.get(slug)
        if held is not None and time.monotonic() - held.read_at < self.max_age:
            return held
        self._held.pop(slug, None)
        reading = self._reading.get(slug)
        if reading is None or reading.spoiled:
            # One read per room however many join at once; the others wait for it.
            reading = self._reading[slug] = _Reading()
            reading.task = asyncio.ensure_future(self._read(slug, reading))
        assert reading.task is not None
        return await asyncio.shield(reading.task)

    async def _read(self, slug: str, reading: _Reading) -> Snapshot | None:
        try:
            await self._watch(slug)
            snapshot = await db.run_idempotent(_read, slug)
            if snapshot is not None:
                # Every message is applied, whatever else came: a join that subscribed after one
                # of them arrived has it only here.
                kept = [self._apply(snapshot, event) for event in reading.arrived]
                if all(kept) and not reading.spoiled and self._reading.get(slug) is reading:
                    self._held[slug] = snapshot
            return snapshot
        finally:
            if self._reading.get(slug) is reading:
                del self._reading[slug]

    async def _watch(self, slug: str) -> None:
        if slug in self._watchers:
            return
        layer = get_channel_layer()
        channel = await layer.new_channel("snapshot")
        layer.attach(channel, lambda event: self._on_event(slug, event))
        self._watchers[slug] = channel
        try:
            await layer.group_add(broadcast.room_group(slug), channel)
        except BaseException:
            self._watchers.pop(slug, None)
            layer.detach(channel)
            raise

    async def _on_event(self, slug: str, event: dict[str, Any]) -> None:
        reading = self._reading.get(slug)
        if reading is not None:
            reading.arrived.append(event)  # being read: the event may be newer than the read
            reading.spoiled = reading.spoiled or _spoils(event)
            return
        held = self._held.get(slug)
        if held is not None and not self._apply(held, event):
            self.drop(slug)

    def _apply(self, snapshot: Snapshot, event: dict[str, Any]) -> bool:
        """Bring the snapshot up to date with one of the room's broadcasts; False if it cannot be."""
        if _spoils(event):
            return False
        if event["seq"] is None:
            return True  # presence, typing
        return snapshot.add(event["seq"], event["frame"].encode(), self.limit)

    def check(self, slug: str, last_seq: int) -> None:
        """The heartbeat read the room's last seq: a snapshot behind it missed a broadcast."""
        held = self._held.get(slug)
        if held is not None and held.last_seq < last_seq:
            logger.info("snapshot of %s behind the database (%d < %d): dropped", slug, held.last_seq, last_seq)
            self.drop(slug)

    def drop(self, slug: str) -> None:
        """Forget what is held of the room (the next join reads it again); a read under way is not kept."""
        self._held.pop(slug, None)
        reading = self._reading.get(slug)
        if reading is not None:
            reading.spoiled = True

    def drop_all(self) -> None:
        for slug in {*self._held, *self._reading}:
            self.drop(slug)

    def forget(self, slug: str) -> None:
        """The room has no members here any more: drop it and stop watching it."""
        self.drop(slug)
        if slug in self._reading:
            return  # a join is reading it: still watched
        channel = self._watchers.pop(slug, None)
        if channel is not None:
            # Leaves the group here; the layer unwatches the group if that emptied it.
            get_channel_layer().detach(channel)
