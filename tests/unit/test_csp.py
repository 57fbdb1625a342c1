"""Every page is sent with the Content-Security-Policy header, and the pages need nothing it forbids."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client

from chat.models import Room

pytestmark = pytest.mark.django_db

PAGES = ["/", "/rooms/den/", "/admin/login/"]

EXPECTED = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'self'"},
    "form-action": {"'self'"},
    "frame-ancestors": {"'none'"},
}


@pytest.fixture(autouse=True)
def den() -> Room:
    return Room.objects.create(slug="den", name="Den", topic="Quiet please")


def policy(header: str) -> dict[str, set[str]]:
    directives: dict[str, set[str]] = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = set(sources)
    return directives


class InlineCode(HTMLParser):
    """Collects what a strict policy blocks: inline scripts, <style>, style="" and on*="" attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.found.append("<script> without src")
        if tag == "style":
            self.found.append("<style>")
        self.found += [f'{tag} {name}=""' for name in names if name == "style" or name.startswith("on")]
        self.found += [f"{tag} {name}={value}" for name, value in attrs if (value or "").startswith("javascript:")]


@pytest.mark.parametrize("url", PAGES)
def test_each_page_carries_the_policy(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200
    assert policy(response["Content-Security-Policy"]) == EXPECTED


def test_a_login_lockout_page_carries_the_policy_too(client: Client) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post("/admin/login/", {"username": "nobody", "password": "wrong"})
    assert response.status_code == 429
    assert policy(response["Content-Security-Policy"]) == EXPECTED


@pytest.mark.parametrize("url", ["/", "/rooms/den/"])
def test_the_chat_pages_have_no_inline_script_or_style(client: Client, url: str) -> None:
    # The guest form (the nickname <details>) is only on a guest's page, which is the one rendered here.
    parser = InlineCode()
    parser.feed(client.get(url).content.decode())
    assert parser.found == []


def test_the_inline_code_detector_finds_inline_code() -> None:
    parser = InlineCode()
    parser.feed('<script>x()</script><p style="color:red" onclick="x()"><style>p{}</style><a href="javascript:x()">')
    assert len(parser.found) == 5
