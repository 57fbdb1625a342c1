"""A visitor signs up, is known by name in the rooms, logs out to a guest and logs back in."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.e2e.pages import ChatPage
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-Accounts-password-5"
ROOM = "accounts"  # its own (conftest.ROOMS): other tests count what is said in theirs


def unique_name() -> str:
    # The deployment is shared by the whole e2e package, and a name once taken stays taken.
    return f"e2e-{uuid.uuid4().hex[:10]}"


class Visitor:
    """A browser of one's own, and what it reported that a user would never want: errors, CSP refusals."""

    def __init__(self, page: Page, worker: Worker) -> None:
        self.page = page
        self.worker = worker
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.problems.append(message.text)

    def room(self) -> ChatPage:
        chat = ChatPage(self.page, self.worker)
        chat.open(ROOM)
        return chat


@pytest.fixture
def visitor(browser: Browser, first_worker: Worker) -> Iterator[Visitor]:
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 800})
    seen = Visitor(context.new_page(), first_worker)
    yield seen
    context.close()
    assert seen.problems == []


@pytest.fixture
def member(chat_site: Site) -> str:
    name = unique_name()
    chat_site.shell(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user({name!r}, password={PASSWORD!r})\n"
    )
    return name


def expect_guest(page: Page) -> None:
    identity = page.locator(".identity")
    expect(page.locator("#you-name")).to_have_text(re.compile(r"^guest-"))
    expect(identity.get_by_text("guest", exact=True)).to_be_visible()
    expect(identity.get_by_role("button", name="Log out")).to_have_count(0)


def expect_member(page: Page, name: str) -> None:
    identity = page.locator(".identity")
    expect(page.locator("#you-name")).to_have_text(name)
    expect(identity.get_by_text("guest", exact=True)).to_have_count(0)
    expect(page.locator("#nickname")).to_have_count(0)
    expect(identity.get_by_role("button", name="Log out")).to_be_visible()


def test_a_visitor_signs_up_from_the_room_list_and_a_room_knows_them_by_name(visitor: Visitor) -> None:
    page, name = visitor.page, unique_name()
    page.goto(f"{visitor.worker.http}/")
    nav = page.get_by_role("navigation", name="Account")
    nav.get_by_role("link", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up")
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(f"{visitor.worker.http}/")  # back where they started
    expect(nav).to_contain_text(f"Signed in as {name}")
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(nav.get_by_role("link", name="Log in")).to_have_count(0)

    chat = visitor.room()
    expect_member(page, name)
    chat.send("hello as a member")
    chat.expect_messages(["hello as a member"])
    chat.assert_no_script_ran()


def test_a_member_logs_out_to_a_guest_and_back_in_from_the_log_in_page(visitor: Visitor, member: str) -> None:
    page = visitor.page
    page.goto(f"{visitor.worker.http}/accounts/login/?next=/rooms/{ROOM}/")
    page.get_by_label("Username").fill(member)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    chat = ChatPage(page, visitor.worker)
    chat.expect_connected()
    expect_member(page, member)

    page.locator(".identity").get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{visitor.worker.http}/rooms/{ROOM}/")  # the same room, as a guest
    chat.expect_connected()
    expect_guest(page)

    page.locator(".identity").get_by_role("link", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Username").fill(member)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{visitor.worker.http}/rooms/{ROOM}/")
    chat.expect_connected()
    expect_member(page, member)
    chat.assert_no_script_ran()


def test_sign_up_with_a_look_alike_of_a_members_name_is_refused_at_the_field(visitor: Visitor, member: str) -> None:
    page = visitor.page
    page.goto(f"{visitor.worker.http}/accounts/signup/")
    look_alike = member.upper().replace("E", "\u0415", 1)  # capitals, the first E Cyrillic
    page.get_by_label("Username").fill(look_alike)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()

    username = page.get_by_label("Username")
    expect(username).to_have_attribute("aria-invalid", "true")
    expect(username).to_have_accessible_description(re.compile("looks like a registered user's"))
    page.goto(f"{visitor.worker.http}/")
    expect(page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign up")).to_be_visible()
