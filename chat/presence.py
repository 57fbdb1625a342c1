"""Who is online in each room, where every worker sees it, and the typing throttle.

A user is online in a room while any of their connections is. Connections are kept with an expiry
that their worker's heartbeat pushes forward; a killed worker's connections simply run out, and the
next sweep (by any worker) turns them into "leave" events, each exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol, cast

import orjson
import redis
from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from chat import protocol, redisconn, shards
from chat.identity import Identity, LookAlikes

User = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    changed: bool  # the user's first connection joined / last connection left
    online: int  # users online in the room afterwards
    users: tuple[User, ...] = ()  # after a join: who is online, the joiner included
    # After a join: their names' look-alike index, one for all the joiners that one read answered.
    look_alikes: LookAlikes | None = None


class Presence(Protocol):
    async def join(self, room: str, who: Identity, conn: str) -> Change: ...

    async def leave(self, room: str, who: Identity, conn: str) -> Change: ...

    async def online(self, room: str) -> list[User]: ...

    async def refresh(self, room: str, members: list[tuple[Identity, str]]) -> int: ...

    async def sweep(self, room: str) -> tuple[list[User], int]: ...

    async def typing_allowed(self, room: str, who: Identity) -> bool: ...

    def online_counts(self, rooms: list[str]) -> dict[str, int]: ...

    def ping(self) -> None: ...


def _user(who: Identity) -> User:
    return dict(protocol.user_dict(who))


# -- Redis -------------------------------------------------------------------------------------

# Several joins to one room at once. KEYS: users (zset user -> expiry), names (hash user -> json),
# then each joiner's conns (zset conn -> expiry). ARGV: now, expiry, ttl (ms), then per joiner
# (user, conn, json). Returns whether each joiner is the user's first connection, and who is online.
_JOIN = """
local now, expiry, ttl = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local firsts = {}
for j = 3, #KEYS do
  local i = 4 + (j - 3) * 3
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  firsts[j - 2] = (score and tonumber(score) > now) and 0 or 1
  redis.call('ZADD', KEYS[j], expiry, ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[j], ttl)
  redis.call('ZADD', KEYS[1], 'GT', expiry, ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
-- Who is online, in the same step: a joiner's list can never disagree with its join.
local names = {}
for i, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  names[i] = redis.call('HGET', KEYS[2], user) or ''
end
return {firsts, names}
"""

_LEAVE = """
local now = ARGV[3]
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local left = 0
if redis.call('ZCARD', KEYS[3]) == 0 then
  -- 0 when a sweep already announced this user's departure
  left = redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return {left, redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
"""

# ARGV: conns key prefix, now, expiry, ttl, then (user, conn, json) triples
_REFRESH = """
local prefix, now, expiry, ttl = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV, 3 do
  local conns = prefix .. ARGV[i]
  redis.call('ZADD', conns, expiry, ARGV[i + 1])
  redis.call('PEXPIRE', conns, ttl)
  redis.call('ZADD', KEYS[1], 'GT', expiry, ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""

_SWEEP = """
local prefix, now = ARGV[1], ARGV[2]
local gone = {}
for _, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do
  redis.call('ZREM', KEYS[1], user)
  local json = redis.call('HGET', KEYS[2], user)
  redis.call('HDEL', KEYS[2], user)
  redis.call('DEL', prefix .. user)
  if json then table.insert(gone, json) end
end
return {gone, redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')}
"""

_ONLINE = """
local names = {}
for i, user in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  names[i] = redis.call('HGET', KEYS[2], user) or ''
end
return names
"""


class RedisPresence:
    """Presence in Redis; with several shards (chat.shards) each room's keys live on the room's shard."""

    def __init__(self, url: str, prefix: str, ttl: float) -> None:
        self.url = url
        self.ring = shards.ring(url)
        self.prefix = f"{prefix}:p"
        self.ttl = ttl
        self._sync: dict[int, redis.Redis] = {}
        # Joins waiting for their room's script, and the task that sends them (RedisPresence.join).
        self._joining: dict[str, list[tuple[Identity, str, asyncio.Future[Change]]]] = {}
        self._join_runners: dict[str, asyncio.Future[None]] = {}

    def _client(self, room: str) -> aioredis.Redis:
        return redisconn.client(self.ring.shard(room).url)

    def _sync_client(self, index: int) -> redis.Redis:
        found = self._sync.get(index)
        if found is None:
            found = self._sync[index] = redisconn.sync_client(self.ring.shards[index].url)
        return found

    async def _eval(self, room: str, script: str, keys: list[str], *args: Any) -> Any:
        # redis-py types eval() as sync-or-async; this client is the async one.
        return await cast("Awaitable[Any]", self._client(room).eval(script, len(keys), *keys, *args))

    def _keys(self, room: str) -> tuple[str, str]:
        return f"{self.prefix}:{room}:users", f"{self.prefix}:{room}:names"

    def _conns(self, room: str, who: Identity) -> str:
        return f"{self.prefix}:{room}:u:{who.key}"

    def _key_ttl_ms(self) -> int:
        return int(self.ttl * 4000)

    async def join(self, room: str, who: Identity, conn: str) -> Change:
        """Record the connection; joins that come while the room's last ones are on their way go together.

        A burst of joins to one room (a deploy, a blip) then costs Redis one script, and this worker
        one read of the online list, per round trip instead of per joiner.
        """
        joined: asyncio.Future[Change] = asyncio.get_running_loop().create_future()
        self._joining.setdefault(room, []).append((who, conn, joined))
        if room not in self._join_runners:
            self._join_runners[room] = asyncio.ensure_future(self._join_all(room))
        return await joined

    async def _join_all(self, room: str) -> None:
        try:
            while batch := self._joining.pop(room, None):
                try:
                    changes = await self._join_batch(room, [(who, conn) for who, conn, _ in batch])
                except BaseException as exc:
                    for _, _, joined in batch:
                        if not joined.done():
                            joined.set_exception(exc)
                    if not isinstance(exc, Exception):
                        raise
                    continue
                for (_, _, joined), change in zip(batch, changes, strict=True):
                    if not joined.done():  # the joiner gave up waiting
                        joined.set_result(change)
        finally:
            # With nothing left to send (no await since the check): the next join starts a runner.
            del self._join_runners[room]

    async def _join_batch(self, room: str, joiners: list[tuple[Identity, str]]) -> list[Change]:
        now = time.time()
        args: list[Any] = [now, now + self.ttl, self._key_ttl_ms()]
        for who, conn in joiners:
            args += [who.key, conn, orjson.dumps(_user(who))]
        keys = [*self._keys(room), *(self._conns(room, who) for who, _ in joiners)]
        firsts, names = await self._eval(room, _JOIN, keys, *args)
        users = tuple(orjson.loads(name) for name in names if name)
        look_alikes = LookAlikes(users)
        return [
            Change(changed=bool(first), online=len(names), users=users, look_alikes=look_alikes) for first in firsts
        ]

    async def leave(self, room: str, who: Identity, conn: str) -> Change:
        left, online = await self._eval(
            room, _LEAVE, [*self._keys(room), self._conns(room, who)], who.key, conn, time.time()
        )
        return Change(changed=bool(left), online=int(online))

    async def online(self, room: str) -> list[User]:
        found = await self._eval(room, _ONLINE, [*self._keys(room)], time.time())
        return [orjson.loads(item) for item in found if item]

    async def refresh(self, room: str, members: list[tuple[Identity, str]]) -> int:
        now = time.time()
        args: list[Any] = [f"{self.prefix}:{room}:u:", now, now + self.ttl, self._key_ttl_ms()]
        for who, conn in members:
            args += [who.key, conn, orjson.dumps(_user(who))]
        return int(await self._eval(room, _REFRESH, [*self._keys(room)], *args))

    async def sweep(self, room: str) -> tuple[list[User], int]:
        gone, online = await self._eval(room, _SWEEP, [*self._keys(room)], f"{self.prefix}:{room}:u:", time.time())
        return [orjson.loads(item) for item in gone], int(online)

    async def typing_allowed(self, room: str, who: Identity) -> bool:
        key = f"{self.prefix}:{room}:typing:{who.key}"
        interval_ms = int(settings.CHAT_TYPING_INTERVAL_SECONDS * 1000)
        return bool(await self._client(room).set(key, 1, nx=True, px=interval_ms))

    def online_counts(self, rooms: list[str]) -> dict[str, int]:
        """Each room's count; rooms on a shard that does not answer are left out (all down: the error)."""
        now = time.time()
        by_shard: dict[int, list[str]] = {}
        for room in rooms:
            by_shard.setdefault(self.ring.index(room), []).append(room)
        found: dict[str, int] = {}
        failure: RedisError | OSError | None = None
        for index, these in by_shard.items():
            try:
                with self._sync_client(index).pipeline(transaction=False) as pipe:
                    for room in these:
                        pipe.zcount(self._keys(room)[0], f"({now}", "+inf")
                    counts = pipe.execute()
            except (RedisError, OSError) as exc:
                failure = exc
                continue
            found.update(zip(these, (int(c) for c in counts), strict=True))
        if failure is not None and not found:
            raise failure
        return found

    def ping(self) -> None:
        """Raise only when no shard answers."""
        # A dead shard is the same for every worker: a health check failing on all of them would
        # take the whole site out of the load balancer, the rooms on the other shards included.
        failure: RedisError | OSError | None = None
        for index in range(len(self.ring)):
            try:
                self._sync_client(index).ping()
            except (RedisError, OSError) as exc:
                failure = exc
                continue
            return
        assert failure is not None
        raise failure


# -- One process -------------------------------------------------------------------------------


@dataclass
class _Room:
    conns: dict[str, dict[str, float]] = field(default_factory=dict)  # user key -> conn -> expiry
    users: dict[str, User] = field(default_factory=dict)
    typing: dict[str, float] = field(default_factory=dict)


class LocalPresence:
    """The same rules in process memory, for the single-process (in-memory layer) set-up only."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._rooms: dict[str, _Room] = {}

    def _room(self, room: str) -> _Room:
        return self._rooms.setdefault(room, _Room())

    @staticmethod
    def _live(state: _Room, now: float) -> int:
        return sum(1 for conns in state.conns.values() if any(exp > now for exp in conns.values()))

    async def join(self, room: str, who: Identity, conn: str) -> Change:
        state, now = self._room(room), time.time()
        conns = state.conns.setdefault(who.key, {})
        first = not any(exp > now for exp in conns.values())
        conns[conn] = now + self.ttl
        state.users[who.key] = _user(who)
        users = tuple(await self.online(room))
        return Change(changed=first, online=len(users), users=users, look_alikes=LookAlikes(users))

    async def leave(self, room: str, who: Identity, conn: str) -> Change:
        state, now = self._room(room), time.time()
        conns = state.conns.get(who.key)
        left = False
        if conns is not None:
            conns.pop(conn, None)
            if not any(exp > now for exp in conns.values()):
                del state.conns[who.key]
                state.users.pop(who.key, None)
                left = True
        return Change(changed=left, online=self._live(state, now))

    async def online(self, room: str) -> list[User]:
        state, now = self._room(room), time.time()
        return [state.users[key] for key, conns in state.conns.items() if any(e > now for e in conns.values())]

    async def refresh(self, room: str, members: list[tuple[Identity, str]]) -> int:
        state, now = self._room(room), time.time()
        for who, conn in members:
            state.conns.setdefault(who.key, {})[conn] = now + self.ttl
            state.users[who.key] = _user(who)
        return self._live(state, now)

    async def sweep(self, room: str) -> tuple[list[User], int]:
        state, now = self._room(room), time.time()
        gone = [key for key, conns in state.conns.items() if not any(e > now for e in conns.values())]
        users = [state.users.pop(key) for key in gone if key in state.users]
        for key in gone:
            del state.conns[key]
        return users, self._live(state, now)

    async def typing_allowed(self, room: str, who: Identity) -> bool:
        state, now = self._room(room), time.monotonic()
        if state.typing.get(who.key, 0.0) > now:
            return False
        state.typing[who.key] = now + settings.CHAT_TYPING_INTERVAL_SECONDS
        return True

    def online_counts(self, rooms: list[str]) -> dict[str, int]:
        now = time.time()
        return {room: self._live(self._rooms[room], now) if room in self._rooms else 0 for room in rooms}

    def ping(self) -> None:
        return None


@cache
def presence() -> Presence:
    """The process's presence store: Redis when the site has one, else this process's memory."""
    if settings.REDIS_URL:
        return RedisPresence(settings.REDIS_URL, settings.CHAT_LAYER_PREFIX, settings.CHAT_PRESENCE_TTL_SECONDS)
    return LocalPresence(settings.CHAT_PRESENCE_TTL_SECONDS)
