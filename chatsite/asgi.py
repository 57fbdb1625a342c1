"""ASGI entry point: Django for HTTP, the chat consumers for WebSockets."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chat.apps import check_can_serve  # noqa: E402
from chat.identity import auth_middleware_stack  # noqa: E402
from chat.origins import origin_validator  # noqa: E402
from chat.routing import websocket_urlpatterns  # noqa: E402
from chat.transport import TransportMiddleware  # noqa: E402


def websocket_application() -> Any:
    """The WebSocket stack, built from the settings as they are now (tests build it under overrides)."""
    # TransportMiddleware is outermost because it needs the server's own `send`. The Origin check
    # (CHAT_ALLOWED_ORIGINS, else ALLOWED_HOSTS) comes before anything touches the session.
    return TransportMiddleware(origin_validator(auth_middleware_stack(URLRouter(websocket_urlpatterns))))


# Whatever ASGI server imports this, a production site without Redis refuses here.
check_can_serve()
application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websocket_application()})
