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


# -- Who may see which room ----------------------------------------------------------------------


@pytest.fixture
def inner() -> Room:
    room = Room.objects.create(slug="inner", name="Inner circle", kind=Room.Kind.MEMBERS)
    room.members.add(get_user_model().objects.create_user("mia"))
    return room


def test_a_members_only_room_is_hidden_from_strangers_and_shown_to_members(client: Client, inner: Room) -> None:
    assert client.get("/rooms/inner/").status_code == 404
    assert "Inner circle" not in client.get("/").content.decode()
    assert "inner" not in orjson.loads(client.get("/rooms/online").content)["online"]
    client.force_login(get_user_model().objects.create_user("sam"))
    assert client.get("/rooms/inner/").status_code == 404
    client.force_login(get_user_model().objects.get(username="mia"))
    assert client.get("/rooms/inner/").status_code == 200
    assert "Inner circle" in client.get("/").content.decode()
    assert "inner" in orjson.loads(client.get("/rooms/online").content)["online"]


def test_staff_see_every_room(client: Client, inner: Room) -> None:
    client.force_login(get_user_model().objects.create_user("boss", is_staff=True))
    assert client.get("/rooms/inner/").status_code == 200


def test_a_room_closed_to_guests_sends_them_to_log_in(client: Client) -> None:
    Room.objects.create(slug="users", name="Users", guests_allowed=False)
    response = client.get("/rooms/users/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/?next=/rooms/users/"


def test_a_banned_person_gets_the_banned_page(client: Client) -> None:
    from chat.models import Sanction

    user = get_user_model().objects.create_user("troll")
    lobby = Room.objects.get(slug="lobby")
    Sanction.objects.create(room=lobby, kind=Sanction.Kind.BAN, person_key=f"u:{user.pk}", person_name="troll")
    client.force_login(user)
    response = client.get("/rooms/lobby/")
    assert response.status_code == 403 and "You are banned from this room" in response.content.decode()
    assert client.get("/").status_code == 200  # only that room


def test_the_online_counts_are_json_for_the_rooms_one_may_see(client: Client) -> None:
    response = client.get("/rooms/online")
    assert response.status_code == 200 and response["Cache-Control"].startswith("max-age=0")
    assert set(orjson.loads(response.content)["online"]) == {"lobby"}
