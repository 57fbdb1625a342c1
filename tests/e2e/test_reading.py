"""Reading a busy room: the page follows only a reader at the bottom and tells a hidden tab what it missed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import OpenRoom
from tests.e2e.seed import store_without_broadcast
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e


def set_visibility(page: Page, state: str) -> None:
    """What the browser does when the user switches tabs (headless tabs never hide by themselves)."""
    page.evaluate(
        """state => {
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
            Object.defineProperty(document, "hidden", { configurable: true, get: () => state === "hidden" });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_a_hidden_tab_counts_new_messages_in_its_title_and_marks_where_they_start(
    open_room: OpenRoom, first_worker: Worker
) -> None:
    reader = open_room(first_worker, "reading")
    writer = open_room(first_worker, "reading")
    writer.send("read before switching tabs")
    reader.expect_messages(["read before switching tabs"])
    expect(reader.page).to_have_title("Reading · Chat")

    set_visibility(reader.page, "hidden")
    writer.send_all(["while away 1", "while away 2"])

    reader.expect_messages(["read before switching tabs", "while away 1", "while away 2"])
    expect(reader.page).to_have_title("(2) Reading · Chat")
    set_visibility(reader.page, "visible")
    expect(reader.page).to_have_title("Reading · Chat")
    divider = reader.page.get_by_role("separator").filter(has_text="New messages")
    expect(divider).to_be_visible()
    expect(reader.page.locator(".sep--new + .msg .body")).to_have_text("while away 1")


def test_a_reader_scrolled_up_is_offered_a_jump_to_the_new_messages(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker
) -> None:
    store_without_broadcast(chat_site, "scrolling", *[f"earlier {n}" for n in range(1, 41)])
    reader = open_room(first_worker, "scrolling")
    writer = open_room(first_worker, "scrolling")
    expect(reader.bodies.last).to_have_text("earlier 40")
    expect(reader.bodies.last).to_be_in_viewport()

    reader.page.locator("#log").evaluate("log => { log.scrollTop = 0; }")
    writer.send_all(["fresh 1", "fresh 2"])

    jump = reader.page.get_by_role("button", name="Jump to latest")
    expect(jump).to_be_visible()
    expect(jump).to_contain_text("2")
    expect(reader.bodies.last).to_have_text("fresh 2")
    expect(reader.bodies.last).not_to_be_in_viewport()
    expect(reader.bodies.first).to_be_in_viewport()  # the page did not move under the reader
    jump.click()
    expect(reader.bodies.last).to_be_in_viewport()
    expect(jump).to_be_hidden()

    # At the bottom, the page follows by itself.
    writer.send("fresh 3")
    expect(reader.bodies.last).to_have_text("fresh 3")
    expect(reader.bodies.last).to_be_in_viewport()
    expect(jump).to_be_hidden()
