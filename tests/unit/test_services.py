from __future__ import annotations

import pytest
from django.forms.models import model_to_dict

from chat import selectors, services
from chat.identity import Identity
from chat.models import Message, Room

pytestmark = pytest.mark.django_db

ALICE = Identity(key="g:alice", name="alice", guest=True)
BOB = Identity(key="g:bob", name="bob", guest=True)


@pytest.fixture
def room() -> Room:
    return Room.objects.create(slug="den", name="Den")


def post(room: Room, body: str, author: Identity = ALICE, client_id: str | None = None) -> tuple[Message, bool]:
    return services.message_create(room_id=room.pk, author=author, body=body, client_id=client_id)


def test_seq_counts_from_one_within_each_room(room: Room) -> None:
    other = Room.objects.create(slug="attic", name="Attic")
    assert [post(room, f"m{i}")[0].seq for i in range(3)] == [1, 2, 3]
    assert post(other, "first")[0].seq == 1
    room.refresh_from_db()
    assert room.last_seq == 3


def assert_returned_as_stored(message: Message) -> None:
    stored = Message.objects.get(pk=message.pk)
    assert model_to_dict(message) == model_to_dict(stored)
    assert message.sent_at == stored.sent_at and message.sent_at is not None


def test_the_returned_message_is_the_stored_row(room: Room) -> None:
    assert_returned_as_stored(post(room, "inside a transaction (a savepoint)", client_id="c1")[0])


@pytest.mark.django_db(transaction=True)
def test_the_returned_message_is_the_stored_row_in_autocommit() -> None:
    room = Room.objects.create(slug="hall", name="Hall")
    assert_returned_as_stored(post(room, "its own transaction", author=BOB)[0])
    assert_returned_as_stored(post(room, "with an id", client_id="c1")[0])
    again, created = post(room, "with an id", client_id="c1")
    assert not created and again.seq == 2
    room.refresh_from_db()
    assert room.last_seq == 2


def test_seq_is_never_reused_after_a_delete(room: Room) -> None:
    post(room, "a")
    second, _ = post(room, "b")
    Message.objects.filter(pk=second.pk).delete()
    assert post(room, "c")[0].seq == 3


def test_archived_room_refuses_messages_and_stores_nothing(room: Room) -> None:
    Room.objects.filter(pk=room.pk).update(archived=True)
    with pytest.raises(services.RoomReadOnly):
        post(room, "hello?")
    assert Message.objects.count() == 0
    room.refresh_from_db()
    assert room.last_seq == 0


def test_resend_with_same_client_id_is_stored_once(room: Room) -> None:
    first, created = post(room, "once", client_id="c1")
    again, created_again = post(room, "once", client_id="c1")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.seq == 1
    assert Message.objects.count() == 1
    room.refresh_from_db()
    assert room.last_seq == 1


def test_same_client_id_from_another_author_is_another_message(room: Room) -> None:
    post(room, "mine", client_id="c1")
    theirs, created = post(room, "theirs", author=BOB, client_id="c1")
    assert created and theirs.seq == 2


def test_database_refuses_a_duplicate_client_id(room: Room) -> None:
    from django.db import IntegrityError, transaction

    post(room, "once", client_id="c1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(room=room, seq=99, author_key=ALICE.key, author_name="alice", body="x", client_id="c1")


def test_message_page_newest_first_page_then_older(room: Room) -> None:
    for i in range(1, 8):
        post(room, f"m{i}")
    newest = selectors.message_page(room_id=room.pk, limit=3)
    assert [m.seq for m in newest.messages] == [5, 6, 7] and newest.has_more
    older = selectors.message_page(room_id=room.pk, before=5, limit=3)
    assert [m.seq for m in older.messages] == [2, 3, 4] and older.has_more
    oldest = selectors.message_page(room_id=room.pk, before=2, limit=3)
    assert [m.seq for m in oldest.messages] == [1] and not oldest.has_more


def test_message_page_after_is_oldest_first_and_bounded(room: Room) -> None:
    for i in range(1, 8):
        post(room, f"m{i}")
    page = selectors.message_page(room_id=room.pk, after=2, limit=3)
    assert [m.seq for m in page.messages] == [3, 4, 5] and page.has_more
    gap = selectors.message_page(room_id=room.pk, after=3, before=6, limit=50)
    assert [m.seq for m in gap.messages] == [4, 5] and not gap.has_more


@pytest.mark.django_db(transaction=True)
def test_concurrent_resends_with_one_client_id_store_one_message() -> None:
    """Database-enforced: racing re-sends (e.g. two tabs' outboxes, two workers) store once."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection, connections

    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database serializes every writer; the race needs PostgreSQL")
    room = Room.objects.create(slug="race", name="Race")

    def resend(_: int) -> tuple[int, bool]:
        try:
            message, created = post(room, "same", client_id="c-race")
            return message.seq, created
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(resend, range(8)))
    assert {seq for seq, _ in results} == {1}
    assert sum(created for _, created in results) == 1
    assert Message.objects.filter(room=room).count() == 1
    room.refresh_from_db()
    assert room.last_seq == 1


def test_saving_a_room_read_before_a_message_was_stored_keeps_the_rooms_counters(room: Room) -> None:
    # The admin's form holds the row it read; a message stored meanwhile must keep its seq.
    stale = Room.objects.get(pk=room.pk)
    post(room, "one")
    stale.topic = "changed in the admin"
    services.room_save(room=stale)
    fresh = Room.objects.get(pk=room.pk)
    assert (fresh.topic, fresh.last_seq) == ("changed in the admin", 1)
    assert post(room, "two")[0].seq == 2
