from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat import broadcast, services
from chat.identity import Identity
from chat.models import Message, Room, Sanction

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def moderator(client: Client) -> Client:
    # force_login: axes guards authenticate() itself, which the test client calls without a request.
    client.force_login(get_user_model().objects.create_superuser("mod", "mod@example.com", "pw-mod-12345"))
    return client


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """What the admin broadcasts: (room, frame)."""
    frames: list[tuple[str, str]] = []

    async def record(slug: str, frame: str, **kwargs: object) -> None:
        frames.append((slug, frame))

    monkeypatch.setattr(broadcast, "frame_send", record)
    return frames


# The room form as the admin posts it, for the room "den".
ROOM_FORM = {
    "slug": "den",
    "name": "Den",
    "topic": "",
    "kind": "public",
    "guests_allowed": "on",
    "slow_mode_seconds": "0",
}


def _post(room: Room, body: str) -> Message:
    author = Identity(key="g:a", name="amy", guest=True)
    return services.message_create(room_id=room.pk, author=author, body=body, client_id=None)[0]


def test_room_list_shows_message_counts_and_searches(moderator: Client) -> None:
    den = Room.objects.create(slug="den", name="Den")
    for body in ("a", "b", "c"):
        _post(den, body)
    page = moderator.get("/admin/chat/room/").content.decode()
    assert "Den" in page and ">3<" in page
    found = moderator.get("/admin/chat/room/?q=den").content.decode()
    assert "Den" in found and "Lobby" not in found


def test_deleting_a_message_in_the_admin_announces_it_to_the_room(
    moderator: Client, sent: list[tuple[str, str]]
) -> None:
    den = Room.objects.create(slug="den", name="Den")
    message = _post(den, "spam")
    response = moderator.post(f"/admin/chat/message/{message.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    tombstone = Message.objects.get(pk=message.pk)  # kept, so that resuming clients learn of it
    assert tombstone.deleted_at is not None and tombstone.body == "" and tombstone.change == 1
    assert sent == [("den", '{"type":"deleted","seq":1,"change":1}')]


def test_bulk_delete_announces_each_message(moderator: Client, sent: list[tuple[str, str]]) -> None:
    den = Room.objects.create(slug="den", name="Den")
    ids = [_post(den, b).pk for b in ("x", "y")]
    moderator.post("/admin/chat/message/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert sorted(sent) == [
        ("den", '{"type":"deleted","seq":1,"change":1}'),
        ("den", '{"type":"deleted","seq":2,"change":2}'),
    ]


def test_archiving_a_room_in_the_admin_announces_it(moderator: Client, sent: list[tuple[str, str]]) -> None:
    den = Room.objects.create(slug="den", name="Den")
    response = moderator.post(f"/admin/chat/room/{den.pk}/change/", {**ROOM_FORM, "archived": "on"})
    assert response.status_code == 302
    assert Room.objects.get(pk=den.pk).archived
    assert len(sent) == 1 and '"archived":true' in sent[0][1]


def test_room_slug_must_be_group_name_safe(moderator: Client) -> None:
    response = moderator.post("/admin/chat/room/add/", {"slug": "Bad Slug!", "name": "Bad", "topic": ""})
    assert response.status_code == 200
    assert not Room.objects.filter(name="Bad").exists()


def test_deleting_a_room_in_the_admin_closes_its_pages(moderator: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[tuple[str, int]] = []

    async def record(slug: str, *, code: int) -> None:
        closed.append((slug, code))

    monkeypatch.setattr(broadcast, "room_close", record)
    den = Room.objects.create(slug="den", name="Den")
    _post(den, "hello")
    response = moderator.post(f"/admin/chat/room/{den.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Room.objects.filter(slug="den").exists() and not Message.objects.filter(room_id=den.pk).exists()
    attic = Room.objects.create(slug="attic", name="Attic")
    moderator.post("/admin/chat/room/", {"action": "delete_selected", "_selected_action": [attic.pk], "post": "yes"})
    assert closed == [("den", 4404), ("attic", 4404)]


@pytest.fixture
def orders(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str | None]]:
    """The orders the admin sends to rooms' open sockets: (kind, room, person)."""
    sent: list[tuple[str, str, str | None]] = []
    monkeypatch.setattr(
        broadcast, "person_closed", lambda *, room_slug, person_key: sent.append(("close", room_slug, person_key))
    )
    monkeypatch.setattr(
        broadcast,
        "room_recheck_sync",
        lambda *, room_slug, person_key=None: sent.append(("recheck", room_slug, person_key)),
    )
    return sent


def test_banning_in_the_admin_closes_the_persons_sockets_and_lifting_it_tells_them(
    moderator: Client, orders: list[tuple[str, str, str | None]]
) -> None:
    den = Room.objects.create(slug="den", name="Den")
    troll = get_user_model().objects.create_user("troll")
    response = moderator.post(
        "/admin/chat/sanction/add/",
        {"room": den.pk, "kind": "ban", "user": troll.pk, "person_key": "", "person_name": "", "reason": "spam"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    sanction = Sanction.objects.get()
    assert (sanction.person_key, sanction.person_name, sanction.created_by.username) == (
        f"u:{troll.pk}",
        "troll",
        "mod",
    )
    assert orders == [("close", "den", f"u:{troll.pk}")]
    moderator.post(f"/admin/chat/sanction/{sanction.pk}/delete/", {"post": "yes"})
    assert not Sanction.objects.exists() and orders[-1] == ("recheck", "den", f"u:{troll.pk}")


def test_a_sanction_needs_a_person(moderator: Client) -> None:
    den = Room.objects.create(slug="den", name="Den")
    response = moderator.post("/admin/chat/sanction/add/", {"room": den.pk, "kind": "mute", "person_key": ""})
    assert response.status_code == 200 and "Choose a user" in response.content.decode()
    assert not Sanction.objects.exists()


def test_muting_authors_from_the_message_list_mutes_each_once(
    moderator: Client, orders: list[tuple[str, str, str | None]]
) -> None:
    den = Room.objects.create(slug="den", name="Den")
    ids = [_post(den, body).pk for body in ("a", "b")]
    moderator.post("/admin/chat/message/", {"action": "mute_authors_for_a_day", "_selected_action": ids})
    mute = Sanction.objects.get()
    assert (mute.kind, mute.person_key, mute.person_name) == ("mute", "g:a", "amy") and mute.expires_at is not None
    assert orders == [("recheck", "den", "g:a")]


def test_changing_who_may_enter_makes_the_rooms_sockets_check_again(
    moderator: Client, orders: list[tuple[str, str, str | None]]
) -> None:
    den = Room.objects.create(slug="den", name="Den")
    mia = get_user_model().objects.create_user("mia")
    response = moderator.post(
        f"/admin/chat/room/{den.pk}/change/", {**ROOM_FORM, "kind": "members", "members": [mia.pk]}
    )
    assert response.status_code == 302
    den.refresh_from_db()
    assert den.kind == "members" and list(den.members.all()) == [mia]
    assert orders == [("recheck", "den", None)]
