"""The wire format: parse what clients send, build what the server sends (docs/protocol.md)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

import orjson
from django.conf import settings

if TYPE_CHECKING:
    from chat.identity import Identity
    from chat.models import Message, Room, Sanction
    from chat.rights import Rights

MAX_CLIENT_ID = 64
MAX_HISTORY_PAGE = 100
# Far above any legal message frame (4000 characters of body are at most 16 KB of UTF-8, more
# with JSON escapes), far below what would hurt a worker to parse.
MAX_FRAME_CHARS = 64 * 1024
# Seqs and bounds beyond this are no seq of ours (and beyond a JavaScript number's exact integers,
# or PostgreSQL's bigint): refused before they reach the database.
MAX_SEQ = 2**53 - 1
# The most bytes of messages (or names) one frame carries. daphne refuses to send a message over
# its --websocket-max-message-size (1 MiB by default) and fails the connection instead, so pages
# are cut by size as well as by count, far enough below that limit that the frame around them
# cannot push them over. A quarter of it keeps a worst-case page quick to send and to render.
PAGE_BYTES = 256 * 1024
# A client_id is an opaque token (a UUID, say): printable ASCII, no spaces.
CLIENT_ID_RE = re.compile(rf"[!-~]{{1,{MAX_CLIENT_ID}}}")


class Close(IntEnum):
    """Every close code a client can see from the server, and what it tells the client."""

    TOO_BIG = 1009  # an inbound message over daphne's --websocket-max-message-size (sent by daphne)
    RESTARTING = 1012  # the worker is restarting: reconnect at once, to any worker
    TRY_AGAIN = 1013  # the worker cannot reach Redis or the database right now: reconnect with back-off
    TOO_SLOW = 4008  # the client did not read fast enough: reconnect with ?after=
    NO_ROOM = 4404  # no such room: final
    FORBIDDEN = 4403  # not allowed in the room (members only, no guests, banned): final
    FLOOD = 4429  # too many refused frames: reconnect with back-off
    SEND_FAILED = 4500  # a frame could not be sent: reconnect with back-off
    # RESTARTING and TRY_AGAIN where the server cannot send codes below 3000 (chat.transport's fallback).
    RESTARTING_FALLBACK = 4012
    TRY_AGAIN_FALLBACK = 4013


class ProtocolError(Exception):
    """A client frame was refused; becomes an `error` frame."""

    def __init__(self, code: str, detail: str, *, client_id: str | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class PostMessage:
    kind: ClassVar[str] = "message"  # the budget it spends (chat.ratelimit)
    body: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    kind: ClassVar[str] = "history"
    before: int | None
    after: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class Typing:
    kind: ClassVar[str] = "typing"


@dataclass(frozen=True, slots=True)
class EditMessage:
    kind: ClassVar[str] = "message"  # edits and deletions are writes: the message budget
    seq: int
    body: str


@dataclass(frozen=True, slots=True)
class DeleteMessage:
    kind: ClassVar[str] = "message"
    seq: int


# The longest mute or ban a moderator can set from the page (the admin sets any): a year.
MAX_SANCTION_MINUTES = 366 * 24 * 60
MAX_SLOW_MODE_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class SanctionAuthor:
    """A moderator mutes or bans the author of message `seq` (the page acts on what it shows)."""

    kind: ClassVar[str] = "other"
    action: Literal["mute", "ban"]
    seq: int
    minutes: int | None  # None: until lifted in the admin


@dataclass(frozen=True, slots=True)
class SetSlowMode:
    kind: ClassVar[str] = "other"
    seconds: int


Inbound = PostMessage | HistoryQuery | Typing | EditMessage | DeleteMessage | SanctionAuthor | SetSlowMode


def parse_inbound(text: str | None, *, max_body: int) -> Inbound:
    """Turn one client text frame into a typed request, or raise ProtocolError."""
    if text is None:
        raise ProtocolError("bad_request", "Binary frames are not supported; send JSON text frames.")
    if len(text) > MAX_FRAME_CHARS:
        raise ProtocolError("too_long", f"Frames are limited to {MAX_FRAME_CHARS} characters.")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ProtocolError("bad_json", "The frame is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_request", "A frame must be a JSON object.")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_request", 'A frame needs a string "type".')
    if kind == "message":
        return _parse_message(data, max_body=max_body)
    if kind == "history":
        return _parse_history(data)
    if kind == "typing":
        return Typing()
    if kind == "edit":
        return EditMessage(seq=_seq(data), body=_body(data, max_body=max_body, client_id=None))
    if kind == "delete":
        return DeleteMessage(seq=_seq(data))
    if kind in ("mute", "ban"):
        minutes = data.get("minutes")
        if minutes is not None and (type(minutes) is not int or not 1 <= minutes <= MAX_SANCTION_MINUTES):
            detail = f'"minutes" must be null or an integer from 1 to {MAX_SANCTION_MINUTES}.'
            raise ProtocolError("bad_request", detail)
        return SanctionAuthor(action="mute" if kind == "mute" else "ban", seq=_seq(data), minutes=minutes)
    if kind == "slow_mode":
        seconds = data.get("seconds")
        if type(seconds) is not int or not 0 <= seconds <= MAX_SLOW_MODE_SECONDS:
            raise ProtocolError("bad_request", f'"seconds" must be an integer from 0 to {MAX_SLOW_MODE_SECONDS}.')
        return SetSlowMode(seconds=seconds)
    raise ProtocolError("unknown_type", f'Unknown frame type "{kind[:40]}".')


def _parse_message(data: dict[str, Any], *, max_body: int) -> PostMessage:
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not CLIENT_ID_RE.fullmatch(client_id)):
        raise ProtocolError(
            "bad_request", f'"client_id" must be 1 to {MAX_CLIENT_ID} printable ASCII characters without spaces.'
        )
    return PostMessage(body=_body(data, max_body=max_body, client_id=client_id), client_id=client_id)


def _seq(data: dict[str, Any]) -> int:
    seq = data.get("seq")
    if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
        raise ProtocolError("bad_request", f'"seq" must be an integer from 1 to {MAX_SEQ}.')
    return seq


def _body(data: dict[str, Any], *, max_body: int, client_id: str | None) -> str:
    body = data.get("body")
    if not isinstance(body, str):
        raise ProtocolError("bad_request", 'A message needs a string "body".', client_id=client_id)
    if len(body) > max_body:
        raise ProtocolError("too_long", f"Messages are limited to {max_body} characters.", client_id=client_id)
    refused = unstorable_char(body)
    if refused is not None:
        detail = f"The message contains a character that cannot be sent: U+{ord(refused):04X}."
        raise ProtocolError("bad_text", detail, client_id=client_id)
    if not is_visible(body):
        raise ProtocolError("empty", "The message is empty.", client_id=client_id)
    return body


# Control characters other than tab and line breaks: NUL is refused by PostgreSQL (and would be
# stored by SQLite), the others show as nothing or as boxes and cost six bytes each in JSON.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def unstorable_char(text: str) -> str | None:
    """The first character that no room takes (controls, surrogates, noncharacters), or None."""
    for char in text:
        if char.isprintable() or char in _ALLOWED_CONTROLS:
            continue
        category = unicodedata.category(char)
        # isprintable() is False for every separator and format character too: those are fine.
        if category in ("Cc", "Cs") or _is_noncharacter(char):
            return char
    return None


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


# Letters and signs that render as blank space although their category says otherwise.
_BLANK_LOOKALIKES = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5")


def is_visible(text: str) -> bool:
    """Whether the text shows anything: at least one letter, digit, mark of punctuation or symbol.

    Spaces, format characters (zero-width spaces and joiners, BOMs, direction marks) and lone
    combining marks do not count, so a message of only those is `empty`.
    """
    return any(_shows(char) for char in text if not char.isspace())


def _shows(char: str) -> bool:
    category = unicodedata.category(char)
    return (category[0] in "LNPS" and char not in _BLANK_LOOKALIKES) or category == "Co"


def _parse_history(data: dict[str, Any]) -> HistoryQuery:
    bounds = {}
    for key in ("before", "after"):
        value = data.get(key)
        if value is not None and (type(value) is not int or not 0 <= value <= MAX_SEQ):
            raise ProtocolError("bad_request", f'"{key}" must be an integer from 0 to {MAX_SEQ}.')
        bounds[key] = value
    limit = data.get("limit", 50)
    if type(limit) is not int or not 1 <= limit <= MAX_HISTORY_PAGE:
        raise ProtocolError("bad_request", f'"limit" must be an integer from 1 to {MAX_HISTORY_PAGE}.')
    return HistoryQuery(before=bounds["before"], after=bounds["after"], limit=limit)


# -- Outbound --------------------------------------------------------------------------------
#
# The shape of every frame the server sends. Frames are built from these (some are joined as
# bytes, to cut them to size without encoding twice); tests/shapes.py checks received frames
# against the same key sets.


class UserDict(TypedDict):
    id: str  # public_id: stable per person, different for namesakes
    name: str
    guest: bool


class RoomDict(TypedDict):
    slug: str
    name: str
    topic: str
    archived: bool
    kind: str  # "public" or "members"
    guests: bool  # whether guests may join
    slow_mode: int  # seconds between one person's messages; 0 is off


class MessageDict(TypedDict):
    type: Literal["message"]
    room: str
    seq: int
    author: UserDict
    body: str
    sent_at: str
    edited_at: str | None
    client_id: str | None


class RightsDict(TypedDict):
    moderator: bool  # may delete any message, mute, ban and set slow mode
    muted: bool
    muted_until: str | None  # None while muted: until lifted
    edit_window: int  # seconds after sending that authors may edit and delete their own


class WelcomeFrame(TypedDict):
    type: Literal["welcome"]
    room: RoomDict
    you: UserDict
    rights: RightsDict
    online_count: int
    last_seq: int
    last_change: int
    heartbeat: float
    online: list[UserDict]


class QueryDict(TypedDict):
    before: int | None
    after: int | None
    limit: int


class HistoryFrameDict(TypedDict):
    type: Literal["history"]
    messages: list[MessageDict]
    has_more: bool
    resumed: bool
    reset: bool
    query: QueryDict | None


class ChangesFrame(TypedDict):
    type: Literal["changes"]
    edited: list[MessageDict]
    deleted: list[int]
    last_change: int


class AckFrame(TypedDict):
    type: Literal["ack"]
    client_id: str
    seq: int


class PresenceFrame(TypedDict):
    type: Literal["presence"]
    event: Literal["join", "leave"]
    user: UserDict
    online: int


class PresenceChange(TypedDict):
    event: Literal["join", "leave"]
    user: UserDict


class PresenceBatchFrame(TypedDict):
    type: Literal["presence"]
    event: Literal["batch"]
    online: int
    changes: list[PresenceChange]


class TypingFrame(TypedDict):
    type: Literal["typing"]
    user: UserDict


class EditedFrame(TypedDict):
    type: Literal["edited"]
    message: MessageDict
    change: int


class DeletedFrame(TypedDict):
    type: Literal["deleted"]
    seq: int
    change: int


class RightsFrame(TypedDict):
    type: Literal["rights"]
    rights: RightsDict


class SanctionedFrame(TypedDict):
    type: Literal["sanctioned"]
    action: Literal["mute", "ban"]
    user: UserDict
    until: str | None


class RoomFrame(TypedDict):
    type: Literal["room"]
    room: RoomDict


class HeartbeatFrame(TypedDict):
    type: Literal["heartbeat"]
    last_seq: int
    online: int


class _ErrorRequired(TypedDict):
    type: Literal["error"]
    code: str
    detail: str


class ErrorFrame(_ErrorRequired, total=False):
    client_id: str
    retry_after: float


# Every frame type the server sends, by its "type".
FRAMES: dict[str, tuple[type, ...]] = {
    "welcome": (WelcomeFrame,),
    "history": (HistoryFrameDict,),
    "changes": (ChangesFrame,),
    "message": (MessageDict,),
    "ack": (AckFrame,),
    "presence": (PresenceFrame, PresenceBatchFrame),
    "typing": (TypingFrame,),
    "edited": (EditedFrame,),
    "deleted": (DeletedFrame,),
    "room": (RoomFrame,),
    "rights": (RightsFrame,),
    "sanctioned": (SanctionedFrame,),
    "heartbeat": (HeartbeatFrame,),
    "error": (ErrorFrame,),
}


def encode(frame: Mapping[str, object]) -> str:
    return orjson.dumps(frame).decode()


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@functools.lru_cache(maxsize=65536)
def public_id(key: str) -> str:
    """A person's id on the wire: stable for their identity key, and not the key itself.

    Keys say which user or guest session wrote a message (chat.identity); the id lets a page tell
    two people of one name apart without learning anything it could use as either.
    """
    digest = hmac.new(settings.SECRET_KEY.encode(), key.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def user_dict(identity: Identity) -> UserDict:
    return {"id": public_id(identity.key), "name": identity.name, "guest": identity.guest}


def room_dict(room: Room) -> RoomDict:
    return {
        "slug": room.slug,
        "name": room.name,
        "topic": room.topic,
        "archived": room.archived,
        "kind": room.kind,
        "guests": room.guests_allowed,
        "slow_mode": room.slow_mode_seconds,
    }


def message_dict(message: Message, *, room_slug: str) -> MessageDict:
    return {
        "type": "message",
        "room": room_slug,
        "seq": message.seq,
        "author": {"id": public_id(message.author_key), "name": message.author_name, "guest": message.author_guest},
        "body": message.body,
        "sent_at": timestamp(message.sent_at),
        "edited_at": None if message.edited_at is None else timestamp(message.edited_at),
        "client_id": message.client_id,
    }


def rights_dict(rights: Rights) -> RightsDict:
    until = rights.muted_until
    return {
        "moderator": rights.moderator,
        "muted": rights.muted and not rights.moderator,
        "muted_until": None if until is None else timestamp(until),
        "edit_window": settings.CHAT_EDIT_WINDOW,
    }


# A stored body longer than this is cut to it when sent: only a message stored under a larger
# CHAT_MAX_BODY (or edited in the database) can be, and it must not make a frame unsendable. At
# six bytes per character (the JSON escape of a control character) it still fits PAGE_BYTES.
MAX_SENT_BODY = (PAGE_BYTES - 4096) // 6


def message_bytes(message: Message, *, room_slug: str) -> bytes:
    """The message's JSON, at most PAGE_BYTES whatever was stored."""
    return orjson.dumps(_message_fitted(message, room_slug=room_slug))


def _message_fitted(message: Message, *, room_slug: str) -> MessageDict:
    data = message_dict(message, room_slug=room_slug)
    if len(message.body) > MAX_SENT_BODY:
        data["body"] = message.body[: MAX_SENT_BODY - 1] + "\u2026"
    return data


def message_frame(message: Message, *, room_slug: str) -> str:
    return message_bytes(message, room_slug=room_slug).decode()


def _fit(parts: Sequence[bytes], *, budget: int = PAGE_BYTES, newest: bool = False) -> int:
    """How many of `parts` fit in `budget` bytes: from the start, or from the end when `newest`."""
    total = 0
    for count, part in enumerate(reversed(parts) if newest else parts):
        total += len(part) + 1
        if total > budget:
            return count
    return len(parts)


def welcome_frame(
    *,
    rights: Rights,
    you: Identity,
    online: Sequence[dict[str, Any]],
    last_seq: int,
    last_change: int,
    heartbeat: float,
) -> str:
    """The first frame; `online` lists as many of the people online as fit, `online_count` all."""
    names = [orjson.dumps(user) for user in online]
    listed = names[: _fit(names)]
    frame: WelcomeFrame = {
        "type": "welcome",
        "room": room_dict(rights.room),
        "you": user_dict(you),
        "rights": rights_dict(rights),
        "online_count": len(names),
        "last_seq": last_seq,
        "last_change": last_change,
        "heartbeat": heartbeat,
        "online": [],
    }
    head = orjson.dumps(frame)
    return (head[: -len(b"[]}")] + b"[" + b",".join(listed) + b"]}").decode()


# A stored message ready to send: its seq and its JSON (message_bytes). A worker's room snapshot
# (chat.snapshots) holds its history this way, so that a join only joins bytes.
Encoded = tuple[int, bytes]


def messages_encoded(messages: Sequence[Message], *, room_slug: str) -> list[Encoded]:
    return [(m.seq, message_bytes(m, room_slug=room_slug)) for m in messages]


@dataclass(frozen=True, slots=True)
class HistoryFrame:
    text: str
    seqs: Sequence[int]  # of the messages the frame carries: all given, or as many as fit


def history_frame(
    messages: Sequence[Message],
    *,
    room_slug: str,
    has_more: bool,
    resumed: bool = False,
    reset: bool = False,
    query: HistoryQuery | None = None,
) -> HistoryFrame:
    """A page of messages (oldest first), cut to PAGE_BYTES; a cut page says `has_more`."""
    encoded = messages_encoded(messages, room_slug=room_slug)
    return history_frame_encoded(encoded, has_more=has_more, resumed=resumed, reset=reset, query=query)


def history_frame_encoded(
    messages: Sequence[Encoded],
    *,
    has_more: bool,
    resumed: bool = False,
    reset: bool = False,
    query: HistoryQuery | None = None,
) -> HistoryFrame:
    """As history_frame, from encoded messages.

    A page that goes back in time (no `after`) keeps its newest messages, one that goes forward
    (`after`, a resume) its oldest, so that the next page continues where this one stopped.
    """
    parts = [part for _, part in messages]
    forward = resumed or (query is not None and query.after is not None)
    count = _fit(parts, newest=not forward)
    if count < len(parts):
        has_more = True
        kept = slice(0, count) if forward else slice(len(parts) - count, len(parts))
        parts, messages = parts[kept], messages[kept]
    tail = orjson.dumps(
        {
            "has_more": has_more,
            "resumed": resumed,
            "reset": reset,
            "query": None if query is None else {"before": query.before, "after": query.after, "limit": query.limit},
        }
    )
    text = b'{"type":"history","messages":[' + b",".join(parts) + b"]," + tail[1:]
    return HistoryFrame(text=text.decode(), seqs=[seq for seq, _ in messages])


def ack_frame(*, client_id: str, seq: int) -> str:
    frame: AckFrame = {"type": "ack", "client_id": client_id, "seq": seq}
    return encode(frame)


def presence_frame(*, event: str, user: dict[str, Any], online: int) -> str:
    return encode({"type": "presence", "event": event, "user": user, "online": online})


def presence_batch_frames(*, changes: list[tuple[str, dict[str, Any]]], online: int) -> list[str]:
    """Several presence changes at once, in order: [(event, user), ...]; more frames if they do not fit one."""
    items = [orjson.dumps({"event": event, "user": user}) for event, user in changes]
    head = b'{"type":"presence","event":"batch","online":%d,"changes":[' % online
    frames = []
    while items:
        count = max(1, _fit(items))
        frames.append((head + b",".join(items[:count]) + b"]}").decode())
        items = items[count:]
    return frames


def typing_frame(*, user: Mapping[str, Any]) -> str:
    return encode({"type": "typing", "user": user})


def edited_frame(message: Message, *, room_slug: str) -> str:
    frame: EditedFrame = {
        "type": "edited",
        "message": _message_fitted(message, room_slug=room_slug),
        "change": message.change,
    }
    return encode(frame)


def deleted_frame(*, seq: int, change: int) -> str:
    frame: DeletedFrame = {"type": "deleted", "seq": seq, "change": change}
    return encode(frame)


def changes_frames(messages: Sequence[Message], *, room_slug: str, last_change: int) -> list[str]:
    """What a resuming client missed of messages it holds: edits and deletions, in as many frames as fit."""
    edited = [message_bytes(m, room_slug=room_slug) for m in messages if m.deleted_at is None]
    deleted = [m.seq for m in messages if m.deleted_at is not None]
    tail = orjson.dumps({"deleted": deleted, "last_change": last_change})  # seqs: small next to PAGE_BYTES
    frames = []
    while True:
        count = _fit(edited, budget=PAGE_BYTES - len(tail))
        count = max(count, 1) if edited else 0
        part, edited = edited[:count], edited[count:]
        frames.append((b'{"type":"changes","edited":[' + b",".join(part) + b"]," + tail[1:]).decode())
        if not edited:
            return frames


def rights_frame(rights: Rights) -> str:
    frame: RightsFrame = {"type": "rights", "rights": rights_dict(rights)}
    return encode(frame)


def sanctioned_frame(sanction: Sanction) -> str:
    user: UserDict = {
        "id": public_id(sanction.person_key),
        "name": sanction.person_name,
        "guest": not sanction.person_key.startswith("u:"),
    }
    until = None if sanction.expires_at is None else timestamp(sanction.expires_at)
    action: Literal["mute", "ban"] = "ban" if sanction.kind == "ban" else "mute"
    frame: SanctionedFrame = {"type": "sanctioned", "action": action, "user": user, "until": until}
    return encode(frame)


def room_frame(room: Room) -> str:
    frame: RoomFrame = {"type": "room", "room": room_dict(room)}
    return encode(frame)


def heartbeat_frame(*, last_seq: int, online: int) -> str:
    frame: HeartbeatFrame = {"type": "heartbeat", "last_seq": last_seq, "online": online}
    return encode(frame)


def error_frame(error: ProtocolError) -> str:
    frame: ErrorFrame = {"type": "error", "code": error.code, "detail": error.detail}
    if error.client_id is not None:
        frame["client_id"] = error.client_id
    if error.retry_after is not None:
        frame["retry_after"] = round(error.retry_after, 2)
    return encode(frame)
