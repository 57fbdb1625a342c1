"""Who is on the other end of a connection or request: a user, or a guest with a nickname."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, replace
from importlib import import_module
from typing import Any, cast

from channels import auth as channels_auth
from channels.auth import AuthMiddleware, UserLazyObject
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.http.cookie import parse_cookie

from chat.models import NameClaim
from chat.names import name_normalize, name_skeleton_digests

GUEST_NAME_KEY = "chat_guest_name"
# Keys of guests without a session: new, and random, for each connection.
CONNECTION_KEY_PREFIX = "c:"
NICKNAME_RE = re.compile(r"[\w.-]{2,32}")
# What NICKNAME_RE asks for, in words: guest nicknames and registered usernames alike.
NICKNAME_RULE = "Use 2 to 32 letters, digits, dots, hyphens or underscores."


@dataclass(frozen=True, slots=True)
class Identity:
    key: str  # stable across a person's tabs: "u:<id>" or "g:<session>"
    name: str
    guest: bool
    user_id: int | None = None
    staff: bool = False  # staff moderate every room


class NicknameError(ValueError):
    pass


def random_guest_name() -> str:
    return f"guest-{secrets.token_hex(3)}"


def name_taken(name: str) -> bool:
    """Whether a name looks like (not only equals) the name of a registered user."""
    # Look-alikes, not just case variants (chat.names): either skeleton of the name against either
    # of every registered name, through the claims' indexes rather than a scan of the users.
    digests = name_skeleton_digests(name)
    return NameClaim.objects.filter(Q(skeleton__in=digests) | Q(skeleton_as_drawn__in=digests)).exists()


def check_nickname(nickname: str) -> str:
    """Validate a guest's chosen name and return it normalised; no guest may pose as a registered user."""
    # Normalised first, so that the rule below sees what the page will show (full-width letters as
    # plain ones, no invisible characters).
    nickname = name_normalize(nickname)
    if not NICKNAME_RE.fullmatch(nickname):
        raise NicknameError(NICKNAME_RULE)
    if name_taken(nickname):
        raise NicknameError("That name belongs to a registered user.")
    return nickname


# A skeleton that more than one person present holds.
_SEVERAL = ""


class LookAlikes:
    """Who in a room holds each name skeleton (chat.names): for distinct_name, indexed on first use.

    One presence read serves every joiner of its batch (chat.presence), and so does this index: a
    burst of joins to a room compares each joiner with one index, not with everyone present again.
    Building it costs what one comparison with everyone did.
    """

    __slots__ = ("_holder", "_users")

    def __init__(self, users: Iterable[Mapping[str, Any]]) -> None:
        self._users = users  # (id, name) of the people present, as the presence list has them
        self._holder: dict[str, str] | None = None  # skeleton digest -> its holder's id, or _SEVERAL

    def _index(self) -> dict[str, str]:
        if self._holder is None:
            holder: dict[str, str] = {}
            for user in self._users:
                uid = user["id"]
                for digest in name_skeleton_digests(user["name"]):
                    if holder.setdefault(digest, uid) != uid:
                        holder[digest] = _SEVERAL
            self._holder = holder
        return self._holder

    def held_by_another(self, name: str, who_id: str) -> bool:
        """Whether someone present other than `who_id` (a person's id, shared by their tabs) looks like `name`."""
        holder = self._index()
        for digest in name_skeleton_digests(name):
            found = holder.get(digest)
            if found is not None and found != who_id:
                return True
        return False


def distinct_name(who: Identity, *, present: LookAlikes, who_id: str) -> Identity:
    """`who`, or for a guest whose name looks like that of someone else present, `who` with a suffix.

    `present` holds the people in the room, `who_id` is the guest's own id (their other tabs share
    it). No two people present show one name: the second guest called bob is shown as bob-3f2a,
    from their id, in this room for as long as they stay.
    """
    if not who.guest:
        return who  # registered names are unique, and no guest may take a look-alike of one
    name = who.name
    for length in (4, 8, 16):
        if not present.held_by_another(name, who_id):
            return who if name == who.name else replace(who, name=name)
        name = f"{who.name}-{who_id[:length]}"
    return replace(who, name=name)


def identity_from_scope(scope: dict[str, Any]) -> Identity:
    """The identity of a WebSocket connection (after auth_middleware_stack); sync, touches the session."""
    return identity_of(scope.get("user"), scope.get("session"))


def identity_of(user: Any, session: Any) -> Identity:
    """Who a request or connection is, from its user and session: the same person on the page and the socket."""
    if user is not None and user.is_authenticated:
        staff = bool(user.is_staff or user.is_superuser)
        return Identity(key=f"u:{user.pk}", name=user.get_username(), guest=False, user_id=user.pk, staff=staff)
    if session is not None and session.session_key:
        name = session.get(GUEST_NAME_KEY) or random_guest_name()
        # Stored with each message: a digest, so that the table never holds a usable session key.
        digest = hashlib.sha256(session.session_key.encode()).hexdigest()[:32]
        return Identity(key=f"g:{digest}", name=name, guest=True)
    # No session (a script, or cookies off): a guest for this connection only.
    return Identity(key=f"{CONNECTION_KEY_PREFIX}{secrets.token_hex(8)}", name=random_guest_name(), guest=True)


def is_one_connection(key: str) -> bool:
    """Whether the identity key is a guest's who exists for one connection only (no session)."""
    return key.startswith(CONNECTION_KEY_PREFIX)


class SessionAuthMiddleware(AuthMiddleware):  # type: ignore[misc]
    """Channels' AuthMiddleware, without its trip to the database thread when there is no session.

    A connection without a session cookie is anonymous whatever the database holds; Channels would
    still hop to its one database thread to find that out, and every join would wait its turn there.
    """

    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        if scope["session"].session_key is None:
            scope["user"]._wrapped = AnonymousUser()
            return
        await super().resolve_scope(scope)


class ConnectionAuthMiddleware:
    """Channels' CookieMiddleware, SessionMiddleware and AuthMiddleware as one, for WebSockets.

    The same scope keys: "cookies", "session" (the session store itself, where Channels puts a
    LazyObject around it) and "user" (resolved as SessionAuthMiddleware does). Stacked, the three
    keep four copies of the scope and three suspended coroutines for as long as a socket is open,
    and every ASGI send goes through the session wrapper's check for a modified session, which
    Channels saves only on an HTTP response start: the bulk of what a site's idle sockets cost
    above bare daphne (docs/performance.md, "Memory per connection"). CHAT_AUTH_MIDDLEWARE =
    "channels" puts Channels' stack back. Only a socket with a session keeps a frame of this one
    suspended, where its user was resolved.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cookie_name = settings.SESSION_COOKIE_NAME
        self.session_store = import_module(settings.SESSION_ENGINE).SessionStore

    _asgi_single_callable = True  # a plain method that returns a coroutine (asgiref's hint)

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[Any]:
        cookies: dict[str, str] = {}
        for name, value in scope["headers"]:
            if name == b"cookie":
                cookies = parse_cookie(value.decode("latin1"))
                break
        session = self.session_store(cookies.get(self.cookie_name))
        user = UserLazyObject()
        scope = {**scope, "cookies": cookies, "session": session, "user": user}
        if session.session_key is None:
            # Anonymous whatever the database holds: the inner coroutine itself, with no frame of
            # this middleware left suspended under it for the life of the socket.
            user._wrapped = AnonymousUser()
            return cast("Awaitable[Any]", self.inner(scope, receive, send))
        return self._as_user(scope, receive, send)

    async def _as_user(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        scope["user"]._wrapped = await channels_auth.get_user(scope)
        return await self.inner(scope, receive, send)


def auth_middleware_stack(inner: Any) -> Any:
    """Cookies, session and user in the scope: ConnectionAuthMiddleware, or Channels' own stack."""
    if settings.CHAT_AUTH_MIDDLEWARE == "channels":
        return CookieMiddleware(SessionMiddleware(SessionAuthMiddleware(inner)))
    return ConnectionAuthMiddleware(inner)
