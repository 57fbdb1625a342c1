"""The exact shape of every server frame (docs/protocol.md); tests check each frame they receive."""

from __future__ import annotations

import re
from typing import Any

from chat import protocol


def keys(shape: type) -> set[str]:
    """The keys a frame of this protocol.py TypedDict carries (all of them, optional ones included)."""
    return set(shape.__required_keys__ | shape.__optional_keys__)  # type: ignore[attr-defined]


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


OPAQUE_ID = re.compile(r"[0-9a-f]{16}")


def _user(value: Any) -> None:
    assert isinstance(value, dict), value
    assert set(value) == keys(protocol.UserDict), value
    assert isinstance(value["id"], str) and OPAQUE_ID.fullmatch(value["id"]), value
    assert isinstance(value["name"], str) and value["name"]
    assert isinstance(value["guest"], bool)


def _room(value: Any) -> None:
    assert set(value) == keys(protocol.RoomDict), value
    assert all(isinstance(value[k], str) for k in ("slug", "name", "topic"))
    assert isinstance(value["archived"], bool) and isinstance(value["guests"], bool)
    assert value["kind"] in ("public", "members"), value
    _int(value["slow_mode"])


def _rights(value: Any) -> None:
    assert set(value) == keys(protocol.RightsDict), value
    assert isinstance(value["moderator"], bool) and isinstance(value["muted"], bool)
    assert value["muted_until"] is None or ISO_UTC.match(value["muted_until"]), value
    _int(value["edit_window"])


def _int(value: Any, minimum: int = 0) -> None:
    assert type(value) is int and value >= minimum, value


def _message(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.MessageDict), frame
    assert frame["type"] == "message"
    _int(frame["seq"], 1)
    _user(frame["author"])
    assert isinstance(frame["body"], str) and isinstance(frame["room"], str)
    assert ISO_UTC.match(frame["sent_at"]), frame["sent_at"]
    assert frame["edited_at"] is None or ISO_UTC.match(frame["edited_at"]), frame["edited_at"]
    assert frame["client_id"] is None or isinstance(frame["client_id"], str)


def _welcome(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.WelcomeFrame), frame
    _room(frame["room"])
    _user(frame["you"])
    _rights(frame["rights"])
    _int(frame["last_change"])
    for user in frame["online"]:
        _user(user)
    _int(frame["online_count"], len(frame["online"]))
    _int(frame["last_seq"])
    assert isinstance(frame["heartbeat"], int | float) and frame["heartbeat"] > 0


def _history(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.HistoryFrameDict), frame
    for message in frame["messages"]:
        _message(message)
    seqs = [m["seq"] for m in frame["messages"]]
    assert seqs == sorted(set(seqs)), "history must be oldest first, without repeats"
    assert all(isinstance(frame[k], bool) for k in ("has_more", "resumed", "reset"))
    assert frame["query"] is None or set(frame["query"]) == keys(protocol.QueryDict)


def _changes(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.ChangesFrame), frame
    for message in frame["edited"]:
        _message(message)
    for seq in frame["deleted"]:
        _int(seq, 1)
    _int(frame["last_change"], 1)


def _error(frame: dict[str, Any]) -> None:
    assert {"type", "code", "detail"} <= set(frame) <= keys(protocol.ErrorFrame), frame
    assert isinstance(frame["code"], str) and isinstance(frame["detail"], str) and frame["detail"]


def _presence_change(frame: dict[str, Any]) -> None:
    set(frame) == keys(protocol.PresenceFrame) or _fail(frame)
    frame["event"] in ("join", "leave") or _fail(frame)
    _user(frame["user"])
    _int(frame["online"])


def _presence_batch(frame: dict[str, Any]) -> None:
    set(frame) == keys(protocol.PresenceBatchFrame) or _fail(frame)
    (isinstance(frame["changes"], list) and len(frame["changes"]) >= 2) or _fail(frame)
    for change in frame["changes"]:
        (set(change) == keys(protocol.PresenceChange) and change["event"] in ("join", "leave")) or _fail(frame)
        _user(change["user"])
    _int(frame["online"])


def _edited(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.EditedFrame), frame
    _message(frame["message"])
    assert frame["message"]["edited_at"] is not None, frame
    _int(frame["change"], 1)


def _sanctioned(frame: dict[str, Any]) -> None:
    assert set(frame) == keys(protocol.SanctionedFrame), frame
    assert frame["action"] in ("mute", "ban"), frame
    _user(frame["user"])
    assert frame["until"] is None or ISO_UTC.match(frame["until"]), frame


CHECKS = {
    "welcome": _welcome,
    "history": _history,
    "changes": _changes,
    "message": _message,
    "ack": lambda f: (set(f) == keys(protocol.AckFrame) or _fail(f), _int(f["seq"], 1)),
    "presence": lambda f: _presence_batch(f) if f.get("event") == "batch" else _presence_change(f),
    "typing": lambda f: (set(f) == keys(protocol.TypingFrame) or _fail(f), _user(f["user"])),
    "edited": _edited,
    "deleted": lambda f: (set(f) == keys(protocol.DeletedFrame) or _fail(f), _int(f["seq"], 1), _int(f["change"], 1)),
    "room": lambda f: (set(f) == keys(protocol.RoomFrame) or _fail(f), _room(f["room"])),
    "rights": lambda f: (set(f) == keys(protocol.RightsFrame) or _fail(f), _rights(f["rights"])),
    "sanctioned": _sanctioned,
    "heartbeat": lambda f: (
        set(f) == keys(protocol.HeartbeatFrame) or _fail(f),
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
