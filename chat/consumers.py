"""The room WebSocket: parse, dispatch, send. The work lives in services, selectors and broadcast."""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import AsyncConsumer, get_handler_name
from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from redis.exceptions import RedisError

from chat import admission, asyncdb, broadcast, db, metrics, protocol, ratelimit, selectors, services, worker
from chat.identity import Identity, LookAlikes, distinct_name, identity_from_scope, is_one_connection
from chat.models import Message, Room
from chat.presence import Change, presence
from chat.protocol import Close, ProtocolError
from chat.rights import Refused, Rights, rights_get
from chat.transport import Transport, frame_bytes, text_frame

logger = logging.getLogger(__name__)

# Messages per page while a resume catches a client up (each page is cut to PAGE_BYTES too).
RESUME_PAGE = 100


class RoomConsumer(AsyncConsumer):  # type: ignore[misc]
    room: Room
    identity: Identity
    rights: Rights  # as of the join or the last re-check; every write reads them afresh

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # AsyncConsumer.__call__ on any Channels layer with groups. A layer that offers "direct"
        # dispatch (chat.layers) calls our handler itself: no queue, task or decode per member.
        layer = get_channel_layer()
        self.scope = scope
        self.channel_layer = layer
        self.channel_name = await layer.new_channel()
        self.base_send = send
        self.joined = False
        self.counted = False  # among the person's open sockets (chat.admission)
        self.subscribed = False  # to the room's group
        # Live frames that arrive while the history is read wait here (under direct dispatch;
        # through a queue they wait in the layer until connect is done).
        self.pending: list[dict[str, Any]] | None = []
        # Messages up to this seq were sent in the initial history: a later copy is a duplicate.
        self.floor = 0
        self.transport: Transport = scope.get("transport") or Transport()
        self.send_buffer_limit = settings.CHAT_SEND_BUFFER_LIMIT
        self.dropped = False
        # Set once the server sent its close frame: whatever the client sent meanwhile is dropped.
        self.closing = False
        self.limits = ratelimit.ConnectionLimits(ratelimit.frame_rates(), settings.CHAT_FLOOD_STRIKES)
        direct = "direct" in getattr(layer, "extensions", ())
        metrics.connection_opened()
        try:
            if direct:
                layer.attach(self.channel_name, self.layer_message)
                # One source (the socket; the layer calls in directly), so no per-connection Task
                # waiting on it as await_many_dispatch would keep: idle connections are the bulk.
                while True:
                    await self.dispatch(await receive())
            else:
                channel_receive = functools.partial(layer.receive, self.channel_name)
                await await_many_dispatch([receive, channel_receive], self.dispatch)
        except StopConsumer:
            pass
        finally:
            metrics.connection_closed()
            if direct:
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
        self.slug = slug = self.scope["url_route"]["kwargs"]["slug"]
        if worker.worker().closing:
            # A dying worker answers nothing, not even "no such room" (which a client takes as
            # final): it only sends the newcomer on to another worker.
            await self.base_send({"type": "websocket.accept"})
            await self.close(Close.RESTARTING)
            return
        address = admission.client_address(self.scope)
        try:
            wait = await admission.attempt_wait(address)
        except (TimeoutError, RedisError, OSError):
            wait = 0.0  # the limiter falls back by itself; anything else is not the client's fault
        if wait:
            logger.warning("refused a connection to %s from %s: too many attempts", slug, address)
            await self.base_send({"type": "websocket.accept"})
            await self.close(Close.FLOOD)
            return
        try:
            # Subscribed before anything is read, the history included: whatever is stored after
            # the reads arrives live (and waits in `pending` until the history is sent).
            await self.channel_layer.group_add(broadcast.room_group(slug), self.channel_name)
            self.subscribed = True
        except (TimeoutError, RedisError, OSError) as exc:
            metrics.redis_error("join")
            logger.warning("cannot join %s: %r", slug, exc)
            await self.base_send({"type": "websocket.accept"})
            await self.close(Close.TRY_AGAIN)
            return
        after, since = _int_param(self.scope, "after"), _int_param(self.scope, "changes")
        try:
            self.identity, rights, start = await self._join_reads(slug, after, since)
        except db.LOST as exc:
            logger.warning("cannot join %s: database unavailable: %r", slug, exc)
            await self.base_send({"type": "websocket.accept"})
            await self.close(Close.TRY_AGAIN)
            return
        await self.base_send({"type": "websocket.accept"})
        if rights is None:
            await self.close(Close.NO_ROOM)
            return
        refusal = rights.join_refusal(self.identity)
        if refusal is not None or start is None:
            who = f"{self.identity.name} ({self.identity.key})"
            logger.warning("refused %s in %s from %s: %s", who, slug, address, refusal)
            await self.close(Close.FORBIDDEN)
            return
        if not await admission.open_sockets().open(self.identity.key, self.channel_name):
            who = f"{self.identity.name} ({self.identity.key})"
            logger.warning("refused %s in %s from %s: too many open sockets", who, slug, address)
            await self.close(Close.FLOOD)
            return
        self.counted = True
        self.rights, self.room = rights, rights.room
        try:
            change = await presence().join(slug, self.identity, self.channel_name)
            change = await self._take_a_distinct_name(slug, change)
        except (TimeoutError, RedisError, OSError) as exc:
            metrics.redis_error("join")
            logger.warning("cannot join %s: %r", slug, exc)
            await self.close(Close.TRY_AGAIN)
            return
        if not worker.worker().register(slug, self):
            # This worker is shutting down: try another. (Presence expires on its own.)
            await self.close(Close.RESTARTING)
            return
        self.joined = True
        metrics.joined()
        try:
            await self._replay(start, after, list(change.users))
        except db.LOST as exc:
            logger.warning("cannot replay %s: database unavailable: %r", slug, exc)
            await self.close(Close.TRY_AGAIN)
            return
        if change.changed:
            # The joiner learns it is online from `welcome`; the others from this.
            try:
                await self._announce("join", change.online, exclude=self.channel_name)
            except (RedisError, OSError) as exc:
                # The joiner is in; the others' lists catch up with the next change or heartbeat.
                metrics.redis_error("broadcast")
                logger.warning("join of %s in %s not announced: %r", self.identity.name, self.room.slug, exc)

    async def _join_reads(
        self, slug: str, after: int | None, since: int | None
    ) -> tuple[Identity, Rights | None, _Start | None]:
        """Who, their rights and (if they may stay) the history: from what this worker holds of the
        room if it is live here (chat.snapshots), else in one trip to the database pool."""
        snapshot = await worker.worker().snapshots.get(slug) if after is None else None
        if snapshot is not None:
            try:
                identity = identity_from_scope(self.scope)
            except SynchronousOnlyOperation:
                snapshot = None  # a session not loaded yet (no AuthMiddleware before us): read it there
        if snapshot is None:
            return await db.run_idempotent(_join_reads, slug, self.scope, after, since)
        rights = snapshot.rules.rights(identity)
        if rights.join_refusal(identity) is not None:
            return identity, rights, None
        history = list(snapshot.history)
        last_seq, last_change = snapshot.last_seq, snapshot.last_change
        start = _Start(history, snapshot.has_more, last_seq, last_change, since=0, behind=False, changes=[])
        return identity, rights, start

    async def _take_a_distinct_name(self, slug: str, change: Change) -> Change:
        """A guest named like someone else present joins again under a suffixed name (chat.identity)."""
        me = protocol.public_id(self.identity.key)
        present = change.look_alikes or LookAlikes(change.users)
        renamed = distinct_name(self.identity, present=present, who_id=me)
        if renamed is self.identity:
            return change
        self.identity = renamed
        # The same connection again: its entry now carries the new name; the first join's news stands.
        again = await presence().join(slug, self.identity, self.channel_name)
        return replace(again, changed=change.changed)

    async def websocket_receive(self, event: dict[str, Any]) -> None:
        if not self.joined or self.closing or not self.transport.is_open():
            return  # queued before a close: nobody is waiting for the answer
        try:
            request = protocol.parse_inbound(event.get("text"), max_body=settings.CHAT_MAX_BODY)
        except ProtocolError as error:
            # Refused frames have a budget too: a flood of garbage is a flood.
            if await self._spend("other", error.client_id):
                await self._send_error(error)
            return
        client_id = request.client_id if isinstance(request, protocol.PostMessage) else None
        if not await self._spend(request.kind, client_id):
            return
        try:
            if isinstance(request, protocol.PostMessage):
                await self._post(request)
            elif isinstance(request, protocol.HistoryQuery):
                await self._history(request)
            elif isinstance(request, protocol.Typing):
                await self._typing()
            elif isinstance(request, protocol.EditMessage):
                await self._edit(request)
            elif isinstance(request, protocol.DeleteMessage):
                await self._delete(request)
            elif isinstance(request, protocol.SanctionAuthor):
                await self._sanction(request)
            else:
                await self._slow_mode(request)
        except Refused as refused:
            await self._send_error(
                ProtocolError(refused.code, refused.detail, client_id=client_id, retry_after=refused.retry_after)
            )
        except ProtocolError as error:
            await self._send_error(error)
        except db.LOST as exc:
            logger.warning("%s in %s: database unavailable: %r", request.kind, self.room.slug, exc)
            await self._send_error(_unavailable(client_id))
        except Exception:
            # A bug must cost one frame, not the connection (daphne would close it with 1011).
            logger.exception("%s in %s failed", request.kind, self.room.slug)
            await self._send_error(ProtocolError("internal", _INTERNAL, client_id=client_id))

    async def _spend(self, kind: str, client_id: str | None) -> bool:
        """Take one frame of `kind` from the connection's and the person's budgets; False if refused.

        A refusal is answered with `rate_limited`; a connection that keeps going is closed (4429).
        """
        wait = self.limits.take(kind)
        # A guest without a session is this one connection: its budget here is the whole of theirs.
        if not wait and not is_one_connection(self.identity.key):
            try:
                wait = await ratelimit.limiter(kind).take(self.identity.key)
            except (TimeoutError, RedisError, OSError):
                metrics.redis_error("ratelimit")
                wait = 0.0  # the limiter falls back on its own; anything else here is not the client's fault
        if not wait:
            return True
        metrics.rate_limited(kind)
        if self.limits.strike():
            logger.warning("closing %s in %s: flood of %s frames", self.identity.name, self.room.slug, kind)
            await self.close(Close.FLOOD)
            self.transport.hang_up()
            return False
        detail = "Too many messages; slow down." if kind == "message" else f"Too many {kind} frames; slow down."
        error = ProtocolError("rate_limited", detail, client_id=client_id, retry_after=wait)
        await self._send_error(error)
        return False

    async def websocket_disconnect(self, event: dict[str, Any]) -> None:
        if self.counted:
            self.counted = False
            await admission.open_sockets().close(self.identity.key, self.channel_name)
        if self.subscribed and not self.joined:  # refused after subscribing
            self.subscribed = False
            worker.worker().release(self.slug)
            with contextlib.suppress(RedisError, OSError):
                await self.channel_layer.group_discard(broadcast.room_group(self.slug), self.channel_name)
        if self.joined:
            self.joined = False
            metrics.left()
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
                metrics.redis_error("leave")
                # The heartbeat stops refreshing this connection; the sweep announces it later.
                logger.warning("leave of %s in %s not recorded: %r", self.identity.name, slug, exc)
        raise StopConsumer

    # -- Group messages (dispatched by the layer) ---------------------------------------------

    async def room_close(self, event: dict[str, Any]) -> None:
        """The room is gone (deleted in the admin), or a person was banned: told so on every worker at once."""
        if self.pending is not None:
            self.pending.append(event)  # joining: the order may be newer than the rights we read
            return
        person = event.get("person")
        if self.joined and (person is None or person == self.identity.key):
            if person is not None:
                logger.warning("closing %s (%s) in %s: banned", self.identity.name, person, self.room.slug)
            await self.close(event["code"])

    async def room_recheck(self, event: dict[str, Any]) -> None:
        """Rights in the room changed: read ours again; leave if we may no longer be here."""
        if self.pending is not None:
            self.pending.append(event)
            return
        person = event.get("person")
        if not self.joined or (person is not None and person != self.identity.key):
            return
        try:
            rights = await db.run_idempotent(rights_get, room_id=self.room.pk, who=self.identity)
        except db.LOST as exc:
            # Every write reads the rights afresh anyway; only the page's view of them waits.
            logger.warning("rights of %s in %s not re-read: %r", self.identity.name, self.room.slug, exc)
            return
        refusal = "deleted" if rights is None else rights.join_refusal(self.identity)
        if rights is None or refusal is not None:
            logger.warning("closing %s (%s) in %s: %s", self.identity.name, self.identity.key, self.room.slug, refusal)
            await self.close(Close.NO_ROOM if rights is None else Close.FORBIDDEN)
            return
        if protocol.rights_dict(rights) != protocol.rights_dict(self.rights):
            await self.send_frame(protocol.rights_frame(rights))
        self.rights, self.room = rights, rights.room

    async def room_frame(self, event: dict[str, Any]) -> None:
        if event["exclude"] == self.channel_name:
            return
        if self.pending is not None:
            # Joining: subscribed before the history was read, so this may be newer than it.
            self.pending.append(event)
            return
        if not self.joined:
            return
        seq = event["seq"]
        if (seq is not None and seq <= self.floor) or self.dropped:
            return
        if self.transport.buffered() > self.send_buffer_limit:
            # It cannot keep up; holding more for it would grow this worker without bound. It will
            # reconnect with ?after= and get what it missed from the database.
            self.dropped = True
            logger.warning("closing %s in %s: client too slow", self.identity.name, self.room.slug)
            await self.close(Close.TOO_SLOW)
            return
        if self.closing:
            return
        if self.transport.direct:
            self.transport.send_frame(text_frame(event["frame"]))
        else:
            await self.send_frame(event["frame"])
        if seq is not None:  # a stored message's frame (deletions and presence carry no seq)
            metrics.message_written(event["frame"])

    # -- Requests -----------------------------------------------------------------------------

    async def _replay(self, start: _Start, after: int | None, online: list[dict[str, Any]]) -> None:
        """Send welcome and history, then what arrived meanwhile: no gap, no duplicate."""
        room_id, slug = self.room.pk, self.room.slug
        history, has_more = start.history, start.has_more
        last_seq, last_change = start.last_seq, start.last_change
        # Too far behind, or ahead of the room (its database was reset): start over.
        reset = after is not None and (start.behind or after > last_seq or start.since > last_change)
        resumed = after is not None and not reset
        if reset:
            limit = settings.CHAT_HISTORY_LIMIT
            history, has_more = await db.run_idempotent(_page_encoded, room_id=room_id, slug=slug, limit=limit)
        await self.send_frame(
            protocol.welcome_frame(
                rights=self.rights,
                you=self.identity,
                online=online,
                last_seq=last_seq,
                last_change=last_change,
                heartbeat=settings.CHAT_HEARTBEAT_SECONDS,
            )
        )
        if resumed and start.changes:
            # Before the history: what changed of the messages the client already holds.
            for text in protocol.changes_frames(start.changes, room_slug=slug, last_change=last_change):
                await self.send_frame(text)
        if resumed:
            # Page forward until the client holds every message up to the room's last seq as it
            # was read after subscribing: anything newer was broadcast since, so it is in `pending`
            # or still to come. Every page but the last says has_more.
            floor = after or 0
            while True:
                upto = [m for m in history if m[0] <= last_seq]
                more = has_more and len(upto) == len(history) and bool(upto) and upto[-1][0] < last_seq
                frame = protocol.history_frame_encoded(upto, has_more=more, resumed=True)
                await self.send_frame(frame.text)
                floor = max(frame.seqs, default=floor)
                if not (more or len(frame.seqs) < len(upto)) or self.closing:
                    break
                history, has_more = await db.run_idempotent(
                    _page_encoded, room_id=room_id, slug=slug, after=floor, limit=RESUME_PAGE
                )
            self.floor = floor
        else:
            frame = protocol.history_frame_encoded(history, has_more=has_more, reset=reset)
            await self.send_frame(frame.text)
            # The history holds every message stored before it was read (seqs commit in order). Any
            # message stored later is broadcast after we subscribed: it is in `pending` or still to
            # come. A message stored before the read may still be on its way: copies up to `floor` drop.
            self.floor = max((seq for seq, _ in history), default=0)
        pending, self.pending = self.pending or [], None
        # Messages in seq order; then edits, deletions, presence and orders (close, re-check) as
        # they came: an edit of a message that waited too must not overtake it.
        for event in sorted(pending, key=lambda e: (e.get("seq") is None, e.get("seq") or 0)):
            await self.dispatch(event)

    async def _post(self, request: protocol.PostMessage) -> None:
        message, created = await asyncdb.message_create(
            room_id=self.room.pk,
            author=self.identity,
            body=request.body,
            client_id=request.client_id,
        )
        if request.client_id is not None:
            await self.send_frame(protocol.ack_frame(client_id=request.client_id, seq=message.seq))
        if created:
            metrics.message_stored()
            try:
                await broadcast.message_stored(message, room_slug=self.room.slug)
            except (RedisError, OSError):
                metrics.redis_error("broadcast")
                # Stored but not broadcast: the heartbeat's last_seq makes clients fetch it.
                logger.warning("broadcast of %s#%s failed", self.room.slug, message.seq)

    async def _edit(self, request: protocol.EditMessage) -> None:
        message = await db.run(
            services.message_edit, room_id=self.room.pk, editor=self.identity, seq=request.seq, body=request.body
        )
        if message is not None:
            await self._tell_room(protocol.edited_frame(message, room_slug=self.room.slug))

    async def _delete(self, request: protocol.DeleteMessage) -> None:
        message = await db.run(services.message_remove, room_id=self.room.pk, remover=self.identity, seq=request.seq)
        await self._tell_room(protocol.deleted_frame(seq=message.seq, change=message.change))

    async def _tell_room(self, frame: str) -> None:
        """A change's frame: to this connection at once (its confirmation), to the rest of the room by broadcast."""
        await self.send_frame(frame)
        try:
            await broadcast.frame_send(self.room.slug, frame, exclude=self.channel_name)
        except (RedisError, OSError):
            metrics.redis_error("broadcast")
            # Stored: other clients learn of it when they next resume (their `changes` cursor).
            logger.warning("broadcast of a change in %s failed", self.room.slug)

    async def _sanction(self, request: protocol.SanctionAuthor) -> None:
        sanction = await db.run(
            services.sanction_create,
            room_id=self.room.pk,
            by=self.identity,
            seq=request.seq,
            kind=request.action,
            minutes=request.minutes,
        )
        logger.warning(
            "%s (%s) %s %s (%s) in %s until %s",
            self.identity.name,
            self.identity.key,
            "banned" if request.action == "ban" else "muted",
            sanction.person_name,
            sanction.person_key,
            self.room.slug,
            sanction.expires_at or "lifted",
        )
        await self.send_frame(protocol.sanctioned_frame(sanction))

    async def _slow_mode(self, request: protocol.SetSlowMode) -> None:
        await db.run(services.room_slow_mode_set, room_id=self.room.pk, by=self.identity, seconds=request.seconds)

    async def _history(self, query: protocol.HistoryQuery) -> None:
        page = await db.run_idempotent(
            selectors.message_page, room_id=self.room.pk, before=query.before, after=query.after, limit=query.limit
        )
        frame = protocol.history_frame(page.messages, room_slug=self.room.slug, has_more=page.has_more, query=query)
        await self.send_frame(frame.text)

    async def _typing(self) -> None:
        if self.rights.muted and not self.rights.moderator:
            return  # a muted person's typing would announce messages that cannot come
        try:
            if await presence().typing_allowed(self.room.slug, self.identity):
                frame = protocol.typing_frame(user=protocol.user_dict(self.identity))
                await broadcast.frame_send(self.room.slug, frame, exclude=self.channel_name)
        except (RedisError, OSError):
            metrics.redis_error("broadcast")  # typing is a hint: without Redis it is dropped, not an error

    async def _announce(self, event: str, online: int, exclude: str | None = None) -> None:
        user = dict(protocol.user_dict(self.identity))
        await worker.worker().announce(self.room.slug, event, user, online, exclude=exclude)

    # -- Sending ------------------------------------------------------------------------------

    async def send_frame(self, frame: str) -> None:
        if self.closing:
            return
        if self.transport.direct and self.transport.is_open():
            # As broadcasts go: straight to the socket. Through ASGI, daphne and autobahn a frame
            # (an ack, every post) costs more than the rest of its sending, and Twisted's write
            # waits a turn of the loop (docs/performance.md). Before the handshake is done, and on
            # any other server, frames go through ASGI.
            self.transport.send_frame(frame_bytes(frame))
            return
        try:
            await self.base_send({"type": "websocket.send", "text": frame})
        except Exception as exc:  # noqa: BLE001 - whatever the server refuses, the client is told how to go on
            if not self.transport.is_open():
                return  # the client closed first (autobahn raises Disconnected): nothing to tell it
            # Frames are built to fit daphne's limits; if one still does not go, the client must
            # not be left waiting for it (nor daphne close with 1011).
            logger.warning("closing %s: a frame of %d characters was not sent: %r", self.channel_name, len(frame), exc)
            await self.close(Close.SEND_FAILED)

    async def _send_error(self, error: ProtocolError) -> None:
        metrics.frame_refused(error.code)
        await self.send_frame(protocol.error_frame(error))

    async def close(self, code: int) -> None:
        if self.closing:
            return
        self.closing = True
        metrics.closed(code)
        if code < 3000 and code != 1000 and self.transport.close_frame(code):
            return  # e.g. 1012, which daphne's websocket.close cannot send (chat.transport)
        # An int, not the IntEnum: daphne checks the type.
        await self.base_send({"type": "websocket.close", "code": self.transport.asgi_close_code(int(code))})


_INTERNAL = "The server could not handle that frame; nothing was changed."


def _unavailable(client_id: str | None) -> ProtocolError:
    # With a client_id the page re-sends it; without one the sender decides (it may have been stored).
    return ProtocolError(
        "unavailable", "The database is not answering; try again in a moment.", client_id=client_id, retry_after=1.0
    )


def _int_param(scope: dict[str, Any], name: str) -> int | None:
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get(name)
    if not values:
        return None
    try:
        value = int(values[0])
    except ValueError:
        return None
    return value if 0 <= value <= protocol.MAX_SEQ else None


@dataclass(frozen=True, slots=True)
class _Start:
    history: list[protocol.Encoded]  # the history a connection starts with, oldest first
    has_more: bool
    last_seq: int
    last_change: int
    since: int  # the client's changes cursor (0 without one)
    behind: bool  # a resume too far behind: more than CHAT_RESUME_LIMIT messages or changes missed
    changes: list[Message]  # on resume, edits and deletions of messages up to `after` since `since`


def _join_reads(
    slug: str, scope: dict[str, Any], after: int | None, since: int | None
) -> tuple[Identity, Rights | None, _Start | None]:
    """A join's reads, in one trip to the database pool: who, their rights, and (if they may stay) the history."""
    identity = identity_from_scope(scope)
    rights = rights_get(slug=slug, who=identity)
    if rights is None or rights.join_refusal(identity) is not None:
        return identity, rights, None
    return identity, rights, _initial_page(rights.room, after, since)


def _initial_page(room: Room, after: int | None, since: int | None) -> _Start:
    # The room's counters come from the row read with the rights, after subscribing: anything
    # stored later is broadcast to this connection.
    last_seq, last_change, room_id, slug = room.last_seq, room.last_change, room.pk, room.slug
    if after is None:
        history, has_more = _page_encoded(room_id=room_id, slug=slug, limit=settings.CHAT_HISTORY_LIMIT)
        return _Start(history, has_more, last_seq, last_change, since=0, behind=False, changes=[])
    behind = selectors.message_count_exceeds(room_id=room_id, after=after, count=settings.CHAT_RESUME_LIMIT)
    changes: list[Message] = []
    if since is not None and since < last_change and not behind:
        changes = selectors.message_changes(
            room_id=room_id, upto=after, since=since, limit=settings.CHAT_RESUME_LIMIT + 1
        )
        # More changes than a resume carries: the client starts over from the newest page.
        behind = len(changes) > settings.CHAT_RESUME_LIMIT
    limit = min(RESUME_PAGE, settings.CHAT_RESUME_LIMIT)
    history, has_more = _page_encoded(room_id=room_id, slug=slug, after=after, limit=limit)
    changes = [] if behind else changes
    return _Start(history, has_more, last_seq, last_change, since=since or 0, behind=behind, changes=changes)


def _page_encoded(
    *, room_id: int, slug: str, after: int | None = None, limit: int
) -> tuple[list[protocol.Encoded], bool]:
    """selectors.message_page, encoded for sending (in the pool's thread, off the event loop)."""
    page = selectors.message_page(room_id=room_id, after=after, limit=limit)
    return protocol.messages_encoded(page.messages, room_slug=slug), page.has_more
