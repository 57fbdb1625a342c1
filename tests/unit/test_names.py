from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from chat.identity import GUEST_NAME_KEY, NicknameError, check_nickname
from chat.models import NameClaim
from chat.names import name_normalize, name_skeleton, name_skeleton_as_drawn

TAKEN = "That name belongs to a registered user."


def register(username: str) -> User:
    return get_user_model().objects.create_user(username, password="pw-123-long")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(char) + 0xFEE0) for char in text)


def refused(nickname: str) -> bool:
    try:
        check_nickname(nickname)
    except NicknameError:
        return True
    return False


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (fullwidth("admin"), "admin"),
        ("  two   words\there ", "two words here"),
        ("adm\u200bin", "admin"),  # zero-width space
        ("a\u200cd\u200dm\u200ei\u200fn\u2060\ufeff", "admin"),  # joiners, direction marks, word joiner, BOM
        ("ad\x00m\x07in", "admin"),  # control characters
        ("admin\u3164", "admin"),  # Hangul filler: a letter that draws nothing
        ("ﬁle", "file"),  # ligature
    ],
)
def test_normalize_gives_the_visible_text_in_nfkc(raw: str, normal: str) -> None:
    assert name_normalize(raw) == normal


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("admin", "\u0430dmin"),  # Cyrillic a
        ("admin", "ADMIN"),
        ("admin", "adrnin"),  # rn drawn as m
        ("bob", "b0b"),  # zero as o
        ("lily", "1ily"),  # one as l
        ("paypal", "\u0440\u0430\u0443\u0440\u0430l"),  # Cyrillic p, a, y
        ("admin", "adm\u0131n"),  # dotless i
    ],
)
def test_look_alikes_share_a_skeleton(one: str, other: str) -> None:
    assert name_skeleton(one) == name_skeleton(other)


@pytest.mark.parametrize(("one", "other"), [("admin", "admín"), ("alice", "alise"), ("ian", "lan")])
def test_different_looking_names_have_different_skeletons(one: str, other: str) -> None:
    # UTS #39 keeps accented letters apart from plain ones: admín is a different name from admin.
    assert name_skeleton(one) != name_skeleton(other)
    assert name_skeleton_as_drawn(one) != name_skeleton_as_drawn(other)


def test_capitals_are_also_read_as_drawn() -> None:
    # Case folded first, capital I is i; as drawn, it is l, and Greek capital eta is H.
    assert name_skeleton("AIice") != name_skeleton("Alice")
    assert name_skeleton_as_drawn("AIice") == name_skeleton_as_drawn("Alice")
    assert name_skeleton_as_drawn("\u0397ans") == name_skeleton_as_drawn("Hans")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "nickname",
    [
        "admin",
        "\u0430dmin",  # Cyrillic a
        fullwidth("admin"),
        "ADMIN",
        "Admin",
        "\u0410DMIN",  # Cyrillic capital A
        "adm\u200bin",  # zero-width space inside
        "adm\u3164in",  # Hangul filler inside
        "adrnin",  # rn for m
        "adm\u0131n",  # dotless i
        " admin ",
    ],
)
def test_guest_cannot_take_a_look_alike_of_a_registered_name(nickname: str) -> None:
    register("admin")
    with pytest.raises(NicknameError, match=TAKEN):
        check_nickname(nickname)


@pytest.mark.django_db
def test_accented_letters_make_another_name() -> None:
    register("admin")
    assert check_nickname("admín") == "admín"


@pytest.mark.django_db
@pytest.mark.parametrize("nickname", ["b0b", "B0B", "b\u043eb"])  # zero, capital zero, Cyrillic o
def test_digits_that_look_like_letters_are_refused(nickname: str) -> None:
    register("bob")
    assert refused(nickname)


@pytest.mark.django_db
@pytest.mark.parametrize(("username", "nickname"), [("Alice", "AIice"), ("lan", "Ian"), ("Hans", "\u0397ans")])
def test_capitals_drawn_like_other_letters_are_refused(username: str, nickname: str) -> None:
    register(username)
    assert refused(nickname)


@pytest.mark.django_db
def test_distinct_names_are_accepted_in_their_normal_form() -> None:
    register("admin")
    register("bob")
    assert check_nickname("alice") == "alice"
    assert check_nickname(fullwidth("alice")) == "alice"
    assert check_nickname("bobby") == "bobby"


@pytest.mark.django_db
def test_invisible_characters_are_dropped_from_the_name_a_guest_gets() -> None:
    assert check_nickname("ca\u200bro\ufeffl") == "carol"


@pytest.mark.django_db
def test_a_renamed_users_claim_follows_the_rename() -> None:
    user = register("admin")
    user.username = "root"
    user.save()
    assert not refused("admin")
    assert refused("r00t")


@pytest.mark.django_db
def test_a_save_of_other_fields_keeps_the_claim_of_the_stored_name() -> None:
    user = register("admin")
    user.username = "unsaved"
    user.save(update_fields=["last_login"])  # what a log-in does
    assert refused("admin")
    assert not refused("unsaved")


@pytest.mark.django_db
def test_deleting_the_user_frees_the_name() -> None:
    register("admin").delete()
    assert check_nickname("\u0430dmin") == "\u0430dmin"
    assert not NameClaim.objects.exists()


@pytest.mark.django_db
def test_createsuperuser_claims_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "pw-123-long")
    call_command("createsuperuser", "--noinput", username="moderator", email="m@example.com", verbosity=0)
    assert refused("MODERATOR")


@pytest.mark.django_db
def test_a_long_registered_name_is_claimed() -> None:
    # m maps to rn: the skeleton of this name is 300 letters, twice what a username may hold.
    register("m" * 150)
    assert NameClaim.objects.count() == 1


@pytest.mark.django_db
def test_the_migration_claims_the_names_of_existing_users() -> None:
    register("admin")
    NameClaim.objects.all().delete()  # as before the migration
    assert not refused("\u0430dmin")
    migration = importlib.import_module("chat.migrations.0003_name_claims")
    migration.claim_existing_names(apps, None)
    assert refused("\u0430dmin")


@pytest.mark.django_db
def test_room_page_refuses_a_look_alike_of_a_registered_name(client: Client) -> None:
    register("admin")
    client.get("/rooms/lobby/")
    before = client.session[GUEST_NAME_KEY]
    response = client.post("/rooms/lobby/", {"nickname": "\u0430dmin"})
    assert response.status_code == 200
    assert response.context["nickname_error"] == TAKEN
    assert client.session[GUEST_NAME_KEY] == before


@pytest.mark.django_db
def test_room_page_keeps_the_normal_form_of_a_nickname(client: Client) -> None:
    response = client.post("/rooms/lobby/", {"nickname": fullwidth("ali") + "\u200b" + fullwidth("ce")})
    assert response.status_code == 302
    assert client.session[GUEST_NAME_KEY] == "alice"
