"""People in a room see each other's messages once, in order; nobody elsewhere sees them."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenRoom
from tests.servers import Worker

pytestmark = pytest.mark.e2e


def test_messages_typed_in_one_browser_appear_in_the_other_once_and_in_order(
    open_room: OpenRoom, first_worker: Worker
) -> None:
    alice = open_room(first_worker, "same-room")
    bob = open_room(first_worker, "same-room")
    texts = [f"message {n} from alice" for n in range(1, 7)]

    alice.send_all(texts)

    bob.expect_messages(texts)
    alice.expect_messages(texts)
    bob.send("and one from bob")
    alice.expect_messages([*texts, "and one from bob"])


def test_a_room_does_not_see_what_is_said_in_another(open_room: OpenRoom, first_worker: Worker) -> None:
    speaker = open_room(first_worker, "other-room")
    elsewhere = open_room(first_worker, "quiet-room")

    speaker.send_all(["secret one", "secret two"])
    speaker.expect_messages(["secret one", "secret two"])
    # Sent after the secrets, on the same connection that would have carried them: once it shows,
    # anything broadcast to this room before it would have shown too.
    elsewhere.send("only this")

    elsewhere.expect_messages(["only this"])
    elsewhere.page.reload()
    elsewhere.expect_connected()
    elsewhere.expect_messages(["only this"])
    expect(speaker.bodies).to_have_text(["secret one", "secret two"])


def test_browsers_on_different_workers_see_each_other(
    open_room: OpenRoom, first_worker: Worker, second_worker: Worker
) -> None:
    assert first_worker.port != second_worker.port
    one = open_room(first_worker, "two-workers")
    two = open_room(second_worker, "two-workers")

    one.send("from worker one")
    two.expect_messages(["from worker one"])
    two.send("from worker two")

    one.expect_messages(["from worker one", "from worker two"])
    two.expect_messages(["from worker one", "from worker two"])


def test_shift_enter_starts_a_new_line_and_enter_sends(open_room: OpenRoom, first_worker: Worker) -> None:
    writer = open_room(first_worker, "lines")
    reader = open_room(first_worker, "lines")

    writer.composer.press_sequentially("first line")
    writer.composer.press("Shift+Enter")
    writer.composer.press_sequentially("second line")
    expect(writer.composer).to_have_value("first line\nsecond line")
    writer.composer.press("Enter")

    expect(writer.composer).to_have_value("")
    expect(reader.bodies).to_have_count(1)
    expect(reader.bodies.first).to_have_js_property("textContent", "first line\nsecond line")
