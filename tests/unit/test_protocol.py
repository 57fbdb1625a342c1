from __future__ import annotations

import pytest

from chat import protocol
from chat.protocol import HistoryQuery, PostMessage, ProtocolError, Typing, parse_inbound


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
