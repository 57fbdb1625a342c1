"""Which pages may open a WebSocket to this site: the Origin check, with refusals logged."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, cast
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# Enough to recognise an origin in the log; a longer header is someone's junk, not a page.
LOGGED_ORIGIN_CHARS = 200


class LoggedOriginValidator(OriginValidator):  # type: ignore[misc]  # channels is untyped
    """Channels' OriginValidator that logs each refusal, and refuses (not crashes on) a garbled Origin.

    Like chat.transport.TransportMiddleware it returns the coroutine of the application it picks
    instead of awaiting it: nothing of it stays suspended while the socket is open.
    """

    _asgi_single_callable = True

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[Any]:
        if scope["type"] != "websocket":
            raise ValueError("LoggedOriginValidator only guards WebSocket connections")
        # As in channels, the last Origin header counts; browsers send exactly one.
        origins = [value for name, value in scope.get("headers", []) if name == b"origin"]
        raw = origins[-1] if origins else None
        if self.valid_origin(_parse(raw)):
            return cast("Awaitable[Any]", self.application(scope, receive, send))
        shown = "absent" if raw is None else repr(raw.decode("latin1")[:LOGGED_ORIGIN_CHARS])
        logger.warning("websocket refused: origin %s is not allowed for %r", shown, scope.get("path", "?"))
        return cast("Awaitable[Any]", WebsocketDenier()(scope, receive, send))

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        try:
            return bool(super().valid_origin(parsed_origin))
        except ValueError:  # a port that is not a number, "http://host:x"
            return False


def _parse(raw: bytes | None) -> ParseResult | None:
    if raw is None:
        return None
    try:
        return urlparse(raw.decode("latin1"))
    except ValueError:  # e.g. an unclosed IPv6 bracket, "http://[::1"
        return None


def check_origins(origins: list[str]) -> list[str]:
    """Validate CHAT_ALLOWED_ORIGINS: each must be a full http(s) origin, or the check would be host-only."""
    for origin in origins:
        parsed = urlparse(origin)
        try:
            parsed.port  # noqa: B018  # raises on a port that is not a number
        except ValueError:
            parsed = parsed._replace(scheme="")
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/"):
            raise ImproperlyConfigured(
                f"DJANGO_WS_ALLOWED_ORIGINS (CHAT_ALLOWED_ORIGINS): {origin!r} is not an origin"
                " like https://chat.example.com[:port]"
            )
    return origins


def origin_validator(application: Any) -> LoggedOriginValidator:
    """The WebSocket Origin check the settings ask for: full origins if CHAT_ALLOWED_ORIGINS, else hosts."""
    if settings.CHAT_ALLOWED_ORIGINS:
        # Patterns with a scheme make channels compare the scheme and the port (80/443 when omitted).
        return LoggedOriginValidator(application, check_origins(list(settings.CHAT_ALLOWED_ORIGINS)))
    # What channels' AllowedHostsOriginValidator does: the host part only, from ALLOWED_HOSTS.
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    return LoggedOriginValidator(application, hosts)
