"""Which pages may open a room's socket: the Origin check of the WebSocket stack, built from settings."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from channels.testing import WebsocketCommunicator
from django.core.exceptions import ImproperlyConfigured

from chat.models import Room
from chatsite.asgi import websocket_application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGINS = ["https://chat.example.com", "https://chat.example.com:8443"]

Connect = Callable[[bytes | None], Awaitable[tuple[bool, WebsocketCommunicator]]]


@pytest.fixture
async def connect(room: Room) -> AsyncIterator[Connect]:
    """Open the den's socket with this Origin header (None: no header) through the stack as built now."""
    opened: list[WebsocketCommunicator] = []

    async def _connect(origin: bytes | None) -> tuple[bool, WebsocketCommunicator]:
        headers = [(b"origin", origin)] if origin is not None else []
        comm = WebsocketCommunicator(websocket_application(), "/ws/rooms/den/", headers=headers)
        connected, _ = await comm.connect()
        if connected:
            opened.append(comm)
        return connected, comm

    yield _connect
    for comm in opened:
        await comm.disconnect()


def allow_origins(settings: Any) -> None:
    """As in production: the host is allowed too, so only the scheme and port can tell these apart."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.CHAT_ALLOWED_ORIGINS = ORIGINS


async def first_frame(comm: WebsocketCommunicator) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await comm.receive_from(2))
    return frame


@pytest.mark.parametrize(
    "origin", [b"https://chat.example.com", b"https://chat.example.com:8443", b"https://chat.example.com:443"]
)
async def test_a_page_from_an_allowed_origin_joins_the_room(connect: Connect, settings: Any, origin: bytes) -> None:
    allow_origins(settings)
    connected, comm = await connect(origin)
    assert connected
    assert (await first_frame(comm))["type"] == "welcome"


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param(b"http://chat.example.com", id="same-host-plain-http"),
        pytest.param(b"https://chat.example.com:8444", id="same-host-other-port"),
        pytest.param(b"http://chat.example.com:8443", id="allowed-port-wrong-scheme"),
        pytest.param(b"https://evil.example.com", id="other-host"),
        pytest.param(b"https://chat.example.com.evil.test", id="allowed-host-as-prefix"),
        pytest.param(b"null", id="opaque-origin"),
        pytest.param(None, id="no-origin-header"),
    ],
)
async def test_a_page_from_anywhere_else_is_refused(connect: Connect, settings: Any, origin: bytes | None) -> None:
    allow_origins(settings)
    connected, _ = await connect(origin)
    assert not connected


@pytest.mark.parametrize("origin", [b"https://chat.example.com:x", b"https://[::1", b"\xff\xfe"])
async def test_a_garbled_origin_is_refused_not_an_error(connect: Connect, settings: Any, origin: bytes) -> None:
    allow_origins(settings)
    connected, _ = await connect(origin)
    assert not connected


async def test_a_refusal_is_logged_once_with_the_origin(
    connect: Connect, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    allow_origins(settings)
    with caplog.at_level(logging.WARNING, logger="chat.origins"):
        await connect(b"http://chat.example.com")
    refusals = [r for r in caplog.records if r.name == "chat.origins"]
    assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING
    assert "'http://chat.example.com'" in refusals[0].getMessage()
    assert "/ws/rooms/den/" in refusals[0].getMessage()


async def test_without_allowed_origins_only_the_host_is_checked_against_allowed_hosts(
    connect: Connect, settings: Any
) -> None:
    settings.CHAT_ALLOWED_ORIGINS = []
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    for origin in (b"http://chat.example.com", b"https://chat.example.com:8444"):
        connected, comm = await connect(origin)
        assert connected, origin
        assert (await first_frame(comm))["type"] == "welcome"
    for refused in (b"https://evil.example.com", None):
        connected, _ = await connect(refused)
        assert not connected, refused


@pytest.mark.parametrize(
    "origin", ["chat.example.com", "wss://chat.example.com", "https://", "https://chat.example.com/x"]
)
def test_an_allowed_origin_that_is_not_a_full_http_origin_stops_the_worker(settings: Any, origin: str) -> None:
    settings.CHAT_ALLOWED_ORIGINS = [origin]
    with pytest.raises(ImproperlyConfigured, match="CHAT_ALLOWED_ORIGINS"):
        websocket_application()
