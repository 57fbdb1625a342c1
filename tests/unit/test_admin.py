from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chat import broadcast, services
from chat.identity import Identity
from chat.models import Message, Room

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
    assert not Message.objects.filter(pk=message.pk).exists()
    assert sent == [("den", '{"type":"deleted","seq":1}')]


def test_bulk_delete_announces_each_message(moderator: Client, sent: list[tuple[str, str]]) -> None:
    den = Room.objects.create(slug="den", name="Den")
    ids = [_post(den, b).pk for b in ("x", "y")]
    moderator.post("/admin/chat/message/", {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert sorted(sent) == [("den", '{"type":"deleted","seq":1}'), ("den", '{"type":"deleted","seq":2}')]


def test_archiving_a_room_in_the_admin_announces_it(moderator: Client, sent: list[tuple[str, str]]) -> None:
    den = Room.objects.create(slug="den", name="Den")
    response = moderator.post(
        f"/admin/chat/room/{den.pk}/change/", {"slug": "den", "name": "Den", "topic": "", "archived": "on"}
    )
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
