"""Edits, deletions and moderation from the page, seen by a reader on the other worker."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenRoom
from tests.e2e.pages import WAIT_MS, ChatPage
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-Moderation-password-3"


def new_room(chat_site: Site, name: str) -> str:
    """A room of the test's own (the deployment is shared by the whole e2e package)."""
    slug = f"mod-{uuid.uuid4().hex[:8]}"
    chat_site.shell(f"from chat.models import Room\nRoom.objects.create(slug={slug!r}, name={name!r})\n")
    return slug


OpenAsModerator = Callable[[Worker, str], ChatPage]


@pytest.fixture
def open_as_moderator(open_room: OpenRoom, chat_site: Site) -> OpenAsModerator:
    """Open a room page as a registered user made one of the room's moderators, logged in by the form."""

    def opener(worker: Worker, slug: str) -> ChatPage:
        name = f"mod-{uuid.uuid4().hex[:8]}"
        chat_site.shell(
            "from django.contrib.auth import get_user_model\n"
            "from chat.models import Room\n"
            f"user = get_user_model().objects.create_user({name!r}, password={PASSWORD!r})\n"
            f"Room.objects.get(slug={slug!r}).moderators.add(user)\n"
        )
        return open_room(worker, slug, login=(name, PASSWORD))

    return opener


def test_an_edit_from_the_page_reaches_the_reader_on_the_other_worker_and_stays_after_a_reload(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker, second_worker: Worker
) -> None:
    slug = new_room(chat_site, "Editing")
    author = open_room(first_worker, slug)
    reader = open_room(second_worker, slug)
    author.send("see you at 5")
    author.send("bring snacks")
    reader.expect_messages(["see you at 5", "bring snacks"])

    author.edit("see you at 5", "see you at 6")

    for chat in (author, reader):
        chat.expect_messages(["see you at 6", "bring snacks"])
        expect(chat.message("see you at 6").locator(".edited")).to_have_text("(edited)", timeout=WAIT_MS)
        expect(chat.message("bring snacks").locator(".edited")).to_have_count(0)
    reader.page.reload()
    reader.expect_connected()
    reader.expect_messages(["see you at 6", "bring snacks"])
    marker = reader.message("see you at 6").locator("time.edited")
    expect(marker).to_have_text("(edited)")
    expect(marker).to_have_attribute("title", re.compile("^Edited "))
    # Others' messages offer the reader (no moderator) nothing to click.
    expect(reader.message("see you at 6").get_by_role("button", name="Edit message")).to_have_count(0)


def test_a_deletion_from_the_page_removes_the_message_for_both_readers_and_after_a_reload(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker, second_worker: Worker
) -> None:
    slug = new_room(chat_site, "Deleting")
    author = open_room(first_worker, slug)
    reader = open_room(second_worker, slug)
    author.send_all(["keep this", "oops, wrong room", "and this"])
    reader.expect_messages(["keep this", "oops, wrong room", "and this"])

    author.message_action("oops, wrong room", "Delete message")
    author.confirm("oops, wrong room", "Delete")

    for chat in (author, reader):
        chat.expect_messages(["keep this", "and this"])
    for chat in (author, reader):
        chat.page.reload()
        chat.expect_connected()
        chat.expect_messages(["keep this", "and this"])


def test_a_moderator_bans_a_guest_whose_page_on_the_other_worker_says_so_and_reloads_to_the_banned_page(
    chat_site: Site,
    open_room: OpenRoom,
    open_as_moderator: OpenAsModerator,
    first_worker: Worker,
    second_worker: Worker,
) -> None:
    slug = new_room(chat_site, "Banning")
    moderator = open_as_moderator(first_worker, slug)
    guest = open_room(second_worker, slug)
    guest_name = guest.page.locator("#you-name").inner_text()
    guest.send("buy cheap watches")
    moderator.expect_messages(["buy cheap watches"])

    moderator.message_action("buy cheap watches", "Ban author")
    moderator.confirm("buy cheap watches", "Ban")

    expect(moderator.page.locator("#timeline .notice")).to_contain_text([f"{guest_name} was banned"], timeout=WAIT_MS)
    expect(guest.status).to_have_text("Not allowed", timeout=WAIT_MS)
    expect(guest.page.locator("#forbidden-note")).to_have_text("You were banned from this room.", timeout=WAIT_MS)
    expect(guest.composer).to_be_disabled()
    expect(guest.page.get_by_role("button", name="Send")).to_be_disabled()

    response = guest.page.reload()
    assert response is not None and response.status == 403
    expect(guest.page.get_by_text("You are banned from this room.")).to_be_visible()
    # The moderator's page is unaffected: still connected, still able to post.
    moderator.send("spam handled")
    moderator.expect_messages(["buy cheap watches", "spam handled"])


def test_slow_mode_set_from_the_page_refuses_a_guests_second_quick_message(
    chat_site: Site,
    open_room: OpenRoom,
    open_as_moderator: OpenAsModerator,
    first_worker: Worker,
    second_worker: Worker,
) -> None:
    slug = new_room(chat_site, "Slow")
    moderator = open_as_moderator(first_worker, slug)
    guest = open_room(second_worker, slug)
    expect(guest.page.locator("#slow-mode")).to_be_hidden()

    moderator.page.get_by_label("Slow mode").select_option("30")

    expect(guest.page.locator("#slow-note")).to_have_text("Slow mode: one message every 30 s", timeout=WAIT_MS)
    expect(moderator.page.get_by_label("Slow mode")).to_have_value("30")
    guest.send("first")
    guest.expect_messages(["first"])
    guest.send("second, too soon")
    failed = guest.pending.filter(has_text="second, too soon")
    expect(failed).to_have_attribute("data-state", "failed", timeout=WAIT_MS)
    expect(failed.locator(".outbox-status")).to_contain_text("Slow mode")
    expect(failed.get_by_role("button", name=re.compile(r"^Retry in \d+ s$"))).to_be_disabled()
    moderator.expect_messages(["first"])
