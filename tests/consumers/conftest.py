from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.db import connections

from chat import asyncdb, db
from chat.models import Room
from chat.presence import presence
from chatsite.asgi import application
from tests import shapes


class Client:
    """A WebSocket client of the full ASGI app (origin check, sessions, auth) that checks every frame."""

    def __init__(self, path: str, cookie: str | None = None) -> None:
        headers = [(b"origin", b"http://127.0.0.1")] + ([(b"cookie", cookie.encode())] if cookie else [])
        self.comm = WebsocketCommunicator(application, path, headers=headers)
        self.welcome: dict[str, Any] = {}
        self.history: dict[str, Any] = {}

    async def open(self) -> Client:
        connected, _ = await self.comm.connect()
        assert connected
        return self

    async def join(self) -> Client:
        await self.open()
        self.welcome = await self.expect("welcome")
        self.history = await self.expect("history")
        return self

    async def recv(self, timeout: float = 2.0) -> dict[str, Any]:
        return shapes.check(orjson.loads(await self.comm.receive_from(timeout)))

    async def expect(self, kind: str, timeout: float = 2.0) -> dict[str, Any]:
        """The next frame of this type; frames of other types on the way are skipped."""
        while True:
            frame = await self.recv(timeout)
            if frame["type"] == kind:
                return frame

    async def send(self, frame: dict[str, Any]) -> None:
        await self.comm.send_to(text_data=orjson.dumps(frame).decode())

    async def send_text(self, text: str) -> None:
        await self.comm.send_to(text_data=text)

    async def silent(self, timeout: float = 0.2) -> bool:
        return await self.comm.receive_nothing(timeout)

    async def close(self) -> None:
        await self.comm.disconnect()


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Awaitable[Client]]]:
    clients: list[Client] = []

    async def _connect(slug: str = "lobby", query: str = "", join: bool = True, cookie: str | None = None) -> Client:
        client = Client(f"/ws/rooms/{slug}/" + (f"?{query}" if query else ""), cookie)
        clients.append(client)
        return await (client.join() if join else client.open())

    yield _connect
    for client in clients:
        await client.close()


@pytest.fixture
async def room() -> Room:
    """The room "den", for tests that need one (a test module may bring its own)."""
    created: Room = await Room.objects.acreate(slug="den", name="Den")
    return created


WhileJoining = Callable[[Callable[[Any], Awaitable[None]]], None]


@pytest.fixture
def while_joining(monkeypatch: pytest.MonkeyPatch) -> WhileJoining:
    """Run `action(who)` once, inside the next join: after its reads and its presence write.

    That is the window a join must cover: whatever happens in it is newer than the history and the
    rights the join read, and must still reach the joiner.
    """
    tracker = presence()
    enter = tracker.join

    def install(action: Callable[[Any], Awaitable[None]]) -> None:
        pending = [action]

        async def join(slug: str, who: Any, conn: str) -> Any:
            change = await enter(slug, who, conn)
            if pending:
                await pending.pop()(who)
            return change

        monkeypatch.setattr(tracker, "join", join)

    return install


@pytest.fixture(autouse=True)
async def close_orm_thread_connections() -> AsyncIterator[None]:
    """The async ORM (acreate, aupdate) opens connections in asgiref's thread, chat.asyncdb its own; close them.

    A call still running on chat.db's pool (a heartbeat's read) is waited for first: on SQLite it
    would hold a table lock that fails the test database's flush.
    """
    yield
    await db.run(int)  # SQLite's pool is one thread: this call returns after those before it
    await sync_to_async(connections.close_all)()
    asyncdb.close()


async def guest_cookie(name: str) -> str:
    """The cookie of a guest session that chose `name`, as the room page leaves it."""
    from chat.identity import GUEST_NAME_KEY

    session = SessionStore()
    session[GUEST_NAME_KEY] = name
    await sync_to_async(session.create)()
    return f"sessionid={session.session_key}"


async def user_cookie(user: Any) -> str:
    """The cookie of `user` logged in (what django.contrib.auth.login leaves in the session)."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    await sync_to_async(session.create)()
    return f"sessionid={session.session_key}"
