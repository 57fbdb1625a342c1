"""Writes. Plain sync functions; consumers call them through chat.db.run."""

from __future__ import annotations

import contextlib

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat import broadcast
from chat.identity import Identity
from chat.models import Message, NameClaim, Room
from chat.names import name_skeleton_digests


class RoomReadOnly(Exception):
    """The room is archived (or gone) and takes no new messages."""


def message_create(*, room_id: int, author: Identity, body: str, client_id: str | None) -> tuple[Message, bool]:
    """Store a message with the room's next seq; return it and whether it is new.

    A re-send (same room, author and client_id) returns the stored message instead of a copy: the
    database's unique constraint refuses the copy, and the whole attempt (seq included) rolls back.
    """
    message = Message(
        room_id=room_id,
        author_user_id=author.user_id,
        author_key=author.key,
        author_name=author.name,
        author_guest=author.guest,
        body=body,
        client_id=client_id,
        sent_at=timezone.now(),
    )
    try:
        stored = _insert_with_next_seq(message)
    except IntegrityError:
        if client_id is None:
            raise
        existing = _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        if existing is None:
            raise
        return existing, False
    if not stored:
        raise RoomReadOnly
    return message, True


def _insert_with_next_seq(message: Message) -> bool:
    """Bump the room's counter and insert `message` with it; False if the room is archived or gone.

    The UPDATE locks the room's row until commit, so seqs are handed out one at a time and commits
    land in seq order: the stored messages of a room are always a prefix 1..N. On PostgreSQL both
    happen in one statement, one round trip: no BEGIN/COMMIT around it, as a statement is its own
    transaction (a savepoint inside an outer one). Elsewhere, UPDATE ... RETURNING (SQLite >= 3.35)
    and the INSERT in one transaction.
    """
    room_table = connection.ops.quote_name(Room._meta.db_table)
    bump = f"UPDATE {room_table} SET last_seq = last_seq + 1 WHERE id = %s AND archived = %s RETURNING last_seq"
    if connection.vendor != "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(bump, [message.room_id, False])
            row = cursor.fetchone()
            if row is None:
                return False
            message.seq = int(row[0])
            message.save(force_insert=True)
            return True

    fields = [f for f in Message._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    # The seq comes from the UPDATE; every other column is a parameter, typed by the INSERT's
    # columns (checked with psycopg's client-side binding, Django's default, and server-side).
    values = ", ".join("bumped.last_seq" if f.attname == "seq" else "%s" for f in fields)
    params = [f.get_db_prep_save(getattr(message, f.attname), connection) for f in fields if f.attname != "seq"]
    sql = (
        f"WITH bumped AS ({bump}) "
        f"INSERT INTO {connection.ops.quote_name(Message._meta.db_table)} ({columns}) "
        f"SELECT {values} FROM bumped RETURNING id, seq"
    )
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(sql, [message.room_id, False, *params])
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk, message.seq = row
    message._state.adding, message._state.db = False, connection.alias
    return True


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


def room_delete(*, rooms: QuerySet[Room]) -> None:
    """Delete rooms (and their messages); their open connections close with 4404 on every worker."""
    slugs = list(rooms.values_list("slug", flat=True))

    def announce() -> None:
        for slug in slugs:
            broadcast.room_deleted(room_slug=slug)

    with transaction.atomic():
        rooms.delete()
        # robust: a Redis outage must not turn a finished deletion into an error page; the
        # connections left open then get "no such room" at their next reconnect.
        transaction.on_commit(announce, robust=True)


def room_save(*, room: Room) -> None:
    """Create or change a room; open pages learn of the change (e.g. archiving) at once."""
    created = room.pk is None
    with transaction.atomic():
        room.save()
        if not created:
            transaction.on_commit(lambda: broadcast.room_changed(room), robust=True)


def name_claim_sync(*, user: AbstractBaseUser) -> None:
    """Record the skeletons of a registered user's name, so that no guest can take a look-alike of it."""
    skeleton, as_drawn = name_skeleton_digests(user.get_username())
    NameClaim.objects.update_or_create(user_id=user.pk, defaults={"skeleton": skeleton, "skeleton_as_drawn": as_drawn})
