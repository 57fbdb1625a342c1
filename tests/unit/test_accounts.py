"""Accounts: sign-up (chat.accounts) and contrib.auth's log-in, log-out and password reset pages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core import mail
from django.http import HttpResponse
from django.test import Client

from chat.identity import GUEST_NAME_KEY, NICKNAME_RULE

pytestmark = pytest.mark.django_db

PASSWORD = "Sturdy-horse-battery-42"
NEW_PASSWORD = "Other-staple-lantern-77"
LOOKS_TAKEN = "That name is taken: it looks like a registered user&#x27;s."
ACCOUNT_PAGES = ["/accounts/login/", "/accounts/signup/", "/accounts/password_reset/"]


@pytest.fixture(autouse=True)
def fast_hasher(settings: Any) -> None:
    # What these tests check is the pages, not the hashing; the lockout test checks a dozen passwords.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def register(username: str, email: str = "") -> User:
    return get_user_model().objects.create_user(username, email=email, password=PASSWORD)


def sign_up(client: Client, username: str, *, next_url: str | None = None, **extra: str) -> HttpResponse:
    url = "/accounts/signup/" + (f"?next={quote(next_url)}" if next_url is not None else "")
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD, **extra}
    response: HttpResponse = client.post(url, data)
    return response


def log_in(client: Client, username: str, password: str = PASSWORD, *, url: str = "/accounts/login/") -> HttpResponse:
    response: HttpResponse = client.post(url, {"username": username, "password": password})
    return response


def signed_in_as(client: Client) -> str | None:
    user = client.get("/").wsgi_request.user
    return user.get_username() if user.is_authenticated else None


class Forms(HTMLParser):
    """Each POST form on a page, with the names of its inputs; and each input's attributes by id."""

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[set[str]] = []
        self.inputs: dict[str, dict[str, str | None]] = {}
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(str(attributes["id"]))
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self.posts.append(set())
        if tag == "input":
            if self.posts:
                self.posts[-1].add(str(attributes.get("name")))
            if attributes.get("id"):
                self.inputs[str(attributes["id"])] = attributes


def parsed(response: HttpResponse) -> Forms:
    forms = Forms()
    forms.feed(response.content.decode())
    return forms


def test_sign_up_creates_the_user_and_signs_them_in(client: Client) -> None:
    response = sign_up(client, "newbie", email="newbie@example.com")
    assert response.status_code == 302 and response["Location"] == "/"
    assert get_user_model().objects.get(username="newbie").email == "newbie@example.com"
    assert signed_in_as(client) == "newbie"
    assert "Signed in as newbie" in client.get("/").content.decode()


def test_after_sign_up_the_room_page_shows_the_username_not_a_guest(client: Client) -> None:
    response = sign_up(client, "roomie", next_url="/rooms/lobby/")
    assert response["Location"] == "/rooms/lobby/"
    page = client.get("/rooms/lobby/").content.decode()
    assert '<strong id="you-name">roomie</strong>' in page
    assert ">guest<" not in page and 'id="nickname"' not in page


def test_a_new_accounts_name_is_closed_to_guests(client: Client) -> None:
    sign_up(Client(), "newbie")
    response = client.post("/rooms/lobby/", {"nickname": "NEWBIE"})
    assert response.context["nickname_error"] == "That name belongs to a registered user."


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("b0b", id="digit-zero"),
        pytest.param("B0B", id="capitals-and-zero"),
        pytest.param("b\u043eb", id="cyrillic-o"),
        pytest.param("\u042cob", id="cyrillic-soft-sign"),
    ],
)
def test_sign_up_refuses_a_look_alike_of_a_registered_name(client: Client, username: str) -> None:
    register("bob")
    response = sign_up(client, username)
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == ["That name is taken: it looks like a registered user's."]
    # The error is on the page and tied to its input, for a screen reader too.
    forms = parsed(response)
    assert LOOKS_TAKEN in response.content.decode()
    assert forms.inputs["id_username"]["aria-invalid"] == "true"
    assert "id_username_error" in str(forms.inputs["id_username"]["aria-describedby"]).split()
    assert "id_username_error" in forms.ids
    assert not get_user_model().objects.filter(username=username).exists()
    assert signed_in_as(client) is None


def test_sign_up_refuses_a_case_variant_of_a_registered_name(client: Client) -> None:
    register("bob")
    response = sign_up(client, "BOB")
    assert response.status_code == 200 and response.context["form"].errors["username"]
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize(
    "username",
    [
        pytest.param("a", id="too-short"),
        pytest.param("x" * 33, id="too-long"),
        pytest.param("two words", id="space"),
        pytest.param("me@example", id="at-sign"),
        pytest.param("bob\u3164", id="invisible-letter"),
    ],
)
def test_sign_up_refuses_a_name_that_does_not_fit_the_chats_rules(client: Client, username: str) -> None:
    response = sign_up(client, username)
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [NICKNAME_RULE]
    assert NICKNAME_RULE in response.content.decode()
    assert not get_user_model().objects.exists()


def test_a_sign_up_or_log_in_without_csrf_token_is_refused() -> None:
    register("bob")
    client = Client(enforce_csrf_checks=True)
    assert sign_up(client, "newbie").status_code == 403
    assert log_in(client, "bob").status_code == 403
    assert not get_user_model().objects.filter(username="newbie").exists()
    assert signed_in_as(client) is None
    # With the token the page gives, the same sign-up goes through.
    client.get("/accounts/signup/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert sign_up(client, "newbie", csrfmiddlewaretoken=token).status_code == 302


@pytest.mark.parametrize("url", ACCOUNT_PAGES)
def test_every_account_form_carries_a_csrf_token(client: Client, url: str) -> None:
    forms = parsed(client.get(url))
    assert forms.posts and all("csrfmiddlewaretoken" in names for names in forms.posts)


@pytest.mark.parametrize("url", ACCOUNT_PAGES)
def test_every_input_on_an_account_page_has_a_label(client: Client, url: str) -> None:
    page = client.get(url).content.decode()
    visible = [id_ for id_, attrs in parsed(client.get(url)).inputs.items() if attrs.get("type") != "hidden"]
    assert visible
    for id_ in visible:
        assert f'<label for="{id_}">' in page
    assert page.count("<h1") == 1 and '<main id="content"' in page


def test_log_in_and_log_out_round_trip(client: Client) -> None:
    register("bob")
    response = log_in(client, "bob")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "bob"
    assert client.get("/accounts/logout/").status_code == 405  # a link or an <img> cannot log anyone out
    assert signed_in_as(client) == "bob"
    response = client.post("/accounts/logout/", {"next": "/rooms/lobby/"})
    assert response.status_code == 302 and response["Location"] == "/rooms/lobby/"
    assert signed_in_as(client) is None
    assert client.get("/rooms/lobby/").context["you"].startswith("guest-")


def test_a_wrong_password_is_refused_with_a_message(client: Client) -> None:
    register("bob")
    response = log_in(client, "bob", "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert signed_in_as(client) is None


def test_the_header_offers_log_in_and_sign_up_back_to_this_page_to_a_guest(client: Client) -> None:
    index = client.get("/").content.decode()
    assert 'href="/accounts/login/?next=/"' in index and 'href="/accounts/signup/?next=/"' in index
    room = client.get("/rooms/lobby/").content.decode()
    assert 'href="/accounts/login/?next=/rooms/lobby/"' in room
    assert 'href="/accounts/signup/?next=/rooms/lobby/"' in room
    assert 'id="nickname"' in room  # the guest's own name form stays


def test_the_header_offers_a_log_out_form_to_a_user(client: Client) -> None:
    register("bob")
    log_in(client, "bob")
    for url in ("/", "/rooms/lobby/"):
        response = client.get(url)
        assert any({"csrfmiddlewaretoken", "next"} <= names for names in parsed(response).posts), url
        assert 'action="/accounts/logout/"' in response.content.decode()
        assert "/accounts/login/" not in response.content.decode()


def test_password_reset_by_mail_end_to_end(client: Client, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    register("bob", email="bob@example.com")
    response = client.post("/accounts/password_reset/", {"email": "BOB@example.com"})
    assert response.status_code == 302 and response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["bob@example.com"] and message.subject == "Reset your password on testserver"
    found = re.search(r"http://testserver(/accounts/reset/\S+/)", str(message.body))
    assert found, message.body

    form_page = client.get(found.group(1), follow=True)
    assert form_page.context["validlink"]
    set_password_url = form_page.redirect_chain[-1][0]
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/reset/done/"

    assert log_in(Client(), "bob", PASSWORD).status_code == 200  # the old one no longer works
    fresh = Client()
    assert log_in(fresh, "bob", NEW_PASSWORD).status_code == 302
    assert signed_in_as(fresh) == "bob"
    # The link works once.
    assert not client.get(found.group(1), follow=True).context["validlink"]


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_nothing(client: Client, settings: Any) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    register("bob", email="bob@example.com")
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"  # as for a known address
    assert mail.outbox == []


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"]
)
def test_an_open_redirect_in_next_is_ignored(client: Client, next_url: str) -> None:
    assert "evil" not in client.get(f"/accounts/signup/?next={quote(next_url)}").content.decode()
    assert sign_up(client, "newbie", next_url=next_url)["Location"] == "/"
    register("bob")
    response = client.post(f"/accounts/login/?next={quote(next_url)}", {"username": "bob", "password": PASSWORD})
    assert response["Location"] == "/"


def test_a_locked_out_log_in_shows_the_lockout_page(client: Client) -> None:
    register("bob")
    statuses = [log_in(client, "bob", f"wrong-{n}").status_code for n in range(settings.AXES_FAILURE_LIMIT)]
    assert statuses == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    response = log_in(client, "bob")  # the right password, too late
    assert response.status_code == 429
    page = response.content.decode()
    assert "<h1>Log-in paused</h1>" in page
    assert "too many login attempts for <strong>bob</strong>" in page and "up to 15 minutes" in page
    assert signed_in_as(client) is None


def test_a_signed_in_user_can_change_their_password(client: Client) -> None:
    register("bob")
    log_in(client, "bob")
    data = {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post("/accounts/password_change/", data)
    assert response.status_code == 302 and response["Location"] == "/accounts/password_change/done/"
    assert signed_in_as(client) == "bob"  # this session stays signed in
    assert log_in(Client(), "bob", NEW_PASSWORD).status_code == 302


def test_the_guest_name_is_not_carried_into_the_account(client: Client) -> None:
    client.post("/rooms/lobby/", {"nickname": "wanderer"})
    assert client.session[GUEST_NAME_KEY] == "wanderer"
    sign_up(client, "settler")
    assert client.get("/rooms/lobby/").context["you"] == "settler"
