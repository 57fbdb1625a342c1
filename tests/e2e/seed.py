"""Put data into a running site the way the server would, without a browser."""

from __future__ import annotations

from tests.servers import Site


def store_without_broadcast(chat_site: Site, slug: str, *bodies: str) -> None:
    """Store messages the way the server does, but tell no one: like a broadcast lost in Redis."""
    chat_site.shell(
        "from chat import services\n"
        "from chat.identity import Identity\n"
        "from chat.models import Room\n"
        f"room = Room.objects.get(slug={slug!r})\n"
        "author = Identity(key='u:ghost', name='ghost', guest=False)\n"
        f"for body in {list(bodies)!r}:\n"
        "    services.message_create(room_id=room.pk, author=author, body=body, client_id=None)\n"
    )
