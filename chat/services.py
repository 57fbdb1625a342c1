"""Writes. Plain sync functions; consumers call them through chat.db.run."""

from __future__ import annotations

import contextlib
import functools
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone

from chat import broadcast
from chat.identity import Identity
from chat.models import Message, NameClaim, Room, Sanction
from chat.names import name_skeleton_digests
from chat.rights import (
    RIGHTS_COLUMNS,
    Refused,
    Rights,
    RoomReadOnly,
    check_can_write,
    check_moderator,
    rights_get,
    rights_statement,
)


def _rights(room_id: int, who: Identity) -> Rights:
    rights = rights_get(room_id=room_id, who=who)
    if rights is None:
        raise RoomReadOnly  # deleted meanwhile: its sockets are being closed with 4404
    return rights


def message_create(*, room_id: int, author: Identity, body: str, client_id: str | None) -> tuple[Message, bool]:
    """Store a message with the room's next seq; return it and whether it is new.

    The author's rights are read first, in the same trip (chat.rights): archived, banned, muted
    and slow mode refuse with Refused. A re-send (same room, author and client_id) returns the
    stored message instead of a copy: the database's unique constraint refuses the copy, and the
    whole attempt (seq included) rolls back.
    """
    rights = _rights(room_id, author)
    check_can_write(rights)
    wait = 0.0 if rights.moderator else _slow_mode_wait(rights.room, author)
    if wait:
        # A re-send of a message stored moments ago is its ack again, not a second message.
        existing = (
            None if client_id is None else _message_by_client_id(room_id=room_id, author=author, client_id=client_id)
        )
        if existing is not None:
            return existing, False
        seconds = rights.room.slow_mode_seconds
        raise Refused("slow_mode", f"Slow mode: one message per {seconds} seconds.", retry_after=wait)
    message = new_message(room_id=room_id, author=author, body=body, client_id=client_id)
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
        raise RoomReadOnly  # archived after the rights were read
    return message, True


def new_message(*, room_id: int, author: Identity, body: str, client_id: str | None) -> Message:
    """The message `author` posts, not stored yet: no id, no seq."""
    return Message(
        room_id=room_id,
        author_user_id=author.user_id,
        author_key=author.key,
        author_name=author.name,
        author_guest=author.guest,
        body=body,
        client_id=client_id,
        sent_at=timezone.now(),
    )


def _insert_with_next_seq(message: Message) -> bool:
    """Bump the room's counter and insert `message` with it; False if the room is archived or gone.

    The UPDATE locks the room's row until commit, so seqs are handed out one at a time and commits
    land in seq order: the stored messages of a room are always a prefix 1..N. On PostgreSQL both
    happen in one statement, one round trip: no BEGIN/COMMIT around it, as a statement is its own
    transaction (a savepoint inside an outer one). Elsewhere, UPDATE ... RETURNING (SQLite >= 3.35)
    and the INSERT in one transaction.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_bump_sql(), [message.room_id, False])
            row = cursor.fetchone()
            if row is None:
                return False
            message.seq = int(row[0])
            message.save(force_insert=True)
            return True

    sql, params = _insert_statement(message)
    savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with savepoint, connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return mark_stored(message, row)


def _insert_statement(message: Message) -> tuple[str, list[Any]]:
    """PostgreSQL's one statement that bumps the room's seq and inserts `message` with it.

    It returns one row, (id, seq), or none if the room is archived or gone.
    """
    return _insert_sql(), [message.room_id, False, *_insert_params(message)]


def post_statement(message: Message, author: Identity) -> tuple[str, list[Any]]:
    """PostgreSQL's one statement for a post: the author's rights read, checked, and the insert if they allow it.

    A stored message gives one row: NULLs where rights_statement's columns would be, then the
    message's (id, seq). Otherwise its rows are rights_statement's (chat.rights.rights_from_rows
    reads them) and two NULLs: the rights refuse, the room is in slow mode for this author, or it is
    archived or gone (no rows). So a post that is stored loads no rights at all. Run in autocommit
    (chat.asyncdb), it is one transaction: the insert sees the rights it was checked against.
    """
    rights_sql, rights_params = rights_statement(room_id=message.room_id, who=author)
    params = [*rights_params, author.staff, message.room_id, False, *_insert_params(message)]
    return _post_sql(rights_sql), params


def _insert_params(message: Message) -> list[Any]:
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a context-local lookup
    return [f.get_db_prep_save(getattr(message, f.attname), db) for f in _INSERTED]


def mark_stored(message: Message, row: tuple[Any, ...] | None) -> bool:
    """Give `message` the (id, seq) its insert returned; False if it returned none (nothing inserted)."""
    if row is None:
        return False
    message.pk, message.seq = row
    message._state.adding, message._state.db = False, connection.alias
    return True


# Every column of a message but its id and its seq, which the bump gives (PostgreSQL's insert).
_INSERTED = tuple(f for f in Message._meta.concrete_fields if not f.primary_key and f.attname != "seq")


@functools.cache
def _bump_sql(condition: str = "") -> str:
    # Params: the room's id, False (not archived).
    room_table = connection.ops.quote_name(Room._meta.db_table)
    return (
        f"UPDATE {room_table} SET last_seq = last_seq + 1 WHERE id = %s AND archived = %s{condition} RETURNING last_seq"
    )


@functools.cache
def _insert_from_bumped_sql() -> str:
    # The seq comes from the UPDATE, the CTE "bumped"; every other column is a parameter, typed by
    # the INSERT's columns (checked with psycopg's client-side binding, Django's default, and server-side).
    q = connection.ops.quote_name
    columns = ", ".join(q(f.column) for f in (*_INSERTED, Message._meta.get_field("seq")))
    values = ", ".join(["%s"] * len(_INSERTED) + ["bumped.last_seq"])
    return f"INSERT INTO {q(Message._meta.db_table)} ({columns}) SELECT {values} FROM bumped RETURNING id, seq"


@functools.cache
def _insert_sql() -> str:
    return f"WITH bumped AS ({_bump_sql()}) {_insert_from_bumped_sql()}"


@functools.cache
def _post_sql(rights_sql: str) -> str:
    # check_can_write and the slow mode's exemption, in SQL: nobody posts to an archived room; in any
    # other, a moderator (staff, the %s, or one of the room's) always may, anyone else unless the room
    # is in slow mode or they have an active sanction (a mute or a ban). Data-modifying CTEs must be
    # at the top level, so the insert is not _insert_sql's.
    q = connection.ops.quote_name
    columns = {f.name: q(f.column) for f in Room._meta.concrete_fields}
    archived, slow = columns["archived"], columns["slow_mode_seconds"]
    allowed = (
        f"SELECT 1 FROM rights WHERE NOT rights.{archived} AND (%s OR rights.is_moderator OR "
        f"(rights.{slow} = 0 AND NOT EXISTS (SELECT 1 FROM rights x WHERE x.sanction_kind IS NOT NULL))) LIMIT 1"
    )
    bump = _bump_sql(" AND EXISTS (SELECT 1 FROM allowed)")
    # A data-modifying CTE runs once however often it is named. The NULLs take the rights' types.
    nulls = ", ".join(["NULL"] * RIGHTS_COLUMNS)
    return (
        f"WITH rights AS ({rights_sql}), allowed AS ({allowed}), bumped AS ({bump}), "
        f"inserted AS ({_insert_from_bumped_sql()}) "
        f"SELECT {nulls}, inserted.id, inserted.seq FROM inserted UNION ALL "
        "SELECT rights.*, NULL, NULL FROM rights WHERE NOT EXISTS (SELECT 1 FROM inserted)"
    )


def _slow_mode_wait(room: Room, author: Identity) -> float:
    """Seconds until `author` may post again under the room's slow mode; 0 if now."""
    if not room.slow_mode_seconds:
        return 0.0
    last = (
        Message.objects.filter(room_id=room.pk, author_key=author.key)
        .order_by("-seq")
        .values_list("sent_at", flat=True)
        .first()
    )
    if last is None:
        return 0.0
    wait = (last + timedelta(seconds=room.slow_mode_seconds) - timezone.now()).total_seconds()
    return max(0.0, wait)


def _message_by_client_id(*, room_id: int, author: Identity, client_id: str) -> Message | None:
    return Message.objects.filter(room_id=room_id, author_key=author.key, client_id=client_id).order_by().first()


def _next_change(room_id: int) -> int:
    """Bump the room's change counter (under its row lock, as for seqs) and return the new value."""
    room_table = connection.ops.quote_name(Room._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {room_table} SET last_change = last_change + 1 WHERE id = %s RETURNING last_change", [room_id]
        )
        row = cursor.fetchone()
    if row is None:
        raise RoomReadOnly
    return int(row[0])


def _live_message(room_id: int, seq: int) -> Message:
    message = Message.objects.select_for_update().filter(room_id=room_id, seq=seq, deleted_at__isnull=True).first()
    if message is None:
        raise Refused("not_found", f"There is no message {seq} in this room.")
    return message


def _check_own_and_recent(message: Message, who: Identity, verb: str) -> None:
    if message.author_key != who.key:
        raise Refused("forbidden", f"You can only {verb} your own messages.")
    window = settings.CHAT_EDIT_WINDOW
    if timezone.now() - message.sent_at > timedelta(seconds=window):
        raise Refused("forbidden", f"Messages can be changed for {window // 60} minutes after they are sent.")


def message_edit(*, room_id: int, editor: Identity, seq: int, body: str) -> Message | None:
    """Replace the body of the editor's own message (within CHAT_EDIT_WINDOW); None if it already said that."""
    check_can_write(_rights(room_id, editor))
    with transaction.atomic():
        message = _live_message(room_id, seq)
        _check_own_and_recent(message, editor, "edit")
        if message.body == body:
            return None
        message.body, message.edited_at, message.change = body, timezone.now(), _next_change(room_id)
        message.save(update_fields=["body", "edited_at", "change"])
    return message


def message_remove(*, room_id: int, remover: Identity, seq: int) -> Message:
    """Delete a message from the page: the author's own within CHAT_EDIT_WINDOW, or any by a moderator."""
    rights = _rights(room_id, remover)
    with transaction.atomic():
        message = _live_message(room_id, seq)
        if not rights.moderator:
            check_can_write(rights)
            _check_own_and_recent(message, remover, "delete")
        _tombstone(message)
    return message


def _tombstone(message: Message) -> None:
    # The row stays, without its body, so that a resuming client learns of the deletion
    # (docs/protocol.md, "Edits and deletions").
    message.body, message.deleted_at, message.change = "", timezone.now(), _next_change(message.room_id)
    message.save(update_fields=["body", "deleted_at", "change"])


def message_delete(*, messages: QuerySet[Message]) -> None:
    """Delete messages (the admin's way) and remove them from every open page of their rooms."""
    with transaction.atomic():
        doomed = list(messages.filter(deleted_at__isnull=True).select_related("room").select_for_update(of=("self",)))
        for message in doomed:
            _tombstone(message)

        def announce() -> None:
            for message in doomed:
                broadcast.message_deleted_sync(message, room_slug=message.room.slug)

        # robust: a Redis outage must not turn a finished deletion into an error page.
        transaction.on_commit(announce, robust=True)


def sanction_create(*, room_id: int, by: Identity, seq: int, kind: str, minutes: int | None) -> Sanction:
    """A moderator mutes or bans the author of message `seq`, for `minutes` or until lifted."""
    rights = _rights(room_id, by)
    check_moderator(rights)
    message = Message.objects.filter(room_id=room_id, seq=seq).select_related("author_user").first()
    if message is None:
        raise Refused("not_found", f"There is no message {seq} in this room.")
    if message.author_key == by.key:
        raise Refused("forbidden", "You cannot mute or ban yourself.")
    author = message.author_user
    if author is not None and (
        author.is_staff or author.is_superuser or rights.room.moderators.filter(pk=author.pk).exists()
    ):
        raise Refused("forbidden", "Moderators and staff cannot be muted or banned from the room.")
    expires = None if minutes is None else timezone.now() + timedelta(minutes=minutes)
    sanction = Sanction(
        room=rights.room,
        kind=kind,
        person_key=message.author_key,
        person_name=message.author_name,
        user=author,
        expires_at=expires,
        created_by_id=by.user_id,
    )
    sanction_save(sanction=sanction)
    return sanction


def sanction_save(*, sanction: Sanction) -> None:
    """Record a mute or ban; a ban closes the person's open sockets in the room on every worker (4403)."""
    if not sanction.person_key and sanction.user is not None:
        sanction.person_key, sanction.person_name = f"u:{sanction.user.pk}", sanction.user.get_username()
    if not sanction.person_key:
        raise ValueError("a sanction needs a person: a user or an identity key")
    with transaction.atomic():
        sanction.save()
        sanction_announce(sanction=sanction)


def sanction_announce(*, sanction: Sanction) -> None:
    """After commit: a ban closes the person's sockets in the room (4403), a mute or a lifted sanction updates them."""
    slug, key = sanction.room.slug, sanction.person_key
    if sanction.kind == Sanction.Kind.BAN and sanction.pk is not None:
        transaction.on_commit(lambda: broadcast.person_closed(room_slug=slug, person_key=key), robust=True)
    else:
        transaction.on_commit(lambda: broadcast.room_recheck_sync(room_slug=slug, person_key=key), robust=True)


def sanction_lift(*, sanctions: QuerySet[Sanction]) -> None:
    """Lift mutes and bans (the admin deletes them); the people's open pages learn of it."""
    with transaction.atomic():
        lifted = list(sanctions.select_related("room"))
        sanctions.delete()
        for sanction in lifted:
            sanction.pk = None  # gone: announced as a change of rights, not as a ban
            sanction_announce(sanction=sanction)


def room_slow_mode_set(*, room_id: int, by: Identity, seconds: int) -> Room:
    """A moderator sets the room's slow mode (0: off); every open page learns of it."""
    rights = _rights(room_id, by)
    check_moderator(rights)
    room = rights.room
    room.slow_mode_seconds = seconds
    room_save(room=room)
    return room


def room_rights_changed(*, room: Room) -> None:
    """The room's kind, guests, members or moderators changed: its open sockets re-check who may stay."""
    slug = room.slug
    transaction.on_commit(lambda: broadcast.room_recheck_sync(room_slug=slug), robust=True)


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


# What the admin and the moderators change of a room: not its counters, which only storing a
# message, an edit or a deletion moves (a row read before one of those must not roll them back).
_ROOM_COUNTERS = frozenset({"last_seq", "last_change"})


def room_save(*, room: Room) -> None:
    """Create or change a room; open pages learn of the change (e.g. archiving) at once."""
    if room.pk is None:
        room.save()
        return
    fields = [f.name for f in Room._meta.concrete_fields if not f.primary_key and f.name not in _ROOM_COUNTERS]
    with transaction.atomic():
        old_slug = Room.objects.filter(pk=room.pk).values_list("slug", flat=True).first()
        room.save(update_fields=fields)
        transaction.on_commit(lambda: broadcast.room_changed(room), robust=True)
        if old_slug is not None and old_slug != room.slug:
            # Renamed: what workers hold under the old name is stale, and joins to it must be
            # told there is no such room (chat.snapshots drops it on the order).
            transaction.on_commit(lambda: broadcast.room_recheck_sync(room_slug=old_slug), robust=True)


def name_claim_sync(*, user: AbstractBaseUser) -> None:
    """Record the skeletons of a registered user's name, so that no guest can take a look-alike of it."""
    skeleton, as_drawn = name_skeleton_digests(user.get_username())
    NameClaim.objects.update_or_create(user_id=user.pk, defaults={"skeleton": skeleton, "skeleton_as_drawn": as_drawn})
