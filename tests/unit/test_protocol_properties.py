"""Properties of the wire format over arbitrary input (hypothesis): what no client frame can break.

Inbound: whatever text arrives, parse_inbound returns a typed request or raises ProtocolError with a
documented code, and what it accepts can be stored and sent back. Outbound: whatever was stored, a
history or welcome frame stays under daphne's frame limit, is JSON, and pages on where it stopped.
"""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, settings, target
from hypothesis import strategies as st

from chat import protocol
from chat.identity import Identity
from chat.models import Message, Room
from chat.protocol import HistoryQuery, PostMessage, ProtocolError, Typing, parse_inbound
from tests import shapes
from tests.unit.test_protocol import everyones_rights

pytestmark = pytest.mark.database_agnostic

# The codes parse_inbound may raise (docs/protocol.md, "Error codes", less those only the consumer sends).
PARSE_CODES = {"bad_json", "bad_request", "unknown_type", "empty", "too_long", "bad_text"}
# daphne's default --websocket-max-message-size: a bigger frame is not sent, the connection fails.
DAPHNE_FRAME_LIMIT = 1024 * 1024
# What a page frame holds besides its messages or names: the room, the user, the query, the flags.
FRAME_AROUND = 4096
# The wire contract for a client_id, written out here rather than taken from protocol.py.
CLIENT_ID = re.compile(r"[!-~]{1,64}")
TYPES = ("message", "history", "typing")

# Derandomized: the same examples on every run, so that CI does not pass and fail by luck; no
# example database, so that a run leaves nothing behind and depends on no earlier one.
PROPERTY = settings(deadline=None, max_examples=300, derandomize=True, database=None)
# Pages of big messages take a while to build; fewer of them.
BIG = settings(
    PROPERTY,
    max_examples=80,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    # Explaining a failure replays it hundreds of times: for examples this big, past the test timeout.
    phases=[phase for phase in Phase if phase is not Phase.explain],
    report_multiple_bugs=False,
)

# Every code point, lone surrogates and unassigned ones included.
ANY_CHAR = st.characters(exclude_categories=())
# What a database can hold: every code point but surrogates (the UTF-8 codecs refuse them).
STORED_CHAR = st.characters(exclude_categories=("Cs",))
# The text people type: letters, marks, digits, punctuation, symbols and emoji, spaces, tabs and line breaks.
TYPED_CHAR = st.characters(categories=("L", "M", "N", "P", "S", "Zs"), include_characters="\t\n\r")


def repeated(chars: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    """Long strings cheaply: a short random chunk repeated up to a random length, often near `max_size`."""
    return st.builds(
        lambda chunk, size: (chunk * (size // len(chunk) + 1))[:size],
        st.text(chars, min_size=1, max_size=12),
        st.integers(0, max_size) | st.integers(max_size // 2, max_size),
    )


def texts(chars: st.SearchStrategy[str], max_size: int) -> st.SearchStrategy[str]:
    return st.text(chars, max_size=40) | repeated(chars, max_size)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**1100), max_value=2**1100)  # beyond int64 and beyond a double
    | st.floats()  # nan and infinities too: json.dumps writes them, JSON has no such thing
    | texts(ANY_CHAR, 70_000)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(ANY_CHAR, max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# Values near what each field expects, so that the range checks and the accepting paths are reached too.
PLAUSIBLE = {
    "type": st.sampled_from(TYPES) | st.text(ANY_CHAR, max_size=10),
    "body": texts(TYPED_CHAR, 4100) | texts(ANY_CHAR, 200) | st.sampled_from(["", " ", "\u200b", "\t\n", "x\x00"]),
    # Anchored with ^ and $, which also match before a final newline: hypothesis writes such tokens too.
    "client_id": st.from_regex(r"^[!-~]{1,70}$") | st.text(ANY_CHAR, max_size=70),
    "before": st.integers(-2, 5) | st.integers(protocol.MAX_SEQ - 2, protocol.MAX_SEQ + 2) | st.booleans(),
    "after": st.integers(-2, 5) | st.integers(protocol.MAX_SEQ - 2, protocol.MAX_SEQ + 2) | st.floats(0, 9),
    "limit": st.integers(-2, 103) | st.booleans() | st.floats(0, 101),
}


@st.composite
def frames(draw: st.DrawFn) -> dict[str, Any]:
    """A client frame as a dict: any type, each field absent, plausible, or any JSON value at all."""
    frame = draw(st.dictionaries(st.text(ANY_CHAR, max_size=8), JSON_VALUES, max_size=3))
    for field, plausible in PLAUSIBLE.items():
        choice = draw(st.sampled_from(["absent", "plausible", "plausible", "any"]))
        if choice != "absent":
            frame[field] = draw(plausible if choice == "plausible" else JSON_VALUES)
    return frame


@st.composite
def typed_bodies(draw: st.DrawFn, max_size: int) -> str:
    """Ordinary text with at least one letter or digit in it, at most `max_size` characters.

    Often with blank space around it, as pasted text has: it must arrive as it was sent.
    """
    blank = st.text(st.sampled_from(" \t\n\r\u00a0\u3000"), max_size=min(2, (max_size - 1) // 2))
    lead, trail = draw(blank), draw(blank)
    anchor = draw(st.characters(categories=("Lu", "Ll", "Nd")))
    around = draw(st.text(TYPED_CHAR, max_size=max_size - 1 - len(lead) - len(trail)))
    cut = draw(st.integers(0, len(around)))
    return lead + around[:cut] + anchor + around[cut:] + trail


# Characters that have broken text handling somewhere: controls, surrogates, noncharacters, line
# and paragraph separators, zero-width and direction marks, the BOM, astral emoji.
NASTY_CHAR = st.sampled_from(
    "\x00\x07\x1b\x7f\x85\ud800\udfff\ufdd0\ufffe\uffff\U0010ffff\U0001fffe\u2028\u2029\u200b\u202e\ufeff"
    "\U0001f600\u0301\u3164\u2800\t\n\r "
)
HOSTILE_BODY = st.builds(
    lambda typed, hostile, at: typed[:at] + hostile + typed[at:],
    st.text(TYPED_CHAR, max_size=8),
    st.text(ANY_CHAR | NASTY_CHAR, min_size=1, max_size=8),
    st.integers(0, 8),
)
VALID = {
    "message": {"body": typed_bodies(60), "client_id": st.none() | st.from_regex(CLIENT_ID, fullmatch=True)},
    "history": {
        "before": st.none() | st.integers(0, protocol.MAX_SEQ),
        "after": st.none() | st.integers(0, protocol.MAX_SEQ),
        "limit": st.integers(1, protocol.MAX_HISTORY_PAGE),
    },
    "typing": {},
}
REQUIRED = {"body"}


@st.composite
def frames_with_a_wrong_field(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed frame of each type, but for one field (its type included) that gets anything."""
    kind = draw(st.sampled_from(TYPES))
    frame: dict[str, Any] = {"type": kind}
    for field, valid in VALID[kind].items():
        if field in REQUIRED or draw(st.booleans()):
            frame[field] = draw(valid)
    field = draw(st.sampled_from(["type", *VALID[kind]]))
    if field == "body" and draw(st.booleans()):
        frame[field] = draw(HOSTILE_BODY)
    else:
        frame[field] = draw(JSON_VALUES | PLAUSIBLE[field])
    return frame


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def storable(body: str) -> bool:
    """Whether every database and every client takes the text: UTF-8, no controls but tab and line breaks."""
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any((unicodedata.category(c) == "Cc" and c not in "\t\n\r") or _is_noncharacter(c) for c in body)


def visible(body: str) -> bool:
    """At least one letter, digit, punctuation mark, symbol or private-use character."""
    return any(unicodedata.category(c)[0] in "LNPS" or unicodedata.category(c) == "Co" for c in body if not c.isspace())


def checked_refusal(error: ProtocolError) -> ProtocolError:
    """Check what every refusal has in common; return it."""
    assert error.code in PARSE_CODES, error.code
    # The client's own token comes back only if it is one: nothing else the client sent is echoed.
    assert error.client_id is None or CLIENT_ID.fullmatch(error.client_id), ascii(error.client_id)
    frame = protocol.error_frame(error)
    assert len(frame.encode()) < 1024, frame  # whatever the client sent, the answer is small
    shapes.check(orjson.loads(frame))
    return error


def outcome(text: str, *, max_body: int = 4000) -> protocol.Inbound | ProtocolError:
    """Parse `text`; check the properties every outcome has; return the request or the error."""
    try:
        request = parse_inbound(text, max_body=max_body)
    except ProtocolError as error:
        return checked_refusal(error)
    assert isinstance(request, PostMessage | HistoryQuery | Typing), request
    if isinstance(request, PostMessage):
        assert storable(request.body), ascii(request.body)
        assert visible(request.body), ascii(request.body)
        assert len(request.body) <= max_body
        assert request.client_id is None or CLIENT_ID.fullmatch(request.client_id), ascii(request.client_id)
    elif isinstance(request, HistoryQuery):
        for bound in (request.before, request.after):
            assert bound is None or (type(bound) is int and 0 <= bound <= protocol.MAX_SEQ), bound
        assert type(request.limit) is int and 1 <= request.limit <= protocol.MAX_HISTORY_PAGE, request.limit
    return request


def expected_codes(data: Any, *, max_body: int) -> set[str | None]:
    """What the protocol allows for a decoded frame: None (accepted) or the codes of the rules it breaks."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return {"bad_request"}
    kind = data["type"]
    if kind not in TYPES:
        return {"unknown_type"}
    if kind == "typing":
        return {None}
    if kind == "history":
        bounds, limit = (data.get("before"), data.get("after")), data.get("limit", 50)
        in_range = all(v is None or (type(v) is int and 0 <= v <= protocol.MAX_SEQ) for v in bounds)
        return (
            {None} if in_range and type(limit) is int and 1 <= limit <= protocol.MAX_HISTORY_PAGE else {"bad_request"}
        )
    body, client_id = data.get("body"), data.get("client_id")
    broken = set()
    if client_id is not None and not (isinstance(client_id, str) and CLIENT_ID.fullmatch(client_id)):
        broken.add("bad_request")
    if not isinstance(body, str):
        return broken | {"bad_request"}
    if len(body) > max_body:
        broken.add("too_long")
    if not storable(body):
        broken.add("bad_text")
    if not visible(body):
        broken.add("empty")
    if broken:
        return broken
    # A letter or a digit always shows; other signs may be blank look-alikes the server calls empty.
    return {None} if any(unicodedata.category(c) in ("Lu", "Ll", "Nd") for c in body) else {None, "empty"}


# -- Inbound ---------------------------------------------------------------------------------


@PROPERTY
@given(text=texts(ANY_CHAR, 80_000), max_body=st.integers(1, 5000))
def test_any_text_is_parsed_or_refused_with_a_documented_code(text: str, max_body: int) -> None:
    outcome(text, max_body=max_body)


@PROPERTY
@given(value=JSON_VALUES, ascii_only=st.booleans())
def test_any_json_value_is_parsed_or_refused_with_a_documented_code(value: Any, ascii_only: bool) -> None:
    outcome(json.dumps(value, ensure_ascii=ascii_only))


def check_frame(frame: dict[str, Any], *, ascii_only: bool, max_body: int) -> None:
    """Send `frame` as JSON: it gets exactly what the protocol says, and what is accepted is what was sent."""
    text = json.dumps(frame, ensure_ascii=ascii_only)
    result = outcome(text, max_body=max_body)
    if len(text) > protocol.MAX_FRAME_CHARS:
        event("refused unread: too_long")
        assert isinstance(result, ProtocolError) and result.code == "too_long"
        return
    try:
        # The JSON the server sees: NaN, infinities and lone surrogates are not JSON, big integers become floats.
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        event("refused: bad_json")
        assert isinstance(result, ProtocolError) and result.code == "bad_json"
        return
    allowed = expected_codes(data, max_body=max_body)
    code = result.code if isinstance(result, ProtocolError) else None
    event(f"refused: {code}" if code else f"accepted: {result.kind}")
    assert code in allowed, (code, allowed)
    if code is not None:
        return
    # Nothing dropped, trimmed or defaulted but `limit`.
    assert result.kind == data["type"]
    if isinstance(result, PostMessage):
        assert (result.body, result.client_id) == (data["body"], data.get("client_id"))
    elif isinstance(result, HistoryQuery):
        sent = (data.get("before"), data.get("after"), data.get("limit", 50))
        assert (result.before, result.after, result.limit) == sent


@settings(PROPERTY, max_examples=500)
# A client_id with a final newline once passed (re.match with "$"), and was stored and echoed.
@example(frame={"type": "message", "body": "hi", "client_id": "c-1\n"}, ascii_only=True, max_body=10)
@given(frame=frames() | frames_with_a_wrong_field(), ascii_only=st.booleans(), max_body=st.sampled_from([1, 10, 4000]))
def test_a_frame_with_any_value_in_any_field_gets_its_request_or_the_right_error(
    frame: dict[str, Any], ascii_only: bool, max_body: int
) -> None:
    check_frame(frame, ascii_only=ascii_only, max_body=max_body)


@PROPERTY
@given(
    body=HOSTILE_BODY | typed_bodies(30) | texts(STORED_CHAR, 5000),
    client_id=st.none() | st.from_regex(CLIENT_ID, fullmatch=True),
    ascii_only=st.booleans(),
)
def test_a_message_is_taken_exactly_when_its_body_is_storable_visible_and_short_enough(
    body: str, client_id: str | None, ascii_only: bool
) -> None:
    frame = {"type": "message", "body": body, "client_id": client_id}
    check_frame(frame, ascii_only=ascii_only, max_body=4000)


@PROPERTY
@given(data=st.data(), max_body=st.integers(1, 200), client_id=st.none() | st.from_regex(CLIENT_ID, fullmatch=True))
def test_ordinary_text_within_the_limit_is_accepted_as_sent(
    data: st.DataObject, max_body: int, client_id: str | None
) -> None:
    body = data.draw(typed_bodies(max_body))
    frame = {"type": "message", "body": body} | ({} if client_id is None else {"client_id": client_id})
    for ascii_only in (True, False):
        assert parse_inbound(json.dumps(frame, ensure_ascii=ascii_only), max_body=max_body) == PostMessage(
            body=body, client_id=client_id
        )


@PROPERTY
@given(body=st.text(st.characters(categories=("Z", "Cf"), include_characters="\t\n\r"), max_size=50))
def test_a_body_of_only_spaces_and_invisible_characters_is_empty(body: str) -> None:
    with pytest.raises(ProtocolError) as refused:
        parse_inbound(json.dumps({"type": "message", "body": body}), max_body=4000)
    assert refused.value.code == "empty"


@PROPERTY
@given(
    before=st.none() | st.integers(0, protocol.MAX_SEQ),
    after=st.none() | st.integers(0, protocol.MAX_SEQ),
    limit=st.integers(1, protocol.MAX_HISTORY_PAGE),
)
def test_any_history_query_in_range_is_accepted_as_sent(before: int | None, after: int | None, limit: int) -> None:
    text = json.dumps({"type": "history", "before": before, "after": after, "limit": limit})
    assert parse_inbound(text, max_body=4000) == HistoryQuery(before=before, after=after, limit=limit)


@pytest.mark.parametrize("depth", [1_000, 10_000, 30_000, 100_000])
@pytest.mark.parametrize(
    ("opening", "closing"),
    [("[", "]"), ('{"a":', "}"), ('{"type":"message","body":[', "]}")],
    ids=["list", "dict", "body"],
)
def test_deeply_nested_json_is_refused_without_recursing(opening: str, closing: str, depth: int) -> None:
    text = opening * depth + "1" + closing * depth
    with pytest.raises(ProtocolError) as refused:
        parse_inbound(text, max_body=4000)
    assert refused.value.code in {"bad_json", "bad_request", "too_long"}


def test_a_frame_one_character_over_the_limit_is_refused_unparsed() -> None:
    head, tail = '{"type":"message","body":"', '"}'
    body = "x" * (protocol.MAX_FRAME_CHARS + 1 - len(head) - len(tail))
    assert len(head + body + tail) == protocol.MAX_FRAME_CHARS + 1
    with pytest.raises(ProtocolError) as refused:
        parse_inbound(head + body + tail, max_body=10**6)
    assert refused.value.code == "too_long"
    # One character less is read: the limit is the frame's length, not a round number near it.
    assert parse_inbound(head + body[1:] + tail, max_body=10**6) == PostMessage(body=body[1:], client_id=None)


# -- Outbound --------------------------------------------------------------------------------

# Stored bodies are checked only by the CHAT_MAX_BODY in force when they were sent (or not at all,
# through the admin or the database): anything a database holds, often escaped to six bytes in JSON.
STORED_BODY = (
    texts(STORED_CHAR, 60_000)
    | repeated(st.sampled_from(["\x00", "\x1f", '"', "\\", "\U0001f600"]), 60_000)
    | repeated(st.characters(max_codepoint=0x1F), 60_000)  # the worst case: six bytes of JSON each
)
# Usernames and guest names are at most 150 characters (the model's max_length).
LONG_NAME = repeated(st.sampled_from(["\x01", "\U0001f600", "é"]), 150).filter(bool)
NAME = st.text(STORED_CHAR, min_size=1, max_size=150) | LONG_NAME
SENT_AT = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


# Each message's room object, so that printing a message (hypothesis does, to report) needs no database.
ROOM = Room(pk=1, slug="den", name="Den")


@st.composite
def stored_message(draw: st.DrawFn, seq: int | None = None) -> Message:
    """An unsaved message with anything in it that a database can hold."""
    return Message(
        room=ROOM,
        seq=draw(st.integers(1, protocol.MAX_SEQ)) if seq is None else seq,
        author_key="g:x",
        author_name=draw(NAME),
        author_guest=draw(st.booleans()),
        body=draw(STORED_BODY),
        client_id=draw(st.none() | st.text(STORED_CHAR, max_size=64)),
        sent_at=draw(SENT_AT),
    )


@st.composite
def stored_messages(draw: st.DrawFn) -> list[Message]:
    """Up to 40 such messages, oldest first.

    A page holds up to 100, but a handful of big ones already fill PAGE_BYTES; fewer keep shrinking quick.
    """
    count = draw(st.integers(0, 40))
    seqs = sorted(draw(st.sets(st.integers(1, protocol.MAX_SEQ), min_size=count, max_size=count)))
    return [draw(stored_message(seq)) for seq in seqs]


QUERIES = st.none() | st.builds(
    HistoryQuery,
    before=st.none() | st.integers(0, protocol.MAX_SEQ),
    after=st.none() | st.integers(0, protocol.MAX_SEQ),
    limit=st.integers(1, protocol.MAX_HISTORY_PAGE),
)


def sent_as_stored_or_cut(sent: str, stored: str) -> bool:
    return sent == stored or (sent.endswith("\u2026") and stored.startswith(sent[:-1]) and len(sent) <= len(stored))


@BIG
@given(
    messages=stored_messages(),
    has_more=st.booleans(),
    resumed=st.booleans(),
    reset=st.booleans(),
    query=QUERIES,
)
def test_a_history_page_of_anything_stored_fits_a_frame_and_pages_on_where_it_stopped(
    messages: list[Message], has_more: bool, resumed: bool, reset: bool, query: HistoryQuery | None
) -> None:
    slug = ROOM.slug
    frame = protocol.history_frame(
        messages, room_slug=slug, has_more=has_more, resumed=resumed, reset=reset, query=query
    )
    raw = frame.text.encode("utf-8")
    target(len(raw))  # steer towards the biggest frames
    event("cut" if len(frame.seqs) < len(messages) else "whole")
    assert len(raw) <= min(DAPHNE_FRAME_LIMIT, protocol.PAGE_BYTES + FRAME_AROUND)
    data = shapes.check(orjson.loads(raw))
    by_seq = {m.seq: m for m in messages}  # seqs are unique
    carried = [by_seq[seq] for seq in frame.seqs]
    # A page going forward (a resume, or `after`) keeps the oldest, one going back the newest:
    # the next request starts right where this page stopped, with no message skipped.
    forward = resumed or (query is not None and query.after is not None)
    expected = messages[: len(carried)] if forward else messages[len(messages) - len(carried) :]
    assert [m.seq for m in carried] == [m.seq for m in expected]
    if messages:
        assert carried, "an empty page that says has_more stalls the client"
    if len(carried) < len(messages):
        left_out = messages[len(carried)] if forward else messages[-len(carried) - 1]
        assert len(raw) + len(protocol.message_bytes(left_out, room_slug=slug)) > protocol.PAGE_BYTES, "cut too soon"
    assert data["has_more"] is (has_more or len(carried) < len(messages))
    assert [m["seq"] for m in data["messages"]] == [m.seq for m in carried]
    for sent, message in zip(data["messages"], carried, strict=True):
        assert sent_as_stored_or_cut(sent["body"], message.body)
        assert (sent["author"]["name"], sent["client_id"], sent["room"]) == (
            message.author_name,
            message.client_id,
            slug,
        )
    assert (data["resumed"], data["reset"]) == (resumed, reset)
    echoed = None if query is None else {"before": query.before, "after": query.after, "limit": query.limit}
    assert data["query"] == echoed


@settings(BIG, max_examples=200)
@given(message=stored_message(), resumed=st.booleans())
def test_every_stored_message_however_big_fits_a_page_of_its_own(message: Message, resumed: bool) -> None:
    # A message that fits no page would stop every client paging past it, for good.
    target(len(orjson.dumps(protocol.message_dict(message, room_slug=ROOM.slug))))  # towards the biggest
    frame = protocol.history_frame([message], room_slug=ROOM.slug, has_more=False, resumed=resumed)
    assert list(frame.seqs) == [message.seq], len(message.body)
    assert len(frame.text.encode("utf-8")) <= protocol.PAGE_BYTES + FRAME_AROUND


@st.composite
def crowds(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to thousands of people online, with long names of anything a database can hold."""
    names = draw(st.lists(NAME, min_size=1, max_size=5))
    count = draw(st.integers(0, 6000))
    guests = draw(st.booleans())
    return [{"id": f"{i:016x}", "name": f"{names[i % len(names)]}{i}", "guest": guests} for i in range(count)]


@BIG
@given(
    online=crowds(),
    name=st.text(STORED_CHAR, max_size=100),
    topic=texts(STORED_CHAR, 300),
    you=NAME,
    last_seq=st.integers(0, protocol.MAX_SEQ),
)
def test_a_welcome_to_a_crowded_room_fits_a_frame_and_counts_everyone(
    online: list[dict[str, Any]], name: str, topic: str, you: str, last_seq: int
) -> None:
    text = protocol.welcome_frame(
        rights=everyones_rights(Room(slug="den", name=name, topic=topic[:300])),
        you=Identity(key="g:you", name=you, guest=True),
        online=online,
        last_seq=last_seq,
        last_change=last_seq,
        heartbeat=15.0,
    )
    raw = text.encode("utf-8")
    target(len(raw))
    assert len(raw) <= min(DAPHNE_FRAME_LIMIT, protocol.PAGE_BYTES + FRAME_AROUND)
    data = shapes.check(orjson.loads(raw))
    listed = len(data["online"])
    event("cut" if listed < len(online) else "whole")
    assert data["online_count"] == len(online)
    assert data["online"] == online[:listed]
    if listed < len(online):
        assert len(raw) + len(orjson.dumps(online[listed])) > protocol.PAGE_BYTES, "the list was cut too soon"
    assert (data["last_seq"], data["room"]["topic"], data["you"]["name"]) == (last_seq, topic[:300], you)
