"""Pages: parse the request, call selectors and services, render."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from chat import metrics
from chat.identity import GUEST_NAME_KEY, Identity, NicknameError, check_nickname, identity_of, random_guest_name
from chat.models import Room
from chat.presence import presence
from chat.rights import rights_get, room_list_visible
from chat.worker import worker

logger = logging.getLogger(__name__)


def _online_counts(rooms: list[Room]) -> dict[str, int]:
    try:
        return presence().online_counts([room.slug for room in rooms])
    except (RedisError, OSError):
        logger.warning("online counts unavailable: redis down")
        return {}


def _visitor(request: HttpRequest) -> Identity:
    return identity_of(request.user, request.session)


def _listed_rooms(request: HttpRequest) -> list[tuple[Room, int | None]]:
    rooms = list(room_list_visible(who=_visitor(request)))
    counts = _online_counts(rooms)
    return [(room, counts.get(room.slug)) for room in rooms]


def room_index(request: HttpRequest) -> HttpResponse:
    return render(request, "chat/index.html", {"rooms": _listed_rooms(request)})


@never_cache
def room_online_counts(request: HttpRequest) -> JsonResponse:
    """How many people are online in each room the visitor may see: the room lists poll this."""
    rooms = list(room_list_visible(who=_visitor(request)))
    counts = _online_counts(rooms)
    return JsonResponse({"online": {room.slug: counts.get(room.slug) for room in rooms}})


@require_http_methods(["GET", "POST"])
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    visitor = _visitor(request)
    rights = rights_get(slug=slug, who=visitor)
    if rights is None:
        raise Http404("No such room.")
    room = rights.room
    refusal = rights.join_refusal(visitor)
    if refusal is not None:
        logger.warning("refused %s (%s) the room %s: %s", visitor.name, visitor.key, slug, refusal)
    if refusal == "members":
        raise Http404("No such room.")  # as if it did not exist: strangers learn nothing of it
    if refusal == "guests":
        return redirect_to_login(request.get_full_path())
    if refusal == "banned":
        return render(request, "chat/banned.html", {"room": room}, status=403)
    nickname_error = None
    if not request.user.is_authenticated:
        if request.method == "POST":
            try:
                request.session[GUEST_NAME_KEY] = check_nickname(request.POST.get("nickname", ""))
                return redirect("chat:room", slug=room.slug)
            except NicknameError as error:
                nickname_error = str(error)
        # Guests need a session (so that their tabs share one name) before the socket opens.
        request.session.setdefault(GUEST_NAME_KEY, random_guest_name())
    context = {
        "room": room,
        "rooms": _listed_rooms(request),
        "nickname_error": nickname_error,
        "you": request.user.get_username() if request.user.is_authenticated else request.session[GUEST_NAME_KEY],
        "max_body": settings.CHAT_MAX_BODY,
    }
    return render(request, "chat/room.html", context)


def _dependency_checks() -> dict[str, str]:
    """The database and (when configured) Redis: "ok", or the class of the error each raised."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is "not healthy"
        checks["database"] = f"error: {exc.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            presence().ping()
            checks["redis"] = "ok"
        except (RedisError, OSError) as exc:
            checks["redis"] = f"error: {exc.__class__.__name__}"
    return checks


def _checks_response(checks: dict[str, str]) -> JsonResponse:
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


def healthz(request: HttpRequest) -> JsonResponse:
    return _checks_response(_dependency_checks())


def readyz(request: HttpRequest) -> JsonResponse:
    """Whether to send this worker new clients: what /healthz checks, and not shutting down."""
    # A draining worker is healthy but sends newcomers away with 1012: a load balancer that polls
    # this stops routing to it, where /healthz would keep it in the pool until its port closed.
    checks = _dependency_checks()
    checks["worker"] = "draining" if worker().closing else "ok"
    return _checks_response(checks)


# Headers a reverse proxy adds. Behind one on the same host every request comes from 127.0.0.1, so
# a request that carries one is the proxy's client, never a scraper at an allowed address.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def _metrics_allowed(request: HttpRequest) -> bool:
    """Whether the request may read /metrics: from an allowed address, not proxied, with the token if set."""
    if any(header in request.META for header in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False  # not an IP peer (a Unix socket): not on any list
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # a dual-stack listener reports 127.0.0.1 as ::ffff:127.0.0.1
    networks = [ipaddress.ip_network(entry, strict=False) for entry in settings.CHAT_METRICS_ALLOWED_ADDRESSES]
    if not any(address in network for network in networks):
        return False
    if not settings.CHAT_METRICS_TOKEN:
        return True
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # In constant time, so that response times do not reveal how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.CHAT_METRICS_TOKEN.encode()
    )


@never_cache
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """This worker's metrics in Prometheus text format (docs/deployment.md, "Metrics")."""
    if not settings.CHAT_METRICS:
        raise Http404  # off: as if there were no such page, whatever the method
    if not _metrics_allowed(request):
        return HttpResponseForbidden()
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return HttpResponse(metrics.exposition(), content_type=metrics.CONTENT_TYPE)
