"""Every page passes axe-core with no serious or critical violation, in both colour schemes."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import E2E_DIR
from tests.e2e.pages import ChatPage
from tests.servers import Site, Worker

pytestmark = pytest.mark.e2e

AXE = E2E_DIR / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
PASSWORD = "e2e-A11y-password-3"
# Django's own admin stylesheet (admin/css/base.css) sets the breadcrumb links in near-white, barely
# apart from the #c4dce8 text between them, and does not underline them. Only CSS can fix that, and
# under the self-only CSP a template cannot bring any: no inline style, and the admin loads no
# stylesheet of ours. So the admin pages are held to every rule but this one.
ADMIN_RULES_NOT_OURS = ("link-in-text-block",)
# Built by Django's admin/js/SelectFilter2.js (the filter_horizontal widget), not by a template: an
# aria-label on a role-less <span> (aria-prohibited-attr). Only these elements are left out.
ADMIN_NODES_NOT_OURS = (".selector .search-label-icon",)
# contrib.auth's pages and chat.accounts' sign-up.
ACCOUNT_PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/password_reset/"]

SEED = """
from datetime import timedelta
from django.utils import timezone
from chat import services
from chat.identity import Identity
from chat.models import Message, Room

room = Room.objects.create(slug={slug!r}, name="Accessible talk {suffix}", topic="Read by a screen reader, too.")
people = [
    Identity(key="u:a11y-alice", name="alice", guest=False),
    Identity(key="g:a11y-bob", name="bob", guest=True),
    Identity(key="g:a11y-chloe", name="chloe", guest=True),
]
yesterday = timezone.now() - timedelta(days=1)
for n, who in enumerate([0, 0, 1, 2, 1, 0]):
    message, _ = services.message_create(room_id=room.pk, author=people[who], body=f"line {{n}}", client_id=None)
    if n < 3:  # yesterday's: a second day separator
        Message.objects.filter(pk=message.pk).update(sent_at=yesterday + timedelta(minutes=n))
archived = Room.objects.create(slug={archived!r}, name="Old news {suffix}", topic="Kept for the record.")
services.message_create(room_id=archived.pk, author=people[0], body="the last word", client_id=None)
Room.objects.filter(pk=archived.pk).update(archived=True)
"""


@functools.cache
def axe_source() -> str:
    """axe-core's script; fails the test on CI when it is missing, skips it elsewhere."""
    if not AXE.exists():
        reason = f"{AXE} is missing: run `make tests/e2e/node_modules/axe-core/axe.min.js` (npm ci --prefix tests/e2e)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE.read_text()


def assert_accessible(page: Page, *, ignore: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> None:
    """Run axe on the page as it is now: no serious or critical violation but of the rules in `ignore`.

    `exclude`: selectors of elements that axe leaves out altogether.
    """
    # Evaluated rather than added as a <script>: the page's self-only CSP refuses inline scripts
    # (add_script_tag), and this way the page runs under its real policy, not bypass_csp.
    page.evaluate(axe_source())
    violations = page.evaluate(
        "async (exclude) => (await axe.run({ exclude }, { resultTypes: ['violations'] })).violations",
        [[selector] for selector in exclude],
    )
    blocking = [v for v in violations if v["impact"] in BLOCKING and v["id"] not in ignore]
    report = "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n"
        + "\n".join(
            f"    {' '.join(node['target'])}: {' '.join(node['failureSummary'].split())}" for node in v["nodes"]
        )
        for v in blocking
    )
    assert not blocking, f"axe on {page.url}:\n{report}"


NewPage = Callable[[], Page]


@pytest.fixture(params=["light", "dark"])
def new_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[NewPage]:
    """A page in a fresh context (its own guest) in the colour scheme of the parameter."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        axe_source()  # before any page work: a missing axe skips or fails at once
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=request.param)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def rooms(chat_site: Site) -> tuple[str, str]:
    """A room with a conversation and an archived room, for this module's tests (they only read them)."""
    suffix = uuid.uuid4().hex[:8]
    slug, archived = f"a11y-talk-{suffix}", f"a11y-archived-{suffix}"
    chat_site.shell(SEED.format(slug=slug, archived=archived, suffix=suffix))
    return slug, archived


def test_room_list_page_has_no_serious_violation(
    new_page: NewPage, rooms: tuple[str, str], first_worker: Worker
) -> None:
    _, archived = rooms
    page = new_page()
    page.goto(f"{first_worker.http}/")
    expect(page.locator(f"a[data-slug={archived}]")).to_contain_text("archived")
    assert_accessible(page)


def test_room_page_with_a_conversation_has_no_serious_violation(
    new_page: NewPage, rooms: tuple[str, str], first_worker: Worker
) -> None:
    slug, _ = rooms
    page = new_page()
    # Read up to the fourth message on an earlier visit: the last two show below "New messages".
    page.context.add_init_script(f"localStorage.setItem('chat:read:{slug}', '4')")
    reader = ChatPage(page, first_worker)
    reader.open(slug)
    reader.expect_messages([f"line {n}" for n in range(6)])
    newcomer = ChatPage(new_page(), first_worker)
    newcomer.open(slug)

    expect(page.get_by_role("separator").filter(has_text="Yesterday")).to_be_attached()
    expect(page.get_by_role("separator").filter(has_text="New messages")).to_be_visible()
    expect(page.locator("#timeline .notice--join")).to_have_count(1)
    expect(page.locator("#members li")).to_have_count(2)
    page.get_by_text("Change name").click()  # the nickname form, too
    expect(page.get_by_label("New name")).to_be_visible()
    assert_accessible(page)
    reader.assert_no_script_ran()


def test_archived_room_page_has_no_serious_violation(
    new_page: NewPage, rooms: tuple[str, str], first_worker: Worker
) -> None:
    _, archived = rooms
    reader = ChatPage(new_page(), first_worker)
    reader.open(archived)
    reader.expect_messages(["the last word"])
    expect(reader.page.locator("#archived-note")).to_be_visible()
    assert_accessible(reader.page)
    reader.assert_no_script_ran()


@pytest.fixture(scope="module")
def superuser(chat_site: Site) -> str:
    chat_site.shell(
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_superuser('a11y-admin', 'a11y@example.com', {PASSWORD!r})\n"
    )
    return "a11y-admin"


def test_admin_pages_have_no_serious_violation(
    new_page: NewPage, rooms: tuple[str, str], superuser: str, first_worker: Worker
) -> None:
    slug, _ = rooms
    page = new_page()
    page.goto(f"{first_worker.http}/admin/login/")
    assert_accessible(page, ignore=ADMIN_RULES_NOT_OURS, exclude=ADMIN_NODES_NOT_OURS)
    page.get_by_label("Username").fill(superuser)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    assert_accessible(page, ignore=ADMIN_RULES_NOT_OURS, exclude=ADMIN_NODES_NOT_OURS)
    page.goto(f"{first_worker.http}/admin/chat/room/")
    assert_accessible(page, ignore=ADMIN_RULES_NOT_OURS, exclude=ADMIN_NODES_NOT_OURS)
    page.locator("#result_list").get_by_role("link", name=slug, exact=True).click()
    expect(page.get_by_label("Slug")).to_have_value(slug)
    assert_accessible(page, ignore=ADMIN_RULES_NOT_OURS, exclude=ADMIN_NODES_NOT_OURS)


@pytest.mark.parametrize("path", ACCOUNT_PAGES)
def test_account_page_has_no_serious_violation(new_page: NewPage, first_worker: Worker, path: str) -> None:
    page = new_page()
    response = page.goto(f"{first_worker.http}{path}")
    assert response is not None
    assert response.status == 200, f"{path} answered {response.status}"
    assert_accessible(page)
