"""Pages: parse the request, call selectors and services, render."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods
from redis.exceptions import RedisError

from chat import selectors
from chat.identity import GUEST_NAME_KEY, NicknameError, check_nickname, random_guest_name
from chat.models import Room
from chat.presence import presence

logger = logging.getLogger(__name__)


def _online_counts(rooms: list[Room]) -> dict[str, int]:
    try:
        return presence().online_counts([room.slug for room in rooms])
    except (RedisError, OSError):
        logger.warning("online counts unavailable: redis down")
        return {}


def room_index(request: HttpRequest) -> HttpResponse:
    rooms = list(selectors.room_list())
    counts = _online_counts(rooms)
    listed = [(room, counts.get(room.slug)) for room in rooms]
    return render(request, "chat/index.html", {"rooms": listed})


@require_http_methods(["GET", "POST"])
def room_detail(request: HttpRequest, slug: str) -> HttpResponse:
    room = get_object_or_404(Room, slug=slug)
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
    rooms = list(selectors.room_list())
    counts = _online_counts(rooms)
    context = {
        "room": room,
        "rooms": [(r, counts.get(r.slug)) for r in rooms],
        "nickname_error": nickname_error,
        "you": request.user.get_username() if request.user.is_authenticated else request.session[GUEST_NAME_KEY],
        "max_body": settings.CHAT_MAX_BODY,
    }
    return render(request, "chat/room.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
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
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)
