"""A room's rules read once (RoomRules, for snapshots) answer exactly what rights_get answers per person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from chat import rights as rights_module
from chat.identity import Identity
from chat.models import Room, Sanction
from chat.rights import RoomRules, rights_get, room_rules_get

pytestmark = pytest.mark.django_db

# Expiries in minutes from now (negative: expired), None for "until lifted"; made dates at test time.
SOON, LATER, AGO = 10, 20, -1


@dataclass(frozen=True)
class Case:
    """Sanctions of one person, (kind, expires in minutes), and what they add up to."""

    sanctions: tuple[tuple[str, int | None], ...]
    banned: bool = False
    muted: bool = False
    muted_until: int | None = None


BAN, MUTE = Sanction.Kind.BAN, Sanction.Kind.MUTE
CASES = {
    "none": Case(()),
    "ban forever": Case(((BAN, None),), banned=True),
    "ban expired": Case(((BAN, AGO),)),
    "timed ban": Case(((BAN, SOON),), banned=True),
    "mute forever": Case(((MUTE, None),), muted=True),
    "timed mutes": Case(((MUTE, SOON), (MUTE, LATER)), muted=True, muted_until=LATER),
    "timed mutes, later first": Case(((MUTE, LATER), (MUTE, SOON)), muted=True, muted_until=LATER),
    "mute expired": Case(((MUTE, AGO),)),
    "mute expired and timed mute": Case(((MUTE, AGO), (MUTE, SOON)), muted=True, muted_until=SOON),
    "mute forever and timed mute": Case(((MUTE, SOON), (MUTE, None)), muted=True),
    "ban and timed mute": Case(((BAN, None), (MUTE, SOON)), banned=True, muted=True, muted_until=SOON),
}
WHO = ["guest", "user", "member", "moderator", "staff"]


def person(role: str) -> Identity:
    """An identity in the role, with the rows the role needs (in the room called "den")."""
    if role == "guest":
        return Identity(key="g:3f2a", name="gus", guest=True)
    user: Any = get_user_model().objects.create(username=role, is_staff=role == "staff")
    room = Room.objects.get(slug="den")
    if role == "member":
        room.members.add(user)
    elif role == "moderator":
        room.moderators.add(user)
    return Identity(key=f"u:{user.pk}", name=role, guest=False, user_id=user.pk, staff=role == "staff")


def minutes_from(now: datetime, minutes: int | None) -> datetime | None:
    return None if minutes is None else now + timedelta(minutes=minutes)


def rules_of(slug: str) -> RoomRules:
    rules = room_rules_get(slug=slug)
    assert rules is not None
    return rules


@pytest.mark.parametrize("kind", [Room.Kind.PUBLIC, Room.Kind.MEMBERS])
@pytest.mark.parametrize("role", WHO)
@pytest.mark.parametrize("case", CASES.values(), ids=list(CASES))
def test_room_rules_give_everyone_the_rights_rights_get_gives(kind: str, role: str, case: Case) -> None:
    now = timezone.now()
    room = Room.objects.create(slug="den", name="Den", kind=kind)
    who = person(role)
    for sanction_kind, minutes in case.sanctions:
        expires_at = minutes_from(now, minutes)
        Sanction.objects.create(room=room, kind=sanction_kind, person_key=who.key, expires_at=expires_at)
    # Someone else's sanctions, and the same person's in another room, are not theirs here.
    other = Room.objects.create(slug="attic", name="Attic")
    Sanction.objects.create(room=room, kind=BAN, person_key="g:someone-else")
    Sanction.objects.create(room=other, kind=MUTE, person_key=who.key)

    expected = rights_get(slug="den", who=who)
    got = rules_of("den").rights(who)
    assert got == expected
    assert expected is not None
    assert (got.banned, got.muted, got.muted_until) == (case.banned, case.muted, minutes_from(now, case.muted_until))
    assert got.member is (role == "member")
    assert got.moderator is (role in ("moderator", "staff"))
    assert got.join_refusal(who) == expected.join_refusal(who)


@pytest.mark.parametrize("role", WHO)
def test_room_rules_agree_on_a_room_closed_to_guests(role: str) -> None:
    Room.objects.create(slug="den", name="Den", guests_allowed=False)
    who = person(role)
    got, expected = rules_of("den").rights(who), rights_get(slug="den", who=who)
    assert got == expected
    assert expected is not None
    assert got.join_refusal(who) == expected.join_refusal(who) == ("guests" if role == "guest" else None)


def test_room_rules_let_a_sanction_expire_after_they_were_read(monkeypatch: pytest.MonkeyPatch) -> None:
    now = timezone.now()
    soon, later = now + timedelta(minutes=SOON), now + timedelta(minutes=LATER)
    room = Room.objects.create(slug="den", name="Den")
    who = person("user")
    Sanction.objects.create(room=room, kind=BAN, person_key=who.key, expires_at=soon)
    Sanction.objects.create(room=room, kind=MUTE, person_key=who.key, expires_at=soon)
    Sanction.objects.create(room=room, kind=MUTE, person_key=who.key, expires_at=later)
    rules = rules_of("den")
    assert (rules.rights(who).banned, rules.rights(who).muted_until) == (True, later)

    monkeypatch.setattr(rights_module.timezone, "now", lambda: soon + timedelta(seconds=1))
    got = rules.rights(who)
    assert got == rights_get(slug="den", who=who)
    assert (got.banned, got.muted, got.muted_until) == (False, True, later)


def test_there_are_no_rules_of_a_room_that_does_not_exist() -> None:
    assert room_rules_get(slug="nowhere") is None
    assert rights_get(slug="nowhere", who=Identity(key="g:x", name="x", guest=True)) is None


def test_rights_get_loads_the_room_as_the_orm_does() -> None:
    # rights_get reads the room's columns with plain SQL: its Room must be the ORM's, value for
    # value and type for type (SQLite gives 0/1 for booleans and text for datetimes).
    room = Room.objects.create(slug="loaded", name="Loaded", topic="t", archived=True, slow_mode_seconds=5)
    found = rights_get(room_id=room.pk, who=Identity(key="g:x", name="x", guest=True))
    assert found is not None
    stored = Room.objects.get(pk=room.pk)
    for field in Room._meta.concrete_fields:
        ours, theirs = getattr(found.room, field.attname), getattr(stored, field.attname)
        assert (ours, type(ours)) == (theirs, type(theirs)), field.name
    assert found.room._state.db == stored._state.db and not found.room._state.adding
