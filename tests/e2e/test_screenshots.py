"""Screenshots of a lively room for the README, in both colour schemes, on a desktop and a phone.

Uses a deployment of its own, so that the room list shows a few plausible rooms rather than the
suite's test rooms.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.pages import ChatPage
from tests.servers import ROOT, Site, Worker, site

pytestmark = pytest.mark.e2e

SHOTS = ROOT / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

# Everything in the pictures is pinned (message times, the browser's clock and time zone), so
# that re-running the suite leaves the committed screenshots as they are.
NOW = "2026-03-14T09:30:00+00:00"
BROWSER = {"locale": "en-GB", "timezone_id": "Europe/Berlin"}

SEED = """
from datetime import datetime
from chat import services
from chat.identity import Identity
from chat.models import Message, Room

Room.objects.create(slug="design", name="Design", topic="Layouts, colours and the room page")
Room.objects.create(slug="releases", name="Releases", topic="What shipped, and when")
Room.objects.create(slug="random", name="Random", topic="Anything goes")
people = {
    "alice": Identity(key="u:1", name="alice", guest=False),
    "bob": Identity(key="g:bob", name="bob", guest=True),
    "chloe": Identity(key="g:chloe", name="chloe", guest=True),
    "dana": Identity(key="g:dana", name="dana", guest=True),
}
conversation = [
    ("design", "alice", "Hi all! Did anyone try the new build?", "2026-03-13T16:05"),
    ("design", "bob", "Yes, the deploy went fine. Reconnects are instant now.", "2026-03-13T16:08"),
    ("design", "bob", "Even on the train, with the tunnel in the middle", "2026-03-13T16:09"),
    ("design", "chloe", "Can we talk about the room list on phones?", "2026-03-14T08:38"),
    ("design", "alice", "Sure. Below 720 px it folds away behind the menu button.", "2026-03-14T08:40"),
    ("design", "alice", "And the member list hides behind the people button on tablets.", "2026-03-14T08:41"),
    ("design", "dana", "Tried it on a 360 px phone: nothing scrolls sideways.", "2026-03-14T08:59"),
    ("design", "chloe", "Dark mode follows the system setting, too.", "2026-03-14T09:18"),
    ("design", "bob", "Shipping it then!\\nRelease notes go to #releases.", "2026-03-14T09:27"),
    ("releases", "alice", "v1.4: resumable history, typing indicators.", "2026-03-14T09:10"),
]
for slug, who, body, at in conversation:
    room = Room.objects.get(slug=slug)
    message, _ = services.message_create(room_id=room.pk, author=people[who], body=body, client_id=None)
    Message.objects.filter(pk=message.pk).update(sent_at=datetime.fromisoformat(at + "+00:00"))
"""


@pytest.fixture(scope="module")
def showroom() -> Iterator[tuple[Site, Worker]]:
    with site() as deployment:
        deployment.shell(SEED)
        yield deployment, deployment.add_worker()


def reader_named(browser: Browser, worker: Worker, name: str, **options: object) -> ChatPage:
    """The reader in the pictures: named before opening any page, so that no one ever sees a guest-…"""
    context = browser.new_context(**BROWSER, **options)
    context.clock.set_fixed_time(NOW)
    # They have read the first five messages of #design: the rest show below a "New messages" line.
    context.add_init_script("localStorage.setItem('chat:read:design', '5')")
    form = context.request.get(f"{worker.http}/rooms/random/").text()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    assert token is not None
    answer = context.request.post(
        f"{worker.http}/rooms/random/", form={"csrfmiddlewaretoken": token[1], "nickname": name}, max_redirects=0
    )
    assert answer.status == 302, answer.text()
    chat = ChatPage(context.new_page(), worker)
    chat.open("design")
    expect(chat.page.locator("#you-name")).to_have_text(name)
    return chat


def guest_named(browser: Browser, worker: Worker, name: str, **options: object) -> ChatPage:
    """A guest who picks a name with the form (in #random, so #design only sees them by it), then opens #design."""
    context = browser.new_context(**BROWSER, **options)
    chat = ChatPage(context.new_page(), worker)
    chat.open("random")
    menu = chat.page.get_by_role("button", name="Rooms")
    if menu.is_visible():  # on a phone the room list, and the name form in it, fold away
        menu.click()
    chat.page.get_by_text("Change name").click()
    chat.page.get_by_label("New name").fill(name)
    chat.page.get_by_role("button", name="Save").click()
    expect(chat.page.locator("#you-name")).to_have_text(name)
    chat.open("design")
    return chat


# First, while nobody is online yet: the counts in the picture are the same at every run.
def test_room_list_screenshot(browser: Browser, showroom: tuple[Site, Worker]) -> None:
    _, worker = showroom
    context = browser.new_context(viewport=DESKTOP, color_scheme="light")
    try:
        page = context.new_page()
        page.goto(f"{worker.http}/")
        expect(page.get_by_role("link", name="Design")).to_contain_text("Layouts, colours and the room page")
        expect(page.locator(".room-card")).to_have_count(4)
        path: Path = SHOTS / "index-desktop-light.png"
        page.screenshot(path=path)
        assert path.stat().st_size > 10_000
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("device", "viewport"), [("desktop", DESKTOP), ("phone", PHONE)])
def test_room_page_screenshot(
    browser: Browser, showroom: tuple[Site, Worker], device: str, viewport: dict[str, int], scheme: str
) -> None:
    _, worker = showroom
    options: dict[str, object] = {"viewport": viewport, "color_scheme": scheme}
    if device == "phone":
        options |= {"device_scale_factor": 2, "is_mobile": True, "has_touch": True}
    dana = reader_named(browser, worker, "dana", **options)
    bob = guest_named(browser, worker, "bob", viewport=DESKTOP)
    try:
        page = dana.page
        expect(dana.bodies).to_have_count(9)
        # Grouped by day and author: bob's second message of yesterday continues his first.
        expect(page.get_by_role("separator").filter(has_text="Yesterday")).to_be_attached()
        expect(page.locator("#timeline .msg").nth(2)).to_have_class(re.compile(r"\bmsg--cont\b"))
        expect(page.locator("#timeline .msg").nth(1)).not_to_have_class(re.compile(r"\bmsg--cont\b"))
        expect(page.get_by_role("separator").filter(has_text="New messages")).to_be_visible()
        expect(page.locator(".notice", has_text="bob joined")).to_be_visible()
        expect(page.locator("#members")).to_contain_text("bob")
        # The #releases room has a message dana has not read.
        expect(page.locator("a[data-slug=releases]")).to_have_class(re.compile(r"\bhas-unread\b"))
        expect(page.locator("a[data-slug=random]")).not_to_have_class(re.compile(r"\bhas-unread\b"))
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], "page scrolls sideways"
        if device == "phone":
            expect(page.locator("#rooms-panel")).to_be_hidden()
            expect(page.locator("#members-panel")).to_be_hidden()
        else:
            expect(page.locator("#rooms-panel")).to_be_visible()
            expect(page.locator("#members-panel")).to_be_visible()

        bob.composer.press_sequentially("ok")
        expect(page.locator("#typing")).to_have_text("bob is typing…")
        expect(page.locator("#typing")).to_have_css("opacity", "1")  # faded in fully
        path = SHOTS / f"room-{device}-{scheme}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=path)
        assert path.stat().st_size > 10_000

        if device == "phone":
            page.get_by_role("button", name="Rooms").click()
            expect(page.locator("#rooms-panel")).to_be_visible()
            expect(page.get_by_role("link", name="Releases")).to_be_in_viewport()
            expect(page.locator("a[data-slug=releases] .unread")).to_be_visible()
            # The smallest phones we support: still nothing to scroll sideways.
            page.set_viewport_size({"width": 360, "height": 640})
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, "page scrolls sideways at 360 px"
        dana.assert_no_script_ran()
    finally:
        dana.page.context.close()
        bob.page.context.close()
