"""The one place that names groups and sends to them.

Every broadcast is a ready-encoded frame: it is encoded once per message here, and workers hand
the same text to each member.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat import protocol
from chat.models import Message, Room

FRAME = "room.frame"
# Not frames for the clients: orders to the room's consumers on every worker, to close (all, or
# one person's) and to read their rights again.
CLOSE = "room.close"
RECHECK = "room.recheck"


def room_group(slug: str) -> str:
    return f"room.{slug}"


async def frame_send(slug: str, frame: str, *, seq: int | None = None, exclude: str | None = None) -> None:
    """Send an encoded frame to every member of the room, except the channel `exclude`."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(room_group(slug), {"type": FRAME, "frame": frame, "seq": seq, "exclude": exclude})


async def message_stored(message: Message, *, room_slug: str) -> None:
    await frame_send(room_slug, protocol.message_frame(message, room_slug=room_slug), seq=message.seq)


async def message_edited(message: Message, *, room_slug: str) -> None:
    await frame_send(room_slug, protocol.edited_frame(message, room_slug=room_slug))


async def message_deleted(message: Message, *, room_slug: str) -> None:
    await frame_send(room_slug, protocol.deleted_frame(seq=message.seq, change=message.change))


def message_deleted_sync(message: Message, *, room_slug: str) -> None:
    async_to_sync(message_deleted)(message, room_slug=room_slug)


def room_changed(room: Room) -> None:
    async_to_sync(frame_send)(room.slug, protocol.room_frame(room))


async def room_close(slug: str, *, code: int, person_key: str | None = None) -> None:
    """Close every connection to the room (or only `person_key`'s), on every worker, with `code`."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(room_group(slug), {"type": CLOSE, "code": code, "person": person_key})


def person_closed(*, room_slug: str, person_key: str) -> None:
    """A ban: the person's open sockets in the room close with 4403 on every worker."""
    async_to_sync(room_close)(room_slug, code=protocol.Close.FORBIDDEN, person_key=person_key)


async def room_recheck(slug: str, *, person_key: str | None = None) -> None:
    """Rights in the room changed (everyone's, or `person_key`'s): its open sockets read theirs again."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(room_group(slug), {"type": RECHECK, "person": person_key})


def room_recheck_sync(*, room_slug: str, person_key: str | None = None) -> None:
    async_to_sync(room_recheck)(room_slug, person_key=person_key)


def room_deleted(*, room_slug: str) -> None:
    async_to_sync(room_close)(room_slug, code=protocol.Close.NO_ROOM)
