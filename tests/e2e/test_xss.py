"""Whatever people type is shown as text: no markup from a message ever becomes part of the page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenRoom
from tests.servers import Worker

pytestmark = pytest.mark.e2e

PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "<iframe src=\"javascript:alert('frame')\"></iframe>",
    "<a href=\"javascript:alert('link')\" id=injected-link>click me</a>",
    '<img src=x onerror="window.__pwned = true">',
    "<style>body { display: none }</style>",
    "&lt;b&gt;entities stay entities&lt;/b&gt;",
]


def test_markup_typed_into_the_composer_shows_as_literal_text(
    open_room: OpenRoom, first_worker: Worker, second_worker: Worker
) -> None:
    writer = open_room(first_worker, "xss")
    reader = open_room(second_worker, "xss")

    writer.send_all(PAYLOADS)

    for chat in (writer, reader):
        chat.expect_messages(PAYLOADS)
        for selector in ("img", "script", "svg", "iframe", "style", "#injected-link"):
            expect(chat.page.locator(f"#log {selector}")).to_have_count(0)
        assert chat.page.evaluate("window.__pwned") is None
        expect(chat.page.locator("body")).to_be_visible()
    # Also after a reload, when they come back as history rather than live.
    reader.page.reload()
    reader.expect_connected()
    reader.expect_messages(PAYLOADS)
    expect(reader.page.locator("#log img, #log script, #log svg, #log iframe")).to_have_count(0)
    for chat in (writer, reader):
        chat.assert_no_script_ran()  # no alert() dialog, no page error
