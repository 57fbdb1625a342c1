"""Who may do what in a room: read once per join and per send, from the database every worker shares.

Plain sync functions (reads); consumers call them through chat.db.run, views directly. The writes
that change rights (sanctions, memberships, slow mode) are in chat.services.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.identity import Identity
from chat.models import Room, Sanction


class Refused(Exception):
    """An action is not allowed; `code` is the error code the client sees (docs/protocol.md)."""

    def __init__(self, code: str, detail: str, *, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


class RoomReadOnly(Refused):
    """The room is archived (or gone) and takes no new messages."""

    def __init__(self) -> None:
        super().__init__("read_only", "This room is archived: it can be read but takes no new messages.")


@dataclass(frozen=True, slots=True)
class Rights:
    """One person's standing in one room, as read at one moment."""

    room: Room  # the room's row as read with the rights (archived, slow mode, kind)
    member: bool  # listed among the room's members
    moderator: bool  # a moderator of the room, or staff
    banned: bool
    muted: bool
    muted_until: datetime | None  # None with `muted`: until lifted

    def join_refusal(self, who: Identity) -> str | None:
        """Why `who` may not be in the room, or None: "members", "guests" or "banned"."""
        if self.room.kind == Room.Kind.MEMBERS and not (self.member or self.moderator):
            return "members"
        if who.guest and not self.room.guests_allowed and not self.moderator:
            return "guests"
        if self.banned and not self.moderator:
            return "banned"
        return None


def _active(now: datetime) -> Q:
    return Q(expires_at__isnull=True) | Q(expires_at__gt=now)


def rights_get(*, room_id: int | None = None, slug: str | None = None, who: Identity) -> Rights | None:
    """`who`'s rights in the room (by id or by slug); None if there is no such room.

    One query: the room's row with the person's active sanctions and roles beside it. Re-read on
    every write, so that a mute or a ban set on any worker holds from the next frame on. It is
    written in SQL because it is on every send's path: built from the ORM's Exists and Subquery
    expressions it cost about 3 ms of CPU per call, through Room.objects.raw about 0.25 ms, and
    read with a plain cursor (the room built as RawQuerySet builds it) about 0.15 ms
    (docs/performance.md, "The CPU of a post").
    """
    sql, params = rights_statement(room_id=room_id, slug=slug, who=who)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return rights_from_rows(rows, who)


def rights_statement(*, room_id: int | None = None, slug: str | None = None, who: Identity) -> tuple[str, list[Any]]:
    """rights_get's SQL and parameters, for a caller with its own connection (chat.asyncdb)."""
    by, value = ("id", room_id) if room_id is not None else ("slug", slug)
    db = connections[DEFAULT_DB_ALIAS]  # once: each use of the `connection` proxy is a context-local lookup
    now = db.ops.adapt_datetimefield_value(timezone.now())
    return _rights_sql(db.vendor, by), [who.user_id, who.user_id, who.key, now, value]


def rights_from_rows(rows: list[tuple[Any, ...]], who: Identity) -> Rights | None:
    """The Rights that rights_statement's rows say; None if there were none (no such room)."""
    if not rows:
        return None
    # The room's columns first, in Room's field order, then one sanction per row and the two roles.
    count = len(_ROOM_FIELDS)
    room = Room.from_db(connection.alias, _ROOM_ATTNAMES, _converted(rows[0][:count]))
    kind, until, is_member, is_moderator = range(count, RIGHTS_COLUMNS)
    sanctions = tuple((row[kind], _aware(row[until])) for row in rows if row[kind])
    user, first = who.user_id, rows[0]
    rules = RoomRules(
        room=room,
        members=frozenset([user]) if user is not None and first[is_member] else frozenset(),
        moderators=frozenset([user]) if user is not None and first[is_moderator] else frozenset(),
        sanctions={who.key: sanctions},
    )
    return rules.rights(who)


_ROOM_FIELDS = tuple(Room._meta.concrete_fields)
# How many columns rights_statement's rows have: the room's, the sanction's kind and end, is_member
# and is_moderator.
RIGHTS_COLUMNS = len(_ROOM_FIELDS) + 4
_ROOM_ATTNAMES = [f.attname for f in _ROOM_FIELDS]


def _converted(values: tuple[Any, ...]) -> list[Any]:
    """A room row as the ORM would load it (e.g. SQLite's 0/1 as booleans), as RawQuerySet does."""
    db = connections[connection.alias]
    converters = _room_converters.get(db)
    if converters is None:
        compiler = db.ops.compiler("SQLCompiler")(Room.objects.none().query, db, db.alias)
        found = compiler.get_converters([f.get_col(Room._meta.db_table) for f in _ROOM_FIELDS])
        converters = _room_converters[db] = [(i, fns, col) for i, (fns, col) in found.items()]
    row = list(values)
    for i, fns, col in converters:
        for convert in fns:
            row[i] = convert(row[i], col, db)
    return row


# Per connection object (one per thread): converters are the connection's bound methods.
_room_converters: weakref.WeakKeyDictionary[Any, list[tuple[int, list[Any], Any]]] = weakref.WeakKeyDictionary()


@functools.cache
def _rights_sql(vendor: str, by: str) -> str:
    """rights_get's query, for one database vendor (quoting), by the room's "id" or its "slug".

    Params: the user's id twice (NULL for a guest: no role), the person's key, now, the room's id or slug.
    """
    q = connection.ops.quote_name

    def has_role(through: Any) -> str:  # an auto-created many-to-many table
        table, room, user = through._meta.db_table, through._meta.get_field("room"), through._meta.get_field("user")
        return f"EXISTS (SELECT 1 FROM {q(table)} x WHERE x.{q(room.column)} = r.id AND x.{q(user.column)} = %s)"

    sanction = q(Sanction._meta.db_table)
    return (
        f"SELECT {', '.join(f'r.{q(f.column)}' for f in _ROOM_FIELDS)}, "
        f"s.kind AS sanction_kind, s.expires_at AS sanction_until, "
        f"{has_role(Room.members.through)} AS is_member, {has_role(Room.moderators.through)} AS is_moderator "
        f"FROM {q(Room._meta.db_table)} r LEFT JOIN {sanction} s ON s.room_id = r.id AND s.person_key = %s "
        f"AND (s.expires_at IS NULL OR s.expires_at > %s) WHERE r.{q(by)} = %s"
    )


def _aware(value: datetime | None) -> datetime | None:
    """A datetime read by raw SQL as the ORM would give it: aware, in UTC (SQLite's come back naive)."""
    if value is None or timezone.is_aware(value):
        return value
    return value.replace(tzinfo=UTC)


# A person's active sanctions in a room: (kind, expires_at), expires_at None until lifted.
Sanctions = tuple[tuple[str, datetime | None], ...]


@dataclass(frozen=True, slots=True)
class RoomRules:
    """Everything that decides anyone's rights in one room, read at one moment (chat.snapshots).

    rights() answers what rights_get would have answered when these were read, for anyone, without
    a query: a worker lets people into a room that is live on it from this.
    """

    room: Room
    members: frozenset[int]  # user ids
    moderators: frozenset[int]
    sanctions: Mapping[str, Sanctions]  # person key -> their sanctions that were active when read

    def rights(self, who: Identity) -> Rights:
        now = timezone.now()
        active = [(kind, until) for kind, until in self.sanctions.get(who.key, ()) if until is None or until > now]
        mutes = [until for kind, until in active if kind == Sanction.Kind.MUTE]
        timed = [until for until in mutes if until is not None]
        user = who.user_id
        return Rights(
            room=self.room,
            member=user is not None and user in self.members,
            moderator=who.staff or (user is not None and user in self.moderators),
            banned=any(kind == Sanction.Kind.BAN for kind, _ in active),
            muted=bool(mutes),
            muted_until=None if len(timed) < len(mutes) or not timed else max(timed),
        )


def room_rules_get(*, slug: str) -> RoomRules | None:
    """The room's rules (None if there is no such room): its row, members, moderators and active sanctions."""
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        return None
    sanctions: dict[str, Sanctions] = {}
    rows = Sanction.objects.filter(_active(timezone.now()), room_id=room.pk)
    for key, kind, until in rows.values_list("person_key", "kind", "expires_at"):
        sanctions[key] = (*sanctions.get(key, ()), (kind, until))
    through_members, through_moderators = Room.members.through.objects, Room.moderators.through.objects
    return RoomRules(
        room=room,
        members=frozenset(through_members.filter(room_id=room.pk).values_list("user_id", flat=True)),
        moderators=frozenset(through_moderators.filter(room_id=room.pk).values_list("user_id", flat=True)),
        sanctions=sanctions,
    )


def check_can_write(rights: Rights) -> None:
    """Raise Refused unless the person may change the room's content (post, edit, delete their own)."""
    if rights.room.archived:
        raise RoomReadOnly
    if rights.banned and not rights.moderator:
        raise Refused("forbidden", "You are banned from this room.")
    if rights.muted and not rights.moderator:
        until = rights.muted_until
        retry = None if until is None else max(0.0, (until - timezone.now()).total_seconds())
        detail = "You are muted in this room." + ("" if until is None else f" Until {until:%Y-%m-%d %H:%M} UTC.")
        raise Refused("muted", detail, retry_after=retry)


def check_moderator(rights: Rights) -> None:
    if not rights.moderator:
        raise Refused("forbidden", "Only the room's moderators can do that.")


def room_list_visible(*, who: Identity) -> QuerySet[Room]:
    """The rooms `who` may see listed: public ones, and members-only ones they belong to (all, for staff)."""
    rooms = Room.objects.all()
    if who.staff:
        return rooms
    if who.user_id is None:
        return rooms.filter(kind=Room.Kind.PUBLIC)
    mine = Q(members__id=who.user_id) | Q(moderators__id=who.user_id)
    return rooms.filter(Q(kind=Room.Kind.PUBLIC) | Q(pk__in=Room.objects.filter(mine).values("pk")))
