from __future__ import annotations

import orjson
import pytest
from django.utils import timezone

from chat import protocol
from chat.identity import Identity
from chat.models import Message, Room
from chat.protocol import HistoryQuery, PostMessage, ProtocolError, Typing, parse_inbound
from chat.rights import Rights

pytestmark = pytest.mark.database_agnostic


def parse(text: str | None) -> protocol.Inbound:
    return parse_inbound(text, max_body=10)


def code_of(text: str | None) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse(text)
    return caught.value.code


def test_message_frame_parses_with_and_without_client_id() -> None:
    assert parse('{"type": "message", "body": "hi"}') == PostMessage(body="hi", client_id=None)
    assert parse('{"type": "message", "body": "hi", "client_id": "c-1"}') == PostMessage(body="hi", client_id="c-1")


def test_history_and_typing_frames_parse() -> None:
    assert parse('{"type": "history", "before": 10, "limit": 5}') == HistoryQuery(before=10, after=None, limit=5)
    assert parse('{"type": "history", "after": 3}') == HistoryQuery(before=None, after=3, limit=50)
    assert parse('{"type": "typing"}') == Typing()


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("not json", "bad_json"),
        ('{"type": "message", "body": "x"', "bad_json"),
        ("[1, 2]", "bad_request"),
        ('"a string"', "bad_request"),
        ("null", "bad_request"),
        ('{"body": "no type"}', "bad_request"),
        ('{"type": 5}', "bad_request"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "message"}', "bad_request"),
        ('{"type": "message", "body": 42}', "bad_request"),
        ('{"type": "message", "body": ["x"]}', "bad_request"),
        ('{"type": "message", "body": "x", "client_id": 7}', "bad_request"),
        ('{"type": "message", "body": "x", "client_id": ""}', "bad_request"),
        ('{"type": "message", "body": "x", "client_id": "' + "c" * 65 + '"}', "bad_request"),
        ('{"type": "message", "body": ""}', "empty"),
        ('{"type": "message", "body": " \\n\\t "}', "empty"),
        ('{"type": "message", "body": "12345678901"}', "too_long"),
        ('{"type": "history", "before": "9"}', "bad_request"),
        ('{"type": "history", "before": -1}', "bad_request"),
        ('{"type": "history", "after": true}', "bad_request"),
        ('{"type": "history", "limit": 0}', "bad_request"),
        ('{"type": "history", "limit": 101}', "bad_request"),
        (None, "bad_request"),
        ("x" * (protocol.MAX_FRAME_CHARS + 1), "too_long"),
    ],
)
def test_bad_frames_get_their_error_code(text: str | None, code: str) -> None:
    assert code_of(text) == code


def test_refused_message_echoes_its_client_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse('{"type": "message", "body": "  ", "client_id": "abc"}')
    assert caught.value.client_id == "abc"
    frame = protocol.error_frame(caught.value)
    assert frame == '{"type":"error","code":"empty","detail":"The message is empty.","client_id":"abc"}'


def test_body_at_the_limit_is_accepted() -> None:
    assert parse('{"type": "message", "body": "1234567890"}') == PostMessage(body="1234567890", client_id=None)


# -- Outbound frames fit daphne's 1 MiB whatever is stored ------------------------------------

FRAME_LIMIT = 1024 * 1024


def everyones_rights(room: Room) -> Rights:
    """What someone with no role and no sanction may do in `room`."""
    return Rights(room=room, member=False, moderator=False, banned=False, muted=False, muted_until=None)


def stored(seq: int, body: str) -> Message:
    return Message(seq=seq, author_name="ann", author_guest=True, body=body, sent_at=timezone.now(), client_id=None)


def test_a_page_going_back_in_time_is_cut_to_its_newest_messages() -> None:
    page = [stored(seq, "\U0001f98a" * 4000) for seq in range(1, 51)]
    frame = protocol.history_frame(page, room_slug="den", has_more=False)
    data = orjson.loads(frame.text)
    assert len(frame.text.encode()) <= protocol.PAGE_BYTES + 200
    assert [m["seq"] for m in data["messages"]] == list(frame.seqs) == list(range(51 - 16, 51))
    assert data["has_more"] is True  # cut: older ones exist


def test_a_page_going_forward_is_cut_to_its_oldest_messages() -> None:
    page = [stored(seq, "\x01" * 3999 + "!") for seq in range(1, 101)]
    query = HistoryQuery(before=None, after=0, limit=100)
    frame = protocol.history_frame(page, room_slug="den", has_more=False, query=query)
    data = orjson.loads(frame.text)
    assert data["messages"][0]["seq"] == 1 and data["has_more"] is True
    assert len(frame.text.encode()) < FRAME_LIMIT
    resumed = protocol.history_frame(page, room_slug="den", has_more=False, resumed=True)
    assert resumed.seqs[0] == 1 and len(resumed.seqs) == len(frame.seqs)


def test_a_page_that_fits_is_sent_whole_with_its_own_has_more() -> None:
    page = [stored(seq, "hi") for seq in range(1, 4)]
    frame = protocol.history_frame(page, room_slug="den", has_more=False)
    assert len(frame.seqs) == 3 and orjson.loads(frame.text)["has_more"] is False


def test_a_huge_stored_body_is_sent_cut_to_fit_one_page() -> None:
    text = protocol.message_frame(stored(1, "\x00" * 500_000), room_slug="den")
    body = orjson.loads(text)["body"]
    assert len(text.encode()) <= protocol.PAGE_BYTES and len(body) == protocol.MAX_SENT_BODY
    assert body.endswith("\u2026")


def test_the_welcome_lists_as_many_as_fit_and_counts_everyone() -> None:
    online = [{"id": f"{i:016x}", "name": "\u00e9" * 140 + str(i), "guest": True} for i in range(20_000)]
    rights = everyones_rights(Room(slug="den", name="Den", topic="", archived=False))
    you = Identity(key="g:x", name="x", guest=True)
    text = protocol.welcome_frame(rights=rights, you=you, online=online, last_seq=0, last_change=0, heartbeat=15)
    data = orjson.loads(text)
    assert len(text.encode()) < FRAME_LIMIT and data["online_count"] == 20_000
    assert 0 < len(data["online"]) < 20_000 and data["online"] == online[: len(data["online"])]


def test_a_presence_batch_too_big_for_one_frame_is_split_in_order() -> None:
    changes = [("join", {"id": f"{i:016x}", "name": "\u00e9" * 150 + str(i), "guest": True}) for i in range(5000)]
    frames = protocol.presence_batch_frames(changes=changes, online=5000)
    assert len(frames) > 1 and all(len(f.encode()) < FRAME_LIMIT for f in frames)
    names = [c["user"]["name"] for f in frames for c in orjson.loads(f)["changes"]]
    assert names == [user["name"] for _, user in changes]


def test_every_frame_type_the_server_sends_has_a_shape_check() -> None:
    from tests import shapes

    assert set(shapes.CHECKS) == set(protocol.FRAMES)
