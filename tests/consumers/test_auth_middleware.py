"""Who a socket is: chat.identity's one-frame middleware and Channels' own stack say the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model

from chat.models import Room
from chatsite.asgi import websocket_application
from tests.consumers.conftest import guest_cookie, user_cookie

pytestmark = pytest.mark.django_db(transaction=True)

Welcome = Callable[[str | None], Awaitable[dict[str, Any]]]


@pytest.fixture(params=["flat", "channels"])
async def welcome(request: pytest.FixtureRequest, settings: Any, room: Room) -> AsyncIterator[Welcome]:
    """Join "den" through the stack the setting names, with a cookie or none; the welcome's "you"."""
    settings.CHAT_AUTH_MIDDLEWARE = request.param
    app = websocket_application()
    opened: list[WebsocketCommunicator] = []

    async def join(cookie: str | None) -> dict[str, Any]:
        headers = [(b"origin", b"http://127.0.0.1")] + ([(b"cookie", cookie.encode())] if cookie else [])
        comm = WebsocketCommunicator(app, "/ws/rooms/den/", headers=headers)
        opened.append(comm)
        connected, _ = await comm.connect()
        assert connected
        frame = orjson.loads(await comm.receive_from(2))
        assert frame["type"] == "welcome"
        you: dict[str, Any] = frame["you"]
        return you

    yield join
    for comm in opened:
        await comm.disconnect()


async def test_a_socket_without_a_session_is_a_guest_of_its_own(welcome: Welcome) -> None:
    first, second = await welcome(None), await welcome(None)
    assert first["guest"] and second["guest"] and first["id"] != second["id"]


async def test_a_guest_session_is_the_same_guest_on_every_socket(welcome: Welcome) -> None:
    cookie = await guest_cookie("wren")
    first, second = await welcome(cookie), await welcome(f"theme=dark; {cookie}")
    assert first == second and first["name"] == "wren" and first["guest"]


async def test_a_logged_in_session_is_its_user(welcome: Welcome) -> None:
    user = await sync_to_async(get_user_model().objects.create_user)("ada", password="pw-ada-12345")
    you = await welcome(await user_cookie(user))
    assert you["name"] == "ada" and not you["guest"]


async def test_a_session_cookie_that_names_no_session_is_a_guest_of_its_own(welcome: Welcome) -> None:
    stale = "sessionid=nosuchsessionnosuchsession"
    first, second = await welcome(stale), await welcome(stale)
    assert first["guest"] and second["guest"] and first["id"] != second["id"]  # nobody shares a dead key


async def test_the_flat_middleware_adds_cookies_session_and_user_to_a_copy_of_the_scope() -> None:
    from chat.identity import ConnectionAuthMiddleware

    seen: list[dict[str, Any]] = []

    async def inner(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope)

    scope = {"type": "websocket", "headers": [(b"cookie", b"a=1; b=2")]}
    await ConnectionAuthMiddleware(inner)(scope, None, None)
    (inside,) = seen
    assert inside["cookies"] == {"a": "1", "b": "2"} and inside["session"].session_key is None
    assert not inside["user"].is_authenticated and "cookies" not in scope  # the caller's is untouched
