"""The exact shape of every server frame (docs/protocol.md); tests check each frame they receive."""

from __future__ import annotations

import re
from typing import Any

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


OPAQUE_ID = re.compile(r"[0-9a-f]{16}")


def _user(value: Any) -> None:
    assert isinstance(value, dict), value
    assert set(value) == {"id", "name", "guest"}, value
    assert isinstance(value["id"], str) and OPAQUE_ID.fullmatch(value["id"]), value
    assert isinstance(value["name"], str) and value["name"]
    assert isinstance(value["guest"], bool)


def _room(value: Any) -> None:
    assert set(value) == {"slug", "name", "topic", "archived"}, value
    assert all(isinstance(value[k], str) for k in ("slug", "name", "topic"))
    assert isinstance(value["archived"], bool)


def _int(value: Any, minimum: int = 0) -> None:
    assert type(value) is int and value >= minimum, value


def _message(frame: dict[str, Any]) -> None:
    assert set(frame) == {"type", "room", "seq", "author", "body", "sent_at", "client_id"}, frame
    assert frame["type"] == "message"
    _int(frame["seq"], 1)
    _user(frame["author"])
    assert isinstance(frame["body"], str) and isinstance(frame["room"], str)
    assert ISO_UTC.match(frame["sent_at"]), frame["sent_at"]
    assert frame["client_id"] is None or isinstance(frame["client_id"], str)


def _welcome(frame: dict[str, Any]) -> None:
    assert set(frame) == {"type", "room", "you", "online", "online_count", "last_seq", "heartbeat"}, frame
    _room(frame["room"])
    _user(frame["you"])
    for user in frame["online"]:
        _user(user)
    _int(frame["online_count"], len(frame["online"]))
    _int(frame["last_seq"])
    assert isinstance(frame["heartbeat"], int | float) and frame["heartbeat"] > 0


def _history(frame: dict[str, Any]) -> None:
    assert set(frame) == {"type", "messages", "has_more", "resumed", "reset", "query"}, frame
    for message in frame["messages"]:
        _message(message)
    seqs = [m["seq"] for m in frame["messages"]]
    assert seqs == sorted(set(seqs)), "history must be oldest first, without repeats"
    assert all(isinstance(frame[k], bool) for k in ("has_more", "resumed", "reset"))
    assert frame["query"] is None or set(frame["query"]) == {"before", "after", "limit"}


def _error(frame: dict[str, Any]) -> None:
    assert {"type", "code", "detail"} <= set(frame) <= {"type", "code", "detail", "client_id", "retry_after"}, frame
    assert isinstance(frame["code"], str) and isinstance(frame["detail"], str) and frame["detail"]


def _presence_change(frame: dict[str, Any]) -> None:
    set(frame) == {"type", "event", "user", "online"} or _fail(frame)
    frame["event"] in ("join", "leave") or _fail(frame)
    _user(frame["user"])
    _int(frame["online"])


def _presence_batch(frame: dict[str, Any]) -> None:
    set(frame) == {"type", "event", "changes", "online"} or _fail(frame)
    (isinstance(frame["changes"], list) and len(frame["changes"]) >= 2) or _fail(frame)
    for change in frame["changes"]:
        (set(change) == {"event", "user"} and change["event"] in ("join", "leave")) or _fail(frame)
        _user(change["user"])
    _int(frame["online"])


CHECKS = {
    "welcome": _welcome,
    "history": _history,
    "message": _message,
    "ack": lambda f: (set(f) == {"type", "client_id", "seq"} or _fail(f), _int(f["seq"], 1)),
    "presence": lambda f: _presence_batch(f) if f.get("event") == "batch" else _presence_change(f),
    "typing": lambda f: (set(f) == {"type", "user"} or _fail(f), _user(f["user"])),
    "deleted": lambda f: (set(f) == {"type", "seq"} or _fail(f), _int(f["seq"], 1)),
    "room": lambda f: (set(f) == {"type", "room"} or _fail(f), _room(f["room"])),
    "heartbeat": lambda f: (
        set(f) == {"type", "last_seq", "online"} or _fail(f),
        _int(f["last_seq"]),
        _int(f["online"]),
    ),
    "error": _error,
}


def _fail(frame: dict[str, Any]) -> None:
    raise AssertionError(f"unexpected shape: {frame}")


def check(frame: dict[str, Any]) -> dict[str, Any]:
    """Assert that `frame` is a well-formed server frame; return it."""
    assert isinstance(frame, dict) and frame.get("type") in CHECKS, frame
    CHECKS[frame["type"]](frame)
    return frame
