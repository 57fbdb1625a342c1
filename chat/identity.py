"""Who is on the other end of a connection or request: a user, or a guest with a nickname."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from chat.models import NameClaim
from chat.names import name_normalize, name_skeleton_digests

GUEST_NAME_KEY = "chat_guest_name"
NICKNAME_RE = re.compile(r"[\w.-]{2,32}")


@dataclass(frozen=True, slots=True)
class Identity:
    key: str  # stable across a person's tabs: "u:<id>" or "g:<session>"
    name: str
    guest: bool
    user_id: int | None = None


class NicknameError(ValueError):
    pass


def random_guest_name() -> str:
    return f"guest-{secrets.token_hex(3)}"


def check_nickname(nickname: str) -> str:
    """Validate a guest's chosen name and return it normalised; no guest may pose as a registered user."""
    # Normalised first, so that the rule below sees what the page will show (full-width letters as
    # plain ones, no invisible characters).
    nickname = name_normalize(nickname)
    if not NICKNAME_RE.fullmatch(nickname):
        raise NicknameError("Use 2 to 32 letters, digits, dots, hyphens or underscores.")
    # Look-alikes, not just case variants (chat.names): either skeleton of the nickname against either
    # of every registered name, through the claims' indexes rather than a scan of the users.
    digests = name_skeleton_digests(nickname)
    if NameClaim.objects.filter(Q(skeleton__in=digests) | Q(skeleton_as_drawn__in=digests)).exists():
        raise NicknameError("That name belongs to a registered user.")
    return nickname


def identity_from_scope(scope: dict[str, Any]) -> Identity:
    """The identity of a WebSocket connection (after AuthMiddlewareStack); sync, touches the session."""
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        return Identity(key=f"u:{user.pk}", name=user.get_username(), guest=False, user_id=user.pk)
    session = scope.get("session")
    if session is not None and session.session_key:
        name = session.get(GUEST_NAME_KEY) or random_guest_name()
        # Stored with each message: a digest, so that the table never holds a usable session key.
        digest = hashlib.sha256(session.session_key.encode()).hexdigest()[:32]
        return Identity(key=f"g:{digest}", name=name, guest=True)
    # No session (a script, or cookies off): a guest for this connection only.
    return Identity(key=f"c:{secrets.token_hex(8)}", name=random_guest_name(), guest=True)
