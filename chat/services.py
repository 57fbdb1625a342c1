"""Writes. Plain sync functions; consumers call them through chat.db.run."""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet

from chat import broadcast
from chat.identity import Identity
from chat.models import Message, Room


class RoomReadOnly(Exception):
    """The room is archived (or gone) and takes no new messages."""


def message_create(*, room_id: int, author: Identity, body: str, client_id: str | None) -> tuple[Message, bool]:
    """Store a message with the room's next seq; return it and whether it is new.

    A re-send (same room, author and client_id) returns the stored message instead of a copy: the
    database's unique constraint refuses the copy, and the whole attempt (seq included) rolls back.
    """
    try:
        with transaction.atomic():
            seq = _next_seq(room_id)
            if seq is None:
                raise RoomReadOnly
            message = Message.objects.create(
                room_id=room_id,
                seq=seq,
                author_user_id=author.user_id,
                author_key=author.key,
                author_name=author.name,
                author_guest=author.guest,
                body=body,
                client_id=client_id,
            )
            return message, True
    except IntegrityError:
        if client_id is None:
            raise
        existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing, False


def _next_seq(room_id: int) -> int | None:
    """Bump the room's counter and return it; None if the room is archived or gone.

    One round trip (UPDATE ... RETURNING, PostgreSQL and SQLite >= 3.35). The UPDATE also locks the
    room's row until commit, so seqs are handed out one at a time and commits land in seq order: the
    stored messages of a room are always a prefix 1..N.
    """
    table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_seq = last_seq + 1 WHERE id = %s AND archived = %s RETURNING last_seq",
            [room_id, False],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def _message_by_client_id(*, room_id: int, author: Identity, client_id: str) -> Message | None:
    return Message.objects.filter(room_id=room_id, author_key=author.key, client_id=client_id).order_by().first()


def message_delete(*, messages: QuerySet[Message]) -> None:
    """Delete messages and remove them from every open page of their rooms."""
    doomed = list(messages.values_list("room__slug", "seq"))

    def announce() -> None:
        for slug, seq in doomed:
            broadcast.message_deleted(room_slug=slug, seq=seq)

    with transaction.atomic():
        messages.delete()
        # robust: a Redis outage must not turn a finished deletion into an error page.
        transaction.on_commit(announce, robust=True)


def room_save(*, room: Room) -> None:
    """Create or change a room; open pages learn of the change (e.g. archiving) at once."""
    created = room.pk is None
    with transaction.atomic():
        room.save()
        if not created:
            transaction.on_commit(lambda: broadcast.room_changed(room), robust=True)
