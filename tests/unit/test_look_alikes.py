"""A guest named like someone else present is shown with a suffix (chat.identity.distinct_name)."""

from __future__ import annotations

import pytest

from chat import identity as identity_module
from chat.identity import Identity, LookAlikes, distinct_name

BOB = Identity(key="g:bob-session", name="bob", guest=True)
BOB_ID = "3f2a9c0d1e2b"


def present(*people: tuple[str, str]) -> LookAlikes:
    return LookAlikes([{"id": pid, "name": name} for pid, name in people])


def test_a_guest_alone_with_their_own_tabs_keeps_the_name() -> None:
    assert distinct_name(BOB, present=present((BOB_ID, "bob"), ("a1", "alice")), who_id=BOB_ID) is BOB


@pytest.mark.parametrize("other", ["bob", "BOB", "B0B", "b\u043eb"])
def test_a_guest_named_like_another_person_present_gets_the_shortest_free_suffix(other: str) -> None:
    room = present(("x9", other), (BOB_ID, "bob"))
    assert distinct_name(BOB, present=room, who_id=BOB_ID).name == "bob-3f2a"


def test_a_taken_suffix_makes_it_longer() -> None:
    room = present(("x9", "bob"), ("x8", "bob-3f2a"))
    assert distinct_name(BOB, present=room, who_id=BOB_ID).name == "bob-3f2a9c0d"


def test_a_registered_name_is_never_suffixed() -> None:
    user = Identity(key="u:1", name="bob", guest=False, user_id=1)
    assert distinct_name(user, present=present(("x9", "bob")), who_id="u1") is user


def test_one_index_serves_every_joiner_it_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    digests = identity_module.name_skeleton_digests

    def counted(name: str) -> tuple[str, str]:
        read.append(name)
        return digests(name)

    monkeypatch.setattr(identity_module, "name_skeleton_digests", counted)
    room = present(*((f"p{i}", f"guest-{i}") for i in range(50)))
    for i in range(50):
        joiner = Identity(key=f"g:{i}", name=f"guest-{i}", guest=True)
        assert distinct_name(joiner, present=room, who_id=f"p{i}") is joiner
    assert len(read) == 50 + 50  # everyone present once, then each joiner's own name


def test_a_name_held_by_the_joiner_and_by_someone_else_is_taken() -> None:
    room = present((BOB_ID, "bob"), ("x9", "b0b"))
    assert distinct_name(BOB, present=room, who_id=BOB_ID).name == "bob-3f2a"
    assert LookAlikes([{"id": "x9", "name": "b0b"}, {"id": "x8", "name": "BOB"}]).held_by_another("bob", "x9")
