"""The page stays true to the room: missed broadcasts, deletions, archiving, older pages, refusals."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenRoom
from tests.e2e.seed import store_without_broadcast
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e


def test_messages_whose_broadcast_was_lost_still_show_in_seq_order(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker
) -> None:
    reader = open_room(first_worker, "missed")
    writer = open_room(first_worker, "missed")
    writer.send("one")
    reader.expect_messages(["one"])

    # Seq 2 is stored silently, then seq 3 arrives live: the reader sees the gap and fills it.
    store_without_broadcast(chat_site, "missed", "two (never broadcast)")
    writer.send("three")
    reader.expect_messages(["one", "two (never broadcast)", "three"])

    # Nothing live follows seq 4: only the heartbeat's last_seq can tell the reader about it.
    store_without_broadcast(chat_site, "missed", "four (never broadcast)")
    reader.expect_messages(["one", "two (never broadcast)", "three", "four (never broadcast)"])


def test_moderation_shows_live_deleted_messages_vanish_and_archived_rooms_close(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker, second_worker: Worker
) -> None:
    reader = open_room(second_worker, "moderated")
    writer = open_room(first_worker, "moderated")
    writer.send_all(["keep me", "delete me", "keep me too"])
    reader.expect_messages(["keep me", "delete me", "keep me too"])

    chat_site.shell(
        "from chat import services\n"
        "from chat.models import Message\n"
        "services.message_delete(messages=Message.objects.filter(room__slug='moderated', body='delete me'))\n"
    )
    reader.expect_messages(["keep me", "keep me too"])
    writer.expect_messages(["keep me", "keep me too"])

    chat_site.shell(
        "from chat import services\n"
        "from chat.models import Room\n"
        "room = Room.objects.get(slug='moderated')\n"
        "room.archived = True\n"
        "room.name = 'Moderated (archived)'\n"
        "services.room_save(room=room)\n"
    )
    for chat in (reader, writer):
        expect(chat.page.get_by_role("heading", level=1)).to_have_text("Moderated (archived)")
        expect(chat.composer).to_be_disabled()
        expect(chat.page.get_by_text("This room is archived")).to_be_visible()


def test_load_older_fetches_earlier_messages_and_keeps_the_reader_in_place(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker
) -> None:
    store_without_broadcast(chat_site, "history", *[f"old message {n}" for n in range(1, 81)])
    reader = open_room(first_worker, "history")
    expect(reader.bodies).to_have_count(50)
    expect(reader.bodies.first).to_have_text("old message 31")
    expect(reader.bodies.last).to_have_text("old message 80")

    log = reader.page.locator("#log")
    log.evaluate("log => { log.scrollTop = 0; }")
    reader.page.get_by_role("button", name="Load older messages").click()

    reader.expect_messages([f"old message {n}" for n in range(1, 81)])
    # The message that was at the top is still in view: the page did not jump.
    expect(reader.bodies.filter(has_text=re.compile(r"^old message 31$"))).to_be_in_viewport()
    expect(reader.page.get_by_role("button", name="Load older messages")).to_be_hidden()


def test_refused_messages_are_marked_failed_and_can_be_retried(open_room: OpenRoom, first_worker: Worker) -> None:
    chat = open_room(first_worker, "busy")
    # The suite's rate limit is 20 messages per 10 s per connection. Typed one by one, 25 messages
    # can take long enough on a busy machine for the budget to refill: they go in one burst.
    texts = [f"burst {n}" for n in range(1, 26)]
    chat.send_burst(texts)

    failed = chat.pending.and_(chat.page.locator("[data-state=failed]"))
    expect(failed.first).to_contain_text("Too many messages")
    # Wait until every send has its answer: stored and shown, or refused.
    expect(chat.page.locator("#pending .msg:not([data-state=failed])")).to_have_count(0)
    refused = failed.count()
    assert refused >= 1
    expect(chat.bodies).to_have_count(len(texts) - refused)

    # Retry is held back until the server's retry_after has passed; click() waits for it.
    sending = chat.page.locator("#pending .msg[data-state=sending]")
    for _ in range(10 * refused):
        if failed.count() == 0:
            break
        failed.first.get_by_role("button", name="Retry", exact=True).click()
        expect(sending).to_have_count(0)
    expect(chat.bodies).to_have_count(len(texts))
    expect(chat.pending).to_have_count(0)
    # Retried messages take the seq they get when they are finally stored, so only the set is known.
    assert sorted(chat.bodies.all_text_contents()) == sorted(texts)
