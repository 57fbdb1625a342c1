"""Rooms' rules through the consumer: who may enter, edits and deletions, mutes, bans and slow mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.test import override_settings
from django.utils import timezone

from chat import services
from chat.models import Message, Room, Sanction
from chat.protocol import Close
from tests.consumers.conftest import Client, WhileJoining, guest_cookie, user_cookie

pytestmark = pytest.mark.django_db(transaction=True)

Connect = Callable[..., Awaitable[Client]]


async def make_user(name: str, **extra: Any) -> Any:
    return await sync_to_async(get_user_model().objects.create_user)(name, password="pw-" + name + "-12345", **extra)


async def refused_with(client: Client) -> int:
    """The code the server closes the socket with (frames on the way are skipped)."""
    while True:
        output = await client.comm.receive_output(2)
        if output["type"] != "websocket.send":
            assert output["type"] == "websocket.close", output
            return int(output["code"])


async def post(client: Client, body: str, client_id: str | None = None) -> dict[str, Any]:
    await client.send({"type": "message", "body": body, **({"client_id": client_id} if client_id else {})})
    return await client.expect("message")


# -- Who may enter ------------------------------------------------------------------------------


async def test_a_members_only_room_refuses_a_stranger_and_admits_its_members_and_staff(connect: Connect) -> None:
    room = await Room.objects.acreate(slug="inner", name="Inner", kind=Room.Kind.MEMBERS)
    member, stranger = await make_user("mia"), await make_user("sam")
    staff = await make_user("stella", is_staff=True)
    await sync_to_async(room.members.add)(member)

    assert await refused_with(await connect("inner", join=False)) == Close.FORBIDDEN  # a guest
    assert await refused_with(await connect("inner", join=False, cookie=await user_cookie(stranger))) == 4403
    mia = await connect("inner", cookie=await user_cookie(member))
    assert mia.welcome["room"]["kind"] == "members" and mia.welcome["rights"]["moderator"] is False
    boss = await connect("inner", cookie=await user_cookie(staff))
    assert boss.welcome["rights"]["moderator"] is True


async def test_a_room_closed_to_guests_refuses_them_but_not_users(connect: Connect) -> None:
    await Room.objects.acreate(slug="users", name="Users", guests_allowed=False)
    assert await refused_with(await connect("users", join=False)) == Close.FORBIDDEN
    amy = await connect("users", cookie=await user_cookie(await make_user("amy")))
    assert amy.welcome["room"]["guests"] is False


async def test_removing_a_member_in_the_admin_closes_their_open_socket(connect: Connect) -> None:
    room = await Room.objects.acreate(slug="inner", name="Inner", kind=Room.Kind.MEMBERS)
    mia, max_ = await make_user("mia"), await make_user("max")
    await sync_to_async(room.members.add)(mia, max_)
    mia_socket = await connect("inner", cookie=await user_cookie(mia))
    max_socket = await connect("inner", cookie=await user_cookie(max_))

    def remove_mia() -> None:
        room.members.remove(mia)
        services.room_rights_changed(room=room)

    await sync_to_async(remove_mia)()
    assert await refused_with(mia_socket) == Close.FORBIDDEN
    assert await max_socket.silent()  # still there, told nothing


# -- Edits and deletions ------------------------------------------------------------------------


async def test_an_author_edits_their_message_and_everyone_sees_the_new_text(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den", cookie=await guest_cookie("alice")), await connect("den")
    seq = (await post(alice, "helo"))["seq"]
    await bob.expect("message")

    await alice.send({"type": "edit", "seq": seq, "body": "hello"})
    for client in (alice, bob):
        edited = await client.expect("edited")
        assert (edited["message"]["seq"], edited["message"]["body"], edited["change"]) == (seq, "hello", 1)
    late = await connect("den")
    assert [(m["body"], m["edited_at"] is not None) for m in late.history["messages"]] == [("hello", True)]
    assert late.welcome["last_change"] == 1


async def test_nobody_edits_or_deletes_someone_elses_message(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den"), await connect("den")
    seq = (await post(alice, "mine"))["seq"]
    for frame in ({"type": "edit", "seq": seq, "body": "yours"}, {"type": "delete", "seq": seq}):
        await bob.send(frame)
        assert (await bob.expect("error"))["code"] == "forbidden"
    assert await sync_to_async(lambda: Message.objects.get(seq=seq).body)() == "mine"


async def test_edits_and_deletions_end_with_the_edit_window(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    seq = (await post(alice, "old news"))["seq"]
    await Message.objects.filter(seq=seq).aupdate(sent_at=timezone.now() - timedelta(minutes=16))
    await alice.send({"type": "edit", "seq": seq, "body": "new news"})
    assert (await alice.expect("error"))["code"] == "forbidden"
    with override_settings(CHAT_EDIT_WINDOW=3600):
        await alice.send({"type": "edit", "seq": seq, "body": "new news"})
        assert (await alice.expect("edited"))["message"]["body"] == "new news"


async def test_an_author_deletes_their_message_for_everyone_and_for_late_comers(connect: Connect, room: Room) -> None:
    alice, bob = await connect("den"), await connect("den")
    first, second = (await post(alice, "keep"))["seq"], (await post(alice, "oops"))["seq"]
    await alice.send({"type": "delete", "seq": second})
    for client in (alice, bob):
        assert (await client.expect("deleted"))["seq"] == second
    late = await connect("den")
    assert [m["seq"] for m in late.history["messages"]] == [first]
    await alice.send({"type": "delete", "seq": second})
    assert (await alice.expect("error"))["code"] == "not_found"


async def test_a_room_moderator_deletes_anyones_message(connect: Connect, room: Room) -> None:
    mod = await make_user("mod")
    await sync_to_async(room.moderators.add)(mod)
    guest, moderator = await connect("den"), await connect("den", cookie=await user_cookie(mod))
    assert moderator.welcome["rights"]["moderator"] is True
    seq = (await post(guest, "spam"))["seq"]
    await moderator.send({"type": "delete", "seq": seq})
    assert (await guest.expect("deleted"))["seq"] == seq


async def test_a_resuming_client_learns_first_of_the_edits_and_deletions_it_missed(
    connect: Connect, room: Room
) -> None:
    alice = await connect("den")
    seqs = [(await post(alice, f"m{i}"))["seq"] for i in range(4)]
    await alice.send({"type": "edit", "seq": seqs[1], "body": "m1, edited"})
    await alice.expect("edited")
    await alice.send({"type": "delete", "seq": seqs[2]})
    await alice.expect("deleted")
    newer = (await post(alice, "m4"))["seq"]

    back = await connect("den", query=f"after={seqs[3]}&changes=0", join=False)
    assert (await back.recv())["type"] == "welcome"
    changes = await back.recv()
    assert changes["type"] == "changes"
    assert [(m["seq"], m["body"]) for m in changes["edited"]] == [(seqs[1], "m1, edited")]
    assert changes["deleted"] == [seqs[2]] and changes["last_change"] == 2
    history = await back.recv()
    assert history["type"] == "history" and history["resumed"] is True
    assert [m["seq"] for m in history["messages"]] == [newer]

    # Up to date on changes: no `changes` frame at all.
    current = await connect("den", query=f"after={newer}&changes=2", join=False)
    assert [(await current.recv())["type"] for _ in range(2)] == ["welcome", "history"]


async def test_a_changes_cursor_beyond_the_rooms_resets(connect: Connect, room: Room) -> None:
    alice = await connect("den")
    seq = (await post(alice, "hi"))["seq"]
    back = await connect("den", query=f"after={seq}&changes=7")
    assert back.history["reset"] is True


# -- Mutes, bans and slow mode -------------------------------------------------------------------


async def test_a_mute_set_in_the_admin_stops_the_next_send_and_tells_the_muted(connect: Connect, room: Room) -> None:
    cookie = await guest_cookie("loud")
    loud = await connect("den", cookie=cookie)
    message = await post(loud, "first", client_id="c1")
    key = await sync_to_async(lambda: Message.objects.get(seq=message["seq"]).author_key)()
    until = timezone.now() + timedelta(minutes=30)
    sanction = Sanction(room=room, kind=Sanction.Kind.MUTE, person_key=key, person_name="loud", expires_at=until)
    await sync_to_async(services.sanction_save)(sanction=sanction)

    rights = await loud.expect("rights")
    assert rights["rights"]["muted"] is True and rights["rights"]["muted_until"] is not None
    await loud.send({"type": "message", "body": "second", "client_id": "c2"})
    refused = await loud.expect("error")
    assert (refused["code"], refused["client_id"]) == ("muted", "c2") and 1790 < refused["retry_after"] <= 1800
    await loud.send({"type": "edit", "seq": message["seq"], "body": "sneaky"})
    assert (await loud.expect("error"))["code"] == "muted"

    await sync_to_async(services.sanction_lift)(sanctions=Sanction.objects.filter(pk=sanction.pk))
    assert (await loud.expect("rights"))["rights"]["muted"] is False
    assert (await post(loud, "third", client_id="c3"))["body"] == "third"


async def test_a_ban_from_the_page_closes_the_banned_persons_sockets_and_keeps_them_out(
    connect: Connect, room: Room
) -> None:
    mod = await make_user("mod")
    await sync_to_async(room.moderators.add)(mod)
    cookie = await guest_cookie("troll")
    troll_tabs = [await connect("den", cookie=cookie), await connect("den", cookie=cookie)]
    bystander = await connect("den")
    moderator = await connect("den", cookie=await user_cookie(mod))
    seq = (await post(troll_tabs[0], "trolling"))["seq"]

    await moderator.send({"type": "ban", "seq": seq, "minutes": None})
    done = await moderator.expect("sanctioned")
    assert (done["action"], done["user"]["name"], done["until"]) == ("ban", "troll", None)
    for tab in troll_tabs:
        assert await refused_with(tab) == Close.FORBIDDEN
    assert await refused_with(await connect("den", join=False, cookie=cookie)) == Close.FORBIDDEN
    await post(bystander, "still here")


async def test_only_moderators_sanction_and_never_a_moderator(connect: Connect, room: Room) -> None:
    mod = await make_user("mod")
    await sync_to_async(room.moderators.add)(mod)
    guest, moderator = await connect("den"), await connect("den", cookie=await user_cookie(mod))
    seq = (await post(moderator, "rules"))["seq"]
    guest_seq = (await post(guest, "hi"))["seq"]
    await guest.send({"type": "mute", "seq": guest_seq, "minutes": 5})
    assert (await guest.expect("error"))["code"] == "forbidden"
    await moderator.send({"type": "ban", "seq": seq, "minutes": 5})
    assert (await moderator.expect("error"))["code"] == "forbidden"  # oneself
    await guest.send({"type": "slow_mode", "seconds": 30})
    assert (await guest.expect("error"))["code"] == "forbidden"
    assert await sync_to_async(Sanction.objects.count)() == 0


async def test_slow_mode_lets_one_message_per_interval_through(connect: Connect, room: Room) -> None:
    mod = await make_user("mod")
    await sync_to_async(room.moderators.add)(mod)
    guest, moderator = await connect("den"), await connect("den", cookie=await user_cookie(mod))
    await moderator.send({"type": "slow_mode", "seconds": 30})
    assert (await guest.expect("room"))["room"]["slow_mode"] == 30

    await post(guest, "one", client_id="s1")
    await guest.send({"type": "message", "body": "two", "client_id": "s2"})
    refused = await guest.expect("error")
    assert (refused["code"], refused["client_id"]) == ("slow_mode", "s2") and 29 < refused["retry_after"] <= 30
    await guest.send({"type": "message", "body": "one", "client_id": "s1"})  # a re-send is its ack again
    assert (await guest.expect("ack"))["seq"] == 1
    for body in ("moderators", "are exempt"):
        await post(moderator, body)


# -- Names ---------------------------------------------------------------------------------------


async def test_no_two_people_present_show_the_same_name(connect: Connect, room: Room) -> None:
    first = await connect("den", cookie=await guest_cookie("bob"))
    second_cookie = await guest_cookie("bob")
    second = await connect("den", cookie=second_cookie)
    second_tab = await connect("den", cookie=second_cookie)
    look_alike = await connect("den", cookie=await guest_cookie("B0B"))

    names = {client.welcome["you"]["id"]: client.welcome["you"]["name"] for client in (first, second, look_alike)}
    assert names[first.welcome["you"]["id"]] == "bob"
    assert len(set(names.values())) == 3, names
    assert second.welcome["you"]["name"] == f"bob-{second.welcome['you']['id'][:4]}"
    assert second_tab.welcome["you"] == second.welcome["you"]  # one person, one name, in every tab
    assert look_alike.welcome["you"]["name"].startswith("B0B-")  # a look-alike is a clash too
    joined = await first.expect("presence")
    users = [c["user"] for c in joined["changes"]] if joined["event"] == "batch" else [joined["user"]]
    assert users[0] == second.welcome["you"]
    assert (await post(second, "hi"))["author"] == second.welcome["you"]


async def test_a_ban_set_while_the_person_is_joining_closes_them_once_in(
    connect: Connect, room: Room, while_joining: WhileJoining
) -> None:
    """Rights are read in the join's first trip; a ban committed after that must not be missed."""

    async def ban(who: Any) -> None:
        sanction = Sanction(room=room, kind=Sanction.Kind.BAN, person_key=who.key, person_name=who.name)
        await sync_to_async(services.sanction_save)(sanction=sanction)

    while_joining(ban)
    troll = await connect("den", join=False, cookie=await guest_cookie("troll"))
    assert await refused_with(troll) == Close.FORBIDDEN
