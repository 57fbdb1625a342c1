"""Presence rules, on real Redis and on the single-process store alike."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from chat import presence as presence_module
from chat.identity import Identity
from chat.presence import LocalPresence, Presence, RedisPresence
from chat.protocol import user_dict
from tests.servers import REDIS_URL, delete_prefix

pytestmark = pytest.mark.database_agnostic

ALICE = Identity(key="g:alice", name="alice", guest=True)
BOB = Identity(key="u:7", name="bob", guest=False)


@pytest.fixture(params=["redis", "local"])
def store(request: pytest.FixtureRequest) -> Iterator[Presence]:
    if request.param == "local":
        yield LocalPresence(ttl=30)
        return
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield RedisPresence(REDIS_URL, prefix, ttl=30)
    delete_prefix(REDIS_URL, prefix)


async def test_two_tabs_of_one_user_join_once_and_leave_once(store: Presence) -> None:
    assert (await store.join("den", ALICE, "tab1")).changed is True
    second = await store.join("den", ALICE, "tab2")
    assert (second.changed, second.online) == (False, 1)
    first_closed = await store.leave("den", ALICE, "tab1")
    assert (first_closed.changed, first_closed.online) == (False, 1)
    last_closed = await store.leave("den", ALICE, "tab2")
    assert (last_closed.changed, last_closed.online) == (True, 0)


async def test_online_lists_each_user_once_per_room(store: Presence) -> None:
    await store.join("den", ALICE, "a1")
    await store.join("den", ALICE, "a2")
    joined = await store.join("den", BOB, "b1")
    assert sorted(u["name"] for u in joined.users) == ["alice", "bob"]  # the joiner's own list
    await store.join("attic", BOB, "b2")
    online = await store.online("den")
    assert sorted(online, key=lambda u: u["name"]) == [
        user_dict(ALICE),
        user_dict(BOB),
    ]
    assert store.online_counts(["den", "attic", "empty"]) == {"den": 2, "attic": 1, "empty": 0}


async def test_connections_that_stop_refreshing_expire_and_are_swept_once(
    store: Presence, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000.0]
    monkeypatch.setattr(presence_module.time, "time", lambda: clock[0])
    await store.join("den", ALICE, "on-killed-worker")
    await store.join("den", BOB, "on-live-worker")
    clock[0] += 20
    await store.refresh("den", [(BOB, "on-live-worker")])  # only the live worker's heartbeat
    clock[0] += 15  # alice's connection is 35 s old: expired (ttl 30); bob's was refreshed 15 s ago
    assert await store.online("den") == [user_dict(BOB)]
    gone, online = await store.sweep("den")
    assert (gone, online) == ([user_dict(ALICE)], 1)
    assert await store.sweep("den") == ([], 1)  # announced exactly once
    # A late leave from the dead connection is not a second departure.
    assert (await store.leave("den", ALICE, "on-killed-worker")).changed is False


async def test_typing_is_allowed_once_per_interval_per_user(store: Presence) -> None:
    assert await store.typing_allowed("den", ALICE) is True
    assert await store.typing_allowed("den", ALICE) is False
    assert await store.typing_allowed("den", BOB) is True


async def test_a_mass_disconnect_is_recorded_in_full(store: Presence) -> None:
    """Hundreds of connections leaving at once (a worker restart) must not exhaust the Redis pool."""
    import asyncio

    people = [Identity(key=f"g:{i}", name=f"p{i}", guest=True) for i in range(200)]
    joined = await asyncio.gather(*(store.join("hall", who, f"c{i}") for i, who in enumerate(people)))
    assert all(change.changed for change in joined)
    left = await asyncio.gather(*(store.leave("hall", who, f"c{i}") for i, who in enumerate(people)))
    assert sum(change.changed for change in left) == 200
    assert await store.online("hall") == []
