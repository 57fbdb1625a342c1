"""Whatever people type is shown as text: no markup from a message, a name or a room ever becomes part of the page."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.e2e.conftest import OpenRoom
from tests.e2e.pages import ChatPage, assert_nothing_injected
from tests.servers import Site, Worker

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
# As hostile as the validators let through: names that are also keys of every JavaScript object,
# and every punctuation mark a username may hold (they mean something in CSS selectors).
GUEST_NICKNAME = "__proto__"  # nicknames: [\w.-]{2,32}
USERNAME = "constructor.__proto__@x+y-z"  # Django's usernames: [\w.@+-]
ADMIN_PASSWORD = "e2e-Xss-password-5"


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


# Rooms named and described by the payloads, a registered user, and messages of a legacy author
# whose stored name is a payload (written straight to the table, as no validator sees it there).
HOSTILE_DATA = """
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from chat.models import Message, Room

payloads = json.loads({payloads!r})
rooms = [Room.objects.create(slug=f"xss-hostile-{{n}}", name=p, topic=p) for n, p in enumerate(payloads)]
first = rooms[0]
for seq, payload in enumerate(payloads, start=1):
    Message.objects.create(
        room=first, seq=seq, author_key=f"legacy:{{seq}}", author_name=payload, body=f"legacy {{seq}}"
    )
Room.objects.filter(pk=first.pk).update(last_seq=len(payloads))
users = get_user_model().objects
users.create_superuser("xss-admin", "xss-admin@example.com", {admin_password!r})
user = users.create_user({username!r}, password=None)
session = import_module(settings.SESSION_ENGINE).SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.save()
print(json.dumps({{"session": session.session_key, "room_ids": [room.pk for room in rooms]}}))
"""


def test_hostile_room_names_topics_and_author_names_show_as_text_everywhere(
    browser: Browser, chat_site: Site, first_worker: Worker
) -> None:
    output = chat_site.shell(
        HOSTILE_DATA.format(payloads=json.dumps(PAYLOADS), admin_password=ADMIN_PASSWORD, username=USERNAME)
    )
    created = json.loads(output.splitlines()[-1])
    slugs = [f"xss-hostile-{n}" for n in range(len(PAYLOADS))]
    http = first_worker.http
    contexts: list[BrowserContext] = []

    def new_page() -> ChatPage:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        return ChatPage(context.new_page(), first_worker)

    try:
        # A guest who picks the most hostile nickname the form takes.
        guest = new_page()
        guest.open(slugs[0])
        guest.page.get_by_text("Change name").click()
        guest.page.get_by_label("New name").fill(GUEST_NICKNAME)
        guest.page.get_by_role("button", name="Save").click()
        expect(guest.page.locator("#you-name")).to_have_text(GUEST_NICKNAME)
        guest.expect_connected()
        # And a registered user, signed in with a session made for them (no password form to go through).
        member = new_page()
        member.page.context.add_cookies([{"name": "sessionid", "value": created["session"], "url": http}])
        member.open(slugs[0])
        expect(member.page.locator("#you-name")).to_have_text(USERNAME)

        legacy = [f"legacy {seq}" for seq in range(1, len(PAYLOADS) + 1)]
        for chat in (guest, member):
            page = chat.page
            chat.expect_messages(legacy)
            expect(page.locator("#timeline .msg .author")).to_have_text(PAYLOADS)
            expect(page.locator("#members")).to_contain_text(GUEST_NICKNAME)
            expect(page.locator("#members")).to_contain_text(USERNAME)
            for slug, payload in zip(slugs, PAYLOADS, strict=True):
                expect(page.locator(f'#rooms-panel a[data-slug="{slug}"] .room-name')).to_have_text(payload)
            assert_nothing_injected(page)

        # Each room's own page: its name in the title and header, its topic below.
        for slug, payload in zip(slugs, PAYLOADS, strict=True):
            guest.open(slug)
            expect(guest.page).to_have_title(f"{payload} · Chat")
            expect(guest.page.locator("#room-name")).to_have_text(payload)
            expect(guest.page.locator("#room-topic")).to_have_text(payload)
            expect(guest.page.locator("#log")).to_have_accessible_name(f"Messages in {payload}")
            assert_nothing_injected(guest.page)

        guest.page.goto(f"{http}/")
        for slug, payload in zip(slugs, PAYLOADS, strict=True):
            card = guest.page.locator(f'a.room-card[data-slug="{slug}"]')
            expect(card.locator(".room-name")).to_have_text(payload)
            expect(card.locator(".room-card-topic")).to_have_text(payload)
        assert_nothing_injected(guest.page)

        admin = new_page()
        page = admin.page
        page.goto(f"{http}/admin/login/")
        page.get_by_label("Username").fill("xss-admin")
        page.get_by_label("Password").fill(ADMIN_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

        page.goto(f"{http}/admin/chat/room/?q=xss-hostile-")
        rows = page.locator("#result_list tbody tr")
        expect(rows).to_have_count(len(PAYLOADS))
        for slug, payload in zip(slugs, PAYLOADS, strict=True):
            row = rows.filter(has=page.get_by_role("link", name=slug, exact=True))
            expect(row.locator(".field-name")).to_have_text(payload)
        assert_nothing_injected(page)  # the other columns too, whichever the admin lists

        for room_id, payload in zip(created["room_ids"], PAYLOADS, strict=True):
            page.goto(f"{http}/admin/chat/room/{room_id}/change/")
            expect(page.get_by_label("Name")).to_have_value(payload)
            expect(page.get_by_label("Topic")).to_have_value(payload)
            expect(page.locator(".breadcrumbs")).to_contain_text(payload)
            assert_nothing_injected(page)

        page.goto(f"{http}/admin/chat/message/?room__id__exact={created['room_ids'][0]}")
        messages = page.locator("#result_list tbody tr")
        expect(messages).to_have_count(len(PAYLOADS))
        expect(messages.locator(".field-room")).to_have_text([PAYLOADS[0]] * len(PAYLOADS))
        expect(messages.locator(".field-author_name")).to_have_text(PAYLOADS)
        assert_nothing_injected(page)

        for chat in (guest, member, admin):
            chat.assert_no_script_ran()  # no alert() dialog, no page error
    finally:
        for context in contexts:
            context.close()
