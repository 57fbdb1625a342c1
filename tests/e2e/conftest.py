"""A real browser (Debian's chromium) against one real deployment shared by the e2e suite."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.e2e.pages import ChatPage
from tests.servers import Site, Worker, site

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
E2E_DIR = Path(__file__).resolve().parent
# Short, so that the heartbeat-driven behaviour (catch-up, dead-socket detection) shows within seconds.
HEARTBEAT_SECONDS = "2"

ROOMS = {
    "same-room": "Same room",
    "other-room": "Other room",
    "quiet-room": "Quiet room",
    "two-workers": "Two workers",
    "xss": "XSS",
    "restart": "Restart",
    "design": "Design",
    "missed": "Missed broadcasts",
    "moderated": "Moderated",
    "history": "Long history",
    "busy": "Busy",
    "silent": "Silent worker",
    "doomed": "Doomed",
    "reading": "Reading",
    "scrolling": "Scrolling",
    "lines": "Lines",
    "accounts": "Accounts",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is absent: install Debian's chromium (apt-get install -y chromium)")
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(skip)


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread while
# it is started, which would break the async tests that run after this package.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="package")
def chat_site() -> Iterator[Site]:
    """One deployment with two daphne workers on the real Redis; each test uses its own rooms."""
    with site(CHAT_HEARTBEAT_SECONDS=HEARTBEAT_SECONDS) as deployment:
        deployment.shell(
            "from chat.models import Room\n"
            f"for slug, name in {json.dumps(ROOMS)}.items():\n"
            "    Room.objects.create(slug=slug, name=name, topic=f'Where {name.lower()} is tested.')\n"
        )
        deployment.add_worker()
        deployment.add_worker()
        yield deployment


@pytest.fixture
def first_worker(chat_site: Site) -> Worker:
    return chat_site.workers[0]


@pytest.fixture
def second_worker(chat_site: Site) -> Worker:
    return chat_site.workers[1]


OpenRoom = Callable[..., ChatPage]


@pytest.fixture
def open_room(browser: Browser) -> Iterator[OpenRoom]:
    """Open a room page in a fresh browser context (its own cookies: its own guest, or `login`'s user)."""
    contexts: list[BrowserContext] = []
    pages: list[ChatPage] = []

    def opener(
        worker: Worker,
        slug: str,
        *,
        connected: bool = True,
        login: tuple[str, str] | None = None,
        **context_options: object,
    ) -> ChatPage:
        context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context_options})
        contexts.append(context)
        chat = ChatPage(context.new_page(), worker)
        pages.append(chat)
        if login is not None:
            chat.log_in(*login)
        chat.open(slug, connected=connected)
        return chat

    yield opener
    for chat in pages:
        chat.assert_no_script_ran()
    for context in contexts:
        context.close()
