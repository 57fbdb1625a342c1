"""The room WebSocket: parse, dispatch, send. The work lives in services, selectors and broadcast."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from redis.exceptions import RedisError

from chat import broadcast, db, protocol, ratelimit, selectors, services, worker
from chat.identity import Identity, identity_from_scope
from chat.layers import LocalFanout
from chat.models import Room
from chat.presence import presence
from chat.transport import Transport, text_frame

logger = logging.getLogger(__name__)


CLOSE_NO_ROOM = 4404
CLOSE_TOO_SLOW = 4008
CLOSE_TRY_AGAIN = 1013


class RoomConsumer(AsyncConsumer):  # type: ignore[misc]
    room: Room
    identity: Identity

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # AsyncConsumer.__call__, except that the layer dispatches our group messages itself:
        # no queue, task or decode per member (see chat/layers.py).
        layer = get_channel_layer()
        if not isinstance(layer, LocalFanout):
            raise TypeError("RoomConsumer needs a chat.layers channel layer")
        self.scope = scope
        self.channel_layer = layer
        self.channel_name = await layer.new_channel()
        self.base_send = send
        self.joined = False
        # Live frames that arrive while the history is read wait here.
        self.pending: list[dict[str, Any]] | None = []
        # Messages up to this seq were sent in the initial history: a later copy is a duplicate.
        self.floor = 0
        self.transport: Transport = scope.get("transport") or Transport()
        self.send_buffer_limit = settings.CHAT_SEND_BUFFER_LIMIT
        self.dropped = False
        layer.attach(self.channel_name, self.layer_message)
        try:
            # One source (the socket; the layer calls in directly), so no per-connection Task
            # waiting on it as await_many_dispatch would keep: idle connections are the bulk.
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:
            layer.detach(self.channel_name)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first hops to a thread to close stale database connections, for
        # every message: per recipient of every broadcast. Our handlers reach the database only
        # through chat.db.run, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def layer_message(self, message: dict[str, Any]) -> None:
        """The layer's direct delivery: broadcasts go straight to their handler."""
        if message["type"] == broadcast.FRAME:
            await self.room_frame(message)
        else:
            await self.dispatch(message)

    # -- WebSocket events ---------------------------------------------------------------------

    async def websocket_connect(self, event: dict[str, Any]) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        if worker.worker().closing:
            # A dying worker answers nothing, not even "no such room" (which a client takes as
            # final): it only sends the newcomer on to another worker.
            await self.base_send({"type": "websocket.accept"})
            await self.close(worker.CLOSE_RESTARTING)
            return
        room, self.identity = await db.run(_room_and_identity, slug, self.scope)
        await self.base_send({"type": "websocket.accept"})
        if room is None:
            await self.close(CLOSE_NO_ROOM)
            return
        self.room = room
        try:
            await self.channel_layer.group_add(broadcast.room_group(slug), self.channel_name)
            change = await presence().join(slug, self.identity, self.channel_name)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("cannot join %s: %r", slug, exc)
            await self.close(CLOSE_TRY_AGAIN)
            return
        if not worker.worker().register(slug, self):
            # This worker is shutting down: try another. (Presence expires on its own.)
            await self.close(worker.CLOSE_RESTARTING)
            return
        self.joined = True
        await self._replay(list(change.users))
        if change.changed:
            # The joiner learns it is online from `welcome`; the others from this.
            await self._announce("join", change.online, exclude=self.channel_name)

    async def websocket_receive(self, event: dict[str, Any]) -> None:
        if not self.joined:
            return
        try:
            request = protocol.parse_inbound(event.get("text"), max_body=settings.CHAT_MAX_BODY)
            if isinstance(request, protocol.PostMessage):
                await self._post(request)
            elif isinstance(request, protocol.HistoryQuery):
                await self._history(request)
            else:
                await self._typing()
        except protocol.ProtocolError as error:
            await self.send_frame(protocol.error_frame(error))

    async def websocket_disconnect(self, event: dict[str, Any]) -> None:
        if self.joined:
            self.joined = False
            slug = self.room.slug
            worker.worker().unregister(slug, self)
            try:
                await self.channel_layer.group_discard(broadcast.room_group(slug), self.channel_name)
                # A restart is not a departure: the client is on its way to another worker, where
                # its return is not news either. Whoever does not come back expires from presence
                # like a killed worker's users (TTL + one heartbeat).
                if not worker.worker().closing:
                    change = await presence().leave(slug, self.identity, self.channel_name)
                    if change.changed:
                        await self._announce("leave", change.online)
            except (RedisError, OSError) as exc:
                # The heartbeat stops refreshing this connection; the sweep announces it later.
                logger.warning("leave of %s in %s not recorded: %r", self.identity.name, slug, exc)
        raise StopConsumer

    # -- Group messages (dispatched by the layer) ---------------------------------------------

    async def room_frame(self, event: dict[str, Any]) -> None:
        if event["exclude"] == self.channel_name or not self.joined:
            return
        if self.pending is not None:
            self.pending.append(event)
            return
        seq = event["seq"]
        if (seq is not None and seq <= self.floor) or self.dropped:
            return
        if self.transport.buffered() > self.send_buffer_limit:
            # It cannot keep up; holding more for it would grow this worker without bound. It will
            # reconnect with ?after= and get what it missed from the database.
            self.dropped = True
            logger.warning("closing %s in %s: client too slow", self.identity.name, self.room.slug)
            await self.close(CLOSE_TOO_SLOW)
            return
        if self.transport.direct:
            self.transport.send_frame(text_frame(event["frame"]))
        else:
            await self.base_send({"type": "websocket.send", "text": event["frame"]})

    # -- Requests -----------------------------------------------------------------------------

    async def _replay(self, online: list[dict[str, Any]]) -> None:
        """Send welcome and history, then what arrived meanwhile: no gap, no duplicate."""
        after = _after_param(self.scope)
        room_id = self.room.pk
        page, last_seq = await db.run(_initial_page, room_id, self.room.slug, after)
        # Too far behind, or ahead of the room (its database was reset): start over.
        reset = after is not None and (page.has_more or after > last_seq)
        resumed = after is not None and not reset
        if reset:
            page = await db.run(selectors.message_page, room_id=room_id, limit=settings.CHAT_HISTORY_LIMIT)
        await self.send_frame(
            protocol.welcome_frame(
                room=self.room,
                you=self.identity,
                online=online,
                last_seq=last_seq,
                heartbeat=settings.CHAT_HEARTBEAT_SECONDS,
            )
        )
        await self.send_frame(
            protocol.history_frame(
                page.messages,
                room_slug=self.room.slug,
                has_more=page.has_more and not resumed,
                resumed=resumed,
                reset=reset,
            )
        )
        # The history holds every message stored before it was read (seqs commit in order). Any
        # message stored later is broadcast after we subscribed: it is in `pending` or still to come.
        # A message stored before the read may still be on its way, so copies up to `floor` drop.
        self.floor = max((m.seq for m in page.messages), default=after if resumed else 0) or 0
        pending, self.pending = self.pending or [], None
        for event in sorted(pending, key=lambda e: e["seq"] or 0):
            await self.room_frame(event)

    async def _post(self, request: protocol.PostMessage) -> None:
        wait = await ratelimit.limiter().take(self.identity.key)
        if wait:
            raise protocol.ProtocolError(
                "rate_limited", "Too many messages; slow down.", client_id=request.client_id, retry_after=wait
            )
        try:
            message, created = await db.run(
                services.message_create,
                room_id=self.room.pk,
                author=self.identity,
                body=request.body,
                client_id=request.client_id,
            )
        except services.RoomReadOnly:
            raise protocol.ProtocolError(
                "read_only",
                "This room is archived: it can be read but takes no new messages.",
                client_id=request.client_id,
            ) from None
        if request.client_id is not None:
            await self.send_frame(protocol.ack_frame(client_id=request.client_id, seq=message.seq))
        if created:
            try:
                await broadcast.message_stored(message, room_slug=self.room.slug)
            except (RedisError, OSError):
                # Stored but not broadcast: the heartbeat's last_seq makes clients fetch it.
                logger.warning("broadcast of %s#%s failed", self.room.slug, message.seq)

    async def _history(self, query: protocol.HistoryQuery) -> None:
        page = await db.run(
            selectors.message_page, room_id=self.room.pk, before=query.before, after=query.after, limit=query.limit
        )
        await self.send_frame(
            protocol.history_frame(page.messages, room_slug=self.room.slug, has_more=page.has_more, query=query)
        )

    async def _typing(self) -> None:
        if await presence().typing_allowed(self.room.slug, self.identity):
            frame = protocol.typing_frame(user=protocol.user_dict(self.identity))
            await broadcast.frame_send(self.room.slug, frame, exclude=self.channel_name)

    async def _announce(self, event: str, online: int, exclude: str | None = None) -> None:
        user = protocol.user_dict(self.identity)
        await worker.worker().announce(self.room.slug, event, user, online, exclude=exclude)

    # -- Sending ------------------------------------------------------------------------------

    async def send_frame(self, frame: str) -> None:
        await self.base_send({"type": "websocket.send", "text": frame})

    async def close(self, code: int) -> None:
        if code < 3000 and code != 1000 and self.transport.close_frame(code):
            return  # e.g. 1012, which daphne's websocket.close cannot send (chat.transport)
        await self.base_send({"type": "websocket.close", "code": code})


def _after_param(scope: dict[str, Any]) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("after")
    if not values:
        return None
    try:
        after = int(values[0])
    except ValueError:
        return None
    return after if after >= 0 else None


def _room_and_identity(slug: str, scope: dict[str, Any]) -> tuple[Room | None, Identity]:
    """A join's first reads, in one trip to the database pool."""
    return selectors.room_get(slug=slug), identity_from_scope(scope)


def _initial_page(room_id: int, slug: str, after: int | None) -> tuple[selectors.Page, int]:
    """The history a connection starts with, and the room's last seq: resume or the newest page."""
    last_seq = selectors.room_last_seqs(slugs=[slug]).get(slug, 0)
    if after is None:
        return selectors.message_page(room_id=room_id, limit=settings.CHAT_HISTORY_LIMIT), last_seq
    return selectors.message_page(room_id=room_id, after=after, limit=settings.CHAT_RESUME_LIMIT), last_seq
