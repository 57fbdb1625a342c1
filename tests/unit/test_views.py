from __future__ import annotations

from typing import Any

import orjson
import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import Client
from redis.exceptions import ConnectionError as RedisConnectionError

from chat import presence as presence_module
from chat import views
from chat.identity import GUEST_NAME_KEY, Identity
from chat.models import Room

pytestmark = pytest.mark.django_db


def test_index_lists_rooms_with_names_topics_and_links(client: Client) -> None:
    Room.objects.create(slug="garden", name="Garden", topic="Plants & <weeds>")
    page = client.get("/").content.decode()
    assert 'href="/rooms/garden/"' in page and 'href="/rooms/lobby/"' in page
    assert "Plants &amp; &lt;weeds&gt;" in page  # escaped, never raw


def test_room_page_gives_a_guest_a_name_kept_in_the_session(client: Client) -> None:
    assert client.get("/rooms/lobby/").status_code == 200
    name = client.session[GUEST_NAME_KEY]
    assert name.startswith("guest-")
    client.get("/rooms/lobby/")
    assert client.session[GUEST_NAME_KEY] == name


def test_guest_can_pick_a_nickname(client: Client) -> None:
    response = client.post("/rooms/lobby/", {"nickname": "alice"})
    assert response.status_code == 302
    assert client.session[GUEST_NAME_KEY] == "alice"


@pytest.mark.parametrize("nickname", ["a", "x" * 33, "no spaces", "<b>", ""])
def test_bad_nicknames_are_refused_with_a_reason(client: Client, nickname: str) -> None:
    response = client.post("/rooms/lobby/", {"nickname": nickname})
    assert response.status_code == 200
    assert response.context["nickname_error"]
    assert client.session[GUEST_NAME_KEY] != nickname


def test_guest_cannot_take_a_registered_users_name(client: Client) -> None:
    get_user_model().objects.create_user("Carol", password="pw-123-long")
    response = client.post("/rooms/lobby/", {"nickname": "carol"})
    assert response.context["nickname_error"] == "That name belongs to a registered user."


def test_unknown_room_page_is_404(client: Client) -> None:
    assert client.get("/rooms/nowhere/").status_code == 404


def test_healthz_answers_200_when_the_database_answers(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert orjson.loads(response.content) == {"status": "ok", "database": "ok"}


def test_healthz_answers_503_when_redis_does_not(
    client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class DownPresence:
        def ping(self) -> None:
            raise RedisConnectionError("refused")

    monkeypatch.setattr(views, "presence", lambda: DownPresence())
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = orjson.loads(response.content)
    assert body["status"] == "unavailable" and body["redis"].startswith("error")


def test_room_list_shows_online_counts(client: Client) -> None:
    store = presence_module.presence()
    assert isinstance(store, presence_module.LocalPresence)
    async_to_sync(store.join)("lobby", Identity(key="g:x", name="x", guest=True), "c1")
    page = client.get("/").content.decode()
    assert "1 online" in page
