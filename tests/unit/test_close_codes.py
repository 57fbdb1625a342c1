"""The page's copy of the close codes (socket.js CLOSE) is the server's chat.protocol.Close."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat.protocol import Close

pytestmark = pytest.mark.database_agnostic

SOCKET_JS = Path(__file__).resolve().parents[2] / "chat" / "static" / "chat" / "socket.js"
CLOSE_OBJECT = re.compile(r"export const CLOSE = Object\.freeze\(\{(?P<body>.*?)\}\);", re.DOTALL)
ENTRY = re.compile(r"^\s*(?P<name>[A-Z][A-Z0-9_]*)\s*:\s*(?P<code>\d+)\s*$")


def client_close_codes(source: str) -> dict[str, int]:
    """NAME: number pairs of socket.js's CLOSE object; fails on any entry it cannot read."""
    found = CLOSE_OBJECT.search(source)
    assert found, "socket.js has no `export const CLOSE = Object.freeze({...});`"
    body = re.sub(r"//[^\n]*", "", found["body"])  # comments may hold anything, even "a: 1"
    codes: dict[str, int] = {}
    for entry in filter(str.strip, body.split(",")):
        match = ENTRY.match(entry)
        assert match, f"cannot read CLOSE entry {entry.strip()!r}: write NAME: number"
        assert match["name"] not in codes, f"CLOSE.{match['name']} is defined twice"
        codes[match["name"]] = int(match["code"])
    return codes


def test_client_close_codes_match_the_servers() -> None:
    server = {code.name: code.value for code in Close}
    assert client_close_codes(SOCKET_JS.read_text(encoding="utf-8")) == server


def test_an_entry_the_reader_cannot_parse_fails_instead_of_being_skipped() -> None:
    source = "export const CLOSE = Object.freeze({\n  NO_ROOM: 4404, // final: 1\n  FLOOD: 0x1145,\n});"
    with pytest.raises(AssertionError, match="FLOOD"):
        client_close_codes(source)
