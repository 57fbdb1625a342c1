"""A page survives its server going away: it says so, comes back by itself and misses nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import OpenRoom
from tests.e2e.pages import WAIT_MS
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e


@pytest.fixture
def spare_worker(chat_site: Site) -> Iterator[Worker]:
    """A worker of its own, since these tests stop it; it and its restarts are stopped afterwards."""
    before = len(chat_site.workers)
    yield chat_site.add_worker()
    for worker in chat_site.workers[before:]:
        worker.stop()


def restart_on_same_port(chat_site: Site, worker: Worker) -> Worker:
    """A new daphne process where the stopped one was, as after a deploy."""
    revived = Worker(port=worker.port, env=chat_site.env, log=worker.log).start()
    chat_site.workers.append(revived)  # stopped with the site
    return revived


def test_page_reconnects_after_a_restart_and_shows_what_was_said_meanwhile(
    chat_site: Site, open_room: OpenRoom, first_worker: Worker, spare_worker: Worker
) -> None:
    reader = open_room(spare_worker, "restart")
    other = open_room(first_worker, "restart")
    other.send("before the restart")
    reader.expect_messages(["before the restart"])

    spare_worker.stop()

    expect(reader.status).to_contain_text("Reconnecting", timeout=WAIT_MS)
    other.send_all(["while it was down 1", "while it was down 2"])
    other.expect_messages(["before the restart", "while it was down 1", "while it was down 2"])
    # Typed while disconnected: kept in the outbox and sent once the connection is back.
    reader.send("queued while down")
    expect(reader.pending).to_have_count(1)
    expect(reader.pending).to_contain_text("queued while down")
    expect(reader.pending).to_contain_text("Waiting for the connection")

    restart_on_same_port(chat_site, spare_worker)

    reader.expect_connected()
    # It resumed after the one message it had shown, and after no change, rather than starting over.
    assert reader.socket_urls[0] == spare_worker.ws("restart")
    assert reader.socket_urls[-1] == spare_worker.ws("restart", "after=1&changes=0")
    expected = ["before the restart", "while it was down 1", "while it was down 2", "queued while down"]
    reader.expect_messages(expected)
    other.expect_messages(expected)
    reader.send("after the restart")
    other.expect_messages([*expected, "after the restart"])
    reader.expect_messages([*expected, "after the restart"])


def test_a_silent_connection_is_given_up_and_replaced(
    open_room: OpenRoom, first_worker: Worker, spare_worker: Worker
) -> None:
    reader = open_room(spare_worker, "silent")
    other = open_room(first_worker, "silent")
    assert spare_worker.proc is not None

    # The process freezes: TCP stays up, no close ever comes, only the heartbeats stop.
    spare_worker.proc.send_signal(signal.SIGSTOP)
    try:
        expect(reader.status).to_contain_text("Reconnecting", timeout=WAIT_MS)
        other.send("said while frozen")
    finally:
        spare_worker.proc.send_signal(signal.SIGCONT)

    reader.expect_connected()
    reader.expect_messages(["said while frozen"])


def test_a_room_that_no_longer_exists_says_so_and_stops_retrying(
    chat_site: Site, open_room: OpenRoom, spare_worker: Worker
) -> None:
    reader = open_room(spare_worker, "doomed")
    chat_site.shell("from chat.models import Room; Room.objects.filter(slug='doomed').delete()")

    spare_worker.stop()
    expect(reader.status).to_contain_text("Reconnecting", timeout=WAIT_MS)
    restart_on_same_port(chat_site, spare_worker)

    expect(reader.status).to_have_text("No such room", timeout=WAIT_MS)
    expect(reader.composer).to_be_disabled()
    expect(reader.page.get_by_text("This room does not exist")).to_be_visible()
