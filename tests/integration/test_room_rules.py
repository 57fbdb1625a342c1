"""Room rules across real workers: bans and mutes on every worker at once, members-only rooms, socket limits."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets

from chat.protocol import Close
from tests import shapes
from tests.client import ORIGIN, guest_cookie
from tests.servers import Site, site

pytestmark = pytest.mark.integration

# Low, so that the limits show with a handful of sockets; X-Forwarded-For is trusted (one proxy).
ENV = {"CHAT_MAX_SOCKETS_PER_PERSON": "3", "CHAT_CONNECT_RATE_LIMIT": "4/60", "DJANGO_TRUSTED_PROXY_COUNT": "1"}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Site]:
    with site(**ENV) as deployment:
        deployment.shell(
            "from django.contrib.auth import get_user_model\n"
            "from chat.models import Room\n"
            "User = get_user_model()\n"
            "mod, mia = User.objects.create_user('mod'), User.objects.create_user('mia')\n"
            "for slug in ('bans', 'mutes', 'limits'):\n"
            "    Room.objects.create(slug=slug, name=slug).moderators.add(mod)\n"
            "Room.objects.create(slug='inner', name='Inner', kind='members').members.add(mia)\n"
        )
        deployment.add_worker()
        deployment.add_worker()
        yield deployment
        logs = deployment.logs()
        assert "Traceback" not in logs, logs[logs.find("Traceback") - 500 :][:3000]


def user_cookie(deployment: Site, username: str) -> str:
    """A logged-in session of `username`, made in the site's database: the `Cookie` header value."""
    key = deployment.shell(
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        f"user = get_user_model().objects.get(username={username!r})\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY], s[HASH_SESSION_KEY] = str(user.pk), user.get_session_auth_hash()\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s.create()\n"
        "print(s.session_key)\n"
    )
    return f"sessionid={key.split()[-1]}"  # the last line: the shell may say things first


class Socket:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            frame = shapes.check(orjson.loads(await asyncio.wait_for(self.ws.recv(), 10)))
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(orjson.dumps(frame).decode())

    async def closed_with(self) -> int | None:
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return None if closed.rcvd is None else closed.rcvd.code


async def open_socket(port: int, slug: str, *, cookie: str | None = None, address: str = "192.0.2.1") -> Socket:
    headers = {"X-Forwarded-For": address, **({"Cookie": cookie} if cookie else {})}
    url = f"ws://127.0.0.1:{port}/ws/rooms/{slug}/"
    return Socket(await websockets.connect(url, origin=ORIGIN, additional_headers=headers, open_timeout=10))


async def joined(port: int, slug: str, **kwargs: Any) -> Socket:
    socket = await open_socket(port, slug, **kwargs)
    await socket.expect("history")
    return socket


async def test_a_ban_on_one_worker_closes_the_banned_persons_sockets_on_the_other(deployment: Site) -> None:
    one, two = (w.port for w in deployment.workers)
    troll = guest_cookie(deployment.workers[0].http)
    moderator = await joined(one, "bans", cookie=user_cookie(deployment, "mod"), address="192.0.2.10")
    troll_there = await joined(two, "bans", cookie=troll, address="192.0.2.11")
    troll_here = await joined(one, "bans", cookie=troll, address="192.0.2.11")
    bystander = await joined(two, "bans", address="192.0.2.12")
    await troll_there.send({"type": "message", "body": "spam", "client_id": "t1"})
    seq = (await troll_there.expect("ack"))["seq"]

    await moderator.send({"type": "ban", "seq": seq, "minutes": 10})
    assert (await moderator.expect("sanctioned"))["action"] == "ban"
    assert await troll_there.closed_with() == Close.FORBIDDEN
    assert await troll_here.closed_with() == Close.FORBIDDEN
    again = await open_socket(two, "bans", cookie=troll, address="192.0.2.11")
    assert await again.closed_with() == Close.FORBIDDEN
    await bystander.send({"type": "message", "body": "still here", "client_id": "b1"})
    await bystander.expect("ack")


async def test_a_mute_set_in_the_admin_stops_the_next_send_on_any_worker(deployment: Site) -> None:
    loud = guest_cookie(deployment.workers[0].http)
    sockets = [await joined(w.port, "mutes", cookie=loud, address="192.0.2.20") for w in deployment.workers]
    await sockets[0].send({"type": "message", "body": "first", "client_id": "m1"})
    await sockets[0].expect("ack")
    deployment.shell(
        "from chat import services\n"
        "from chat.models import Message, Sanction\n"
        "message = Message.objects.get(room__slug='mutes', client_id='m1')\n"
        "services.sanction_save(sanction=Sanction(room=message.room, kind='mute',"
        " person_key=message.author_key, person_name=message.author_name))\n"
    )
    for number, socket in enumerate(sockets):
        assert (await socket.expect("rights"))["rights"]["muted"] is True
        await socket.send({"type": "message", "body": "more", "client_id": f"m{number + 2}"})
        assert (await socket.expect("error"))["code"] == "muted"


def http_status(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


async def test_a_members_only_room_refuses_a_stranger_on_the_page_and_on_the_socket(deployment: Site) -> None:
    worker = deployment.workers[1]
    mia = user_cookie(deployment, "mia")
    assert http_status(f"{worker.http}/rooms/inner/") == 404
    assert http_status(f"{worker.http}/rooms/inner/", user_cookie(deployment, "mod")) == 404
    assert http_status(f"{worker.http}/rooms/inner/", mia) == 200
    stranger = await open_socket(worker.port, "inner", address="192.0.2.30")
    assert await stranger.closed_with() == Close.FORBIDDEN
    member = await joined(worker.port, "inner", cookie=mia, address="192.0.2.31")
    assert (await asyncio.to_thread(urllib.request.urlopen, f"{worker.http}/")).read().count(b"/rooms/inner/") == 0
    await member.ws.close()


async def test_a_persons_open_sockets_are_counted_across_workers(deployment: Site) -> None:
    cookie = guest_cookie(deployment.workers[0].http)
    ports = [w.port for w in deployment.workers]
    sockets = [await joined(ports[i % 2], "limits", cookie=cookie, address=f"192.0.2.{40 + i}") for i in range(3)]
    fourth = await open_socket(ports[1], "limits", cookie=cookie, address="192.0.2.44")
    assert await fourth.closed_with() == Close.FLOOD
    await sockets[0].ws.close()
    await asyncio.sleep(0.2)  # its worker drops it from the count on close
    await joined(ports[1], "limits", cookie=cookie, address="192.0.2.45")


async def test_connection_attempts_are_counted_per_client_address_across_workers(deployment: Site) -> None:
    ports = [w.port for w in deployment.workers]
    for attempt in range(4):  # the budget: 4 per minute
        socket = await joined(ports[attempt % 2], "lobby", address="198.51.100.7")
        await socket.ws.close()
    refused = await open_socket(ports[0], "lobby", address="198.51.100.7")
    assert await refused.closed_with() == Close.FLOOD
    # Another address is another budget; and what the client itself puts left of the proxy's is ignored.
    await joined(ports[1], "lobby", address="198.51.100.7, 198.51.100.8")
    assert "too many attempts" in deployment.logs() and "198.51.100.7" in deployment.logs()
