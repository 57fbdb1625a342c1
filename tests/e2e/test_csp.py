"""Under the Content-Security-Policy the pages still work, and the browser reports nothing they did blocked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from tests.e2e.pages import ChatPage
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e

PASSWORD = "e2e-Csp-password-9"

# Runs before any of the page's own scripts (Playwright injects it past the policy itself).
WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"} at ${event.sourceFile}:${event.lineNumber}`
  );
});
"""


class Watched:
    """A page whose policy violations, as events and as console messages, are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console: list[str] = []
        page.on("console", self._console)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        # Reports are queued as tasks: let any still pending arrive before reading them.
        self.page.wait_for_timeout(300)
        events: list[str] = self.page.evaluate("window.__cspViolations")
        return events + self.console


WatchedPage = Callable[[], Watched]


@pytest.fixture
def watched_page(browser: Browser) -> Iterator[WatchedPage]:
    contexts: list[BrowserContext] = []

    def make() -> Watched:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        context.add_init_script(WATCH)
        return Watched(context.new_page())

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def csp_room(chat_site: Site) -> str:
    chat_site.shell(
        "from chat.models import Room\n"
        "Room.objects.get_or_create(slug='csp', defaults={'name': 'Policy', 'topic': 'Where the CSP is tested.'})\n"
    )
    return "csp"


def test_the_room_list_loads_without_a_violation(
    watched_page: WatchedPage, first_worker: Worker, csp_room: str
) -> None:
    watched = watched_page()
    response = watched.page.goto(f"{first_worker.http}/")
    assert response is not None and "content-security-policy" in response.headers
    expect(watched.page.get_by_role("link", name="Policy")).to_be_visible()
    # The stylesheet applied (a blocked one would leave the browser's default serif text).
    assert "system-ui" in watched.page.evaluate("getComputedStyle(document.body).fontFamily")
    assert watched.violations() == []


def test_a_room_connects_and_talks_without_a_violation(
    watched_page: WatchedPage, first_worker: Worker, csp_room: str
) -> None:
    watched = watched_page()
    chat = ChatPage(watched.page, first_worker)
    chat.open(csp_room)  # waits for "Connected": connect-src 'self' lets the ws:// socket through
    assert chat.socket_urls and chat.socket_urls[0].startswith(f"ws://127.0.0.1:{first_worker.port}/")
    chat.send("said under a strict policy")
    chat.expect_messages(["said under a strict policy"])
    # The panels' toggles and the composer's auto-height set styles from script: allowed (CSSOM).
    chat.composer.fill("a\nb\nc\nd")
    chat.assert_no_script_ran()
    assert watched.violations() == []


def test_the_admin_works_without_a_violation(watched_page: WatchedPage, chat_site: Site, first_worker: Worker) -> None:
    chat_site.shell(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser('csp-moderator', 'csp@example.com', {PASSWORD!r})\n"
    )
    watched = watched_page()
    page = watched.page
    page.goto(f"{first_worker.http}/admin/login/")
    assert watched.violations() == []
    page.get_by_label("Username").fill("csp-moderator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    for path in ("/admin/chat/room/", "/admin/chat/room/add/", "/admin/chat/message/", "/admin/axes/accessattempt/"):
        page.goto(f"{first_worker.http}{path}")
        expect(page.locator("#content")).to_be_visible()
    # The admin's own scripts run: its theme toggle (admin/js/theme.js) switches the theme.
    assert page.evaluate("document.documentElement.dataset.theme") == "auto"
    page.locator("button.theme-toggle").first.click()
    expect(page.locator("html")).not_to_have_attribute("data-theme", "auto")
    assert watched.violations() == []


def test_the_watch_reports_what_the_policy_blocks(
    watched_page: WatchedPage, first_worker: Worker, csp_room: str
) -> None:
    """The policy is enforced by the browser, and the tests above would see a violation."""
    watched = watched_page()
    watched.page.goto(f"{first_worker.http}/")
    watched.page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">styled</p>');"
        "const s = document.createElement('script'); s.textContent = 'window.__ran = true'; document.body.append(s);"
    )
    found = watched.violations()
    assert any("style-src" in v for v in found) and any("script-src" in v for v in found), found
    assert watched.page.evaluate("window.__ran") is None
