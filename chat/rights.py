"""Who may do what in a room: read once per join and per send, from the database every worker shares.

Plain sync functions (reads); consumers call them through chat.db.run, views directly. The writes
that change rights (sanctions, memberships, slow mode) are in chat.services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
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

    One query: the room's row with the person's roles and sanctions beside it. Re-read on every
    write, so that a mute or a ban set on any worker holds from the next frame on.
    """
    now = timezone.now()
    theirs = Sanction.objects.filter(_active(now), room_id=OuterRef("pk"), person_key=who.key)
    mutes = theirs.filter(kind=Sanction.Kind.MUTE)
    rooms = Room.objects.annotate(
        is_banned=Exists(theirs.filter(kind=Sanction.Kind.BAN)),
        is_muted=Exists(mutes),
        muted_for_good=Exists(mutes.filter(expires_at__isnull=True)),
        muted_until=Subquery(mutes.filter(expires_at__isnull=False).order_by("-expires_at").values("expires_at")[:1]),
    )
    if who.user_id is not None:
        rooms = rooms.annotate(
            is_member=Exists(Room.members.through.objects.filter(room_id=OuterRef("pk"), user_id=who.user_id)),
            is_moderator=Exists(Room.moderators.through.objects.filter(room_id=OuterRef("pk"), user_id=who.user_id)),
        )
    fresh = (rooms.filter(pk=room_id) if room_id is not None else rooms.filter(slug=slug)).first()
    if fresh is None:
        return None
    extra = fresh.__dict__
    return Rights(
        room=fresh,
        member=bool(extra.get("is_member", False)),
        moderator=who.staff or bool(extra.get("is_moderator", False)),
        banned=bool(extra["is_banned"]),
        muted=bool(extra["is_muted"]),
        muted_until=None if extra["muted_for_good"] else extra["muted_until"],
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
