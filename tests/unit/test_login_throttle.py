"""Log-in throttling (django-axes): too many wrong passwords lock that username at that address for a while."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView
from django.db.models import F
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from chat.models import Room
from chatsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "right-Password-42"
ATTACKER = "198.51.100.7"
ELSEWHERE = "203.0.113.9"
ADMIN_LOGIN = "/admin/login/?next=/admin/"

# For the test that any contrib.auth LoginView is throttled, not only the admin's (@pytest.mark.urls).
urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/login/", LoginView.as_view(template_name="admin/login.html", next_page="/admin/")),
]


@pytest.fixture(autouse=True)
def moderators(settings: Any) -> None:
    # A fast hasher: these tests check passwords dozens of times, and what they test is the counting.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_user_model().objects.create_superuser("mod", "mod@example.com", PASSWORD)
    get_user_model().objects.create_superuser("other", "other@example.com", PASSWORD)


def log_in(
    client: Client, password: str, *, username: str = "mod", address: str = ATTACKER, url: str = ADMIN_LOGIN
) -> HttpResponse:
    response: HttpResponse = client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address, follow=False
    )
    return response


def signed_in(response: HttpResponse) -> bool:
    """The admin's answer to a right password: a redirect into the admin, with a session."""
    return response.status_code == 302 and response["Location"] == "/admin/" and "sessionid" in response.cookies


def fail(client: Client, times: int, **kwargs: str) -> list[int]:
    return [log_in(client, f"wrong-{i}", **kwargs).status_code for i in range(times)]


def test_the_limit_counts_wrong_passwords_and_the_last_one_locks(client: Client) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # the documented default
    statuses = fail(client, limit)
    # The form says "wrong password" until the failure that reaches the limit, which is refused.
    assert statuses == [200] * (limit - 1) + [429]


def test_after_too_many_wrong_passwords_the_right_one_is_refused(client: Client) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    response = log_in(client, PASSWORD)
    assert response.status_code == 429
    assert b"too many login attempts" in response.content
    assert "sessionid" not in response.cookies
    assert client.get("/admin/").status_code == 302  # still sent to the log-in page


def test_one_failure_short_of_the_limit_the_right_password_still_works(client: Client) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT - 1)
    assert signed_in(log_in(client, PASSWORD))


def test_a_successful_log_in_forgets_the_earlier_failures(client: Client) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    fail(client, limit - 1)
    assert signed_in(log_in(client, PASSWORD))
    client.post("/admin/logout/")
    assert fail(client, limit - 1) == [200] * (limit - 1)
    assert signed_in(log_in(client, PASSWORD))


def test_a_lockout_shuts_out_neither_the_user_elsewhere_nor_other_users_here(client: Client) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    # Nobody can lock the moderator out from another address by failing under their name...
    assert signed_in(log_in(Client(), PASSWORD, address=ELSEWHERE))
    # ...and the locked-out address does not take everyone's log-in down with it.
    assert signed_in(log_in(Client(), PASSWORD, username="other"))


def test_the_lockout_ends_once_the_cool_off_has_passed(client: Client) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    assert log_in(client, PASSWORD).status_code == 429
    almost = settings.AXES_COOLOFF_TIME - datetime.timedelta(seconds=30)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - almost)
    assert log_in(client, PASSWORD).status_code == 429  # not yet; and this retry does not prolong it
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - datetime.timedelta(seconds=31))
    assert signed_in(log_in(client, PASSWORD))


def test_the_cool_off_is_fifteen_minutes_by_default() -> None:
    assert datetime.timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_a_forged_x_forwarded_for_does_not_escape_the_lockout(client: Client) -> None:
    fail(client, settings.AXES_FAILURE_LIMIT)
    response = client.post(
        ADMIN_LOGIN,
        {"username": "mod", "password": PASSWORD},
        REMOTE_ADDR=ATTACKER,
        HTTP_X_FORWARDED_FOR=ELSEWHERE,
    )
    assert response.status_code == 429


@pytest.mark.urls(__name__)
def test_any_contrib_auth_login_view_is_throttled_too(client: Client) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert fail(client, limit, url="/accounts/login/") == [200] * (limit - 1) + [429]
    assert log_in(client, PASSWORD, url="/accounts/login/").status_code == 429


def test_a_user_signed_in_through_the_throttled_log_in_is_known_on_the_websocket(client: Client) -> None:
    """The socket's AuthMiddlewareStack loads the user through the backends: axes must not get in the way."""
    Room.objects.create(slug="den", name="Den")
    assert signed_in(log_in(client, PASSWORD))
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    async def welcome() -> dict[str, object]:
        headers = [(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)]
        comm = WebsocketCommunicator(application, "/ws/rooms/den/", headers=headers)
        connected, _ = await comm.connect()
        assert connected
        frame: dict[str, object] = orjson.loads(await comm.receive_from(2))
        await comm.disconnect()
        return frame

    frame = async_to_sync(welcome)()
    assert frame["type"] == "welcome"
    assert {k: v for k, v in frame["you"].items() if k != "id"} == {"name": "mod", "guest": False}  # type: ignore[union-attr]


def _client_address(proxies: str, remote_addr: str, forwarded_for: str | None) -> str:
    """The address axes counts for a request, with DJANGO_TRUSTED_PROXY_COUNT as a deployment sets it."""
    code = (
        "import json\n"
        "from django.test import RequestFactory\n"
        "from axes.helpers import get_client_ip_address\n"
        f"meta = json.loads({json.dumps(json.dumps({'REMOTE_ADDR': remote_addr}))})\n"
        + (f"meta['HTTP_X_FORWARDED_FOR'] = {forwarded_for!r}\n" if forwarded_for else "")
        + "print(get_client_ip_address(RequestFactory().post('/admin/login/', **meta)))\n"
    )
    env = {**os.environ, "DJANGO_TRUSTED_PROXY_COUNT": proxies, "DJANGO_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "client_address"),
    [
        pytest.param("0", "203.0.113.50", "10.0.0.2", id="no-proxy-trusted-header-ignored"),
        pytest.param("1", "203.0.113.50", "203.0.113.50", id="one-proxy"),
        pytest.param("1", "6.6.6.6, 203.0.113.50", "203.0.113.50", id="one-proxy-client-forged-an-entry"),
        pytest.param("2", "6.6.6.6, 203.0.113.50, 10.0.0.3", "203.0.113.50", id="two-proxies"),
        pytest.param("1", None, "10.0.0.2", id="one-proxy-header-missing"),
    ],
)
def test_the_client_address_is_taken_from_x_forwarded_for_only_as_far_as_proxies_are_trusted(
    proxies: str, forwarded_for: str | None, client_address: str
) -> None:
    assert _client_address(proxies, "10.0.0.2", forwarded_for) == client_address
