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
# Not a frame for the clients: an order to the room's consumers on every worker to close.
CLOSE = "room.close"


def room_group(slug: str) -> str:
    return f"room.{slug}"


async def frame_send(slug: str, frame: str, *, seq: int | None = None, exclude: str | None = None) -> None:
    """Send an encoded frame to every member of the room, except the channel `exclude`."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(room_group(slug), {"type": FRAME, "frame": frame, "seq": seq, "exclude": exclude})


async def message_stored(message: Message, *, room_slug: str) -> None:
    await frame_send(room_slug, protocol.message_frame(message, room_slug=room_slug), seq=message.seq)


def message_deleted(*, room_slug: str, seq: int) -> None:
    async_to_sync(frame_send)(room_slug, protocol.deleted_frame(seq=seq))


def room_changed(room: Room) -> None:
    async_to_sync(frame_send)(room.slug, protocol.room_frame(room))


async def room_close(slug: str, *, code: int) -> None:
    """Close every connection to the room, on every worker, with `code`."""
    layer = get_channel_layer()
    assert layer is not None
    await layer.group_send(room_group(slug), {"type": CLOSE, "code": code})


def room_deleted(*, room_slug: str) -> None:
    async_to_sync(room_close)(room_slug, code=protocol.Close.NO_ROOM)
