"""The wire format: parse what clients send, build what the server sends (docs/protocol.md)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from chat.identity import Identity
    from chat.models import Message, Room

MAX_CLIENT_ID = 64
MAX_HISTORY_PAGE = 100
# Far above any legal message frame (4000 characters of body are at most 16 KB of UTF-8, more
# with JSON escapes), far below what would hurt a worker to parse.
MAX_FRAME_CHARS = 64 * 1024


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
    body: str
    client_id: str | None


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    before: int | None
    after: int | None
    limit: int


@dataclass(frozen=True, slots=True)
class Typing:
    pass


Inbound = PostMessage | HistoryQuery | Typing


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
    raise ProtocolError("unknown_type", f'Unknown frame type "{kind[:40]}".')


def _parse_message(data: dict[str, Any], *, max_body: int) -> PostMessage:
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not 0 < len(client_id) <= MAX_CLIENT_ID):
        raise ProtocolError("bad_request", f'"client_id" must be a string of 1 to {MAX_CLIENT_ID} characters.')
    body = data.get("body")
    if not isinstance(body, str):
        raise ProtocolError("bad_request", 'A message needs a string "body".', client_id=client_id)
    if not body.strip():
        raise ProtocolError("empty", "The message is empty.", client_id=client_id)
    if len(body) > max_body:
        raise ProtocolError("too_long", f"Messages are limited to {max_body} characters.", client_id=client_id)
    return PostMessage(body=body, client_id=client_id)


def _parse_history(data: dict[str, Any]) -> HistoryQuery:
    bounds = {}
    for key in ("before", "after"):
        value = data.get(key)
        if value is not None and (type(value) is not int or value < 0):
            raise ProtocolError("bad_request", f'"{key}" must be a non-negative integer.')
        bounds[key] = value
    limit = data.get("limit", 50)
    if type(limit) is not int or not 1 <= limit <= MAX_HISTORY_PAGE:
        raise ProtocolError("bad_request", f'"limit" must be an integer from 1 to {MAX_HISTORY_PAGE}.')
    return HistoryQuery(before=bounds["before"], after=bounds["after"], limit=limit)


# -- Outbound --------------------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user_dict(identity: Identity) -> dict[str, Any]:
    return {"name": identity.name, "guest": identity.guest}


def room_dict(room: Room) -> dict[str, Any]:
    return {"slug": room.slug, "name": room.name, "topic": room.topic, "archived": room.archived}


def message_dict(message: Message, *, room_slug: str) -> dict[str, Any]:
    return {
        "type": "message",
        "room": room_slug,
        "seq": message.seq,
        "author": {"name": message.author_name, "guest": message.author_guest},
        "body": message.body,
        "sent_at": timestamp(message.sent_at),
        "client_id": message.client_id,
    }


def message_frame(message: Message, *, room_slug: str) -> str:
    return encode(message_dict(message, room_slug=room_slug))


def welcome_frame(
    *, room: Room, you: Identity, online: Iterable[dict[str, Any]], last_seq: int, heartbeat: float
) -> str:
    return encode(
        {
            "type": "welcome",
            "room": room_dict(room),
            "you": user_dict(you),
            "online": list(online),
            "last_seq": last_seq,
            "heartbeat": heartbeat,
        }
    )


def history_frame(
    messages: Iterable[Message],
    *,
    room_slug: str,
    has_more: bool,
    resumed: bool = False,
    reset: bool = False,
    query: HistoryQuery | None = None,
) -> str:
    return encode(
        {
            "type": "history",
            "messages": [message_dict(m, room_slug=room_slug) for m in messages],
            "has_more": has_more,
            "resumed": resumed,
            "reset": reset,
            "query": None if query is None else {"before": query.before, "after": query.after, "limit": query.limit},
        }
    )


def ack_frame(*, client_id: str, seq: int) -> str:
    return encode({"type": "ack", "client_id": client_id, "seq": seq})


def presence_frame(*, event: str, user: dict[str, Any], online: int) -> str:
    return encode({"type": "presence", "event": event, "user": user, "online": online})


def presence_batch_frame(*, changes: list[tuple[str, dict[str, Any]]], online: int) -> str:
    """Several presence changes at once, in order: [(event, user), ...]."""
    items = [{"event": event, "user": user} for event, user in changes]
    return encode({"type": "presence", "event": "batch", "changes": items, "online": online})


def typing_frame(*, user: dict[str, Any]) -> str:
    return encode({"type": "typing", "user": user})


def deleted_frame(*, seq: int) -> str:
    return encode({"type": "deleted", "seq": seq})


def room_frame(room: Room) -> str:
    return encode({"type": "room", "room": room_dict(room)})


def heartbeat_frame(*, last_seq: int, online: int) -> str:
    return encode({"type": "heartbeat", "last_seq": last_seq, "online": online})


def error_frame(error: ProtocolError) -> str:
    frame: dict[str, Any] = {"type": "error", "code": error.code, "detail": error.detail}
    if error.client_id is not None:
        frame["client_id"] = error.client_id
    if error.retry_after is not None:
        frame["retry_after"] = round(error.retry_after, 2)
    return encode(frame)
