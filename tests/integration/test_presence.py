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


# -- Joins to one room at once, on Redis (RedisPresence.join batches them) -----------------------


@pytest.fixture
def redis_store() -> Iterator[RedisPresence]:
    prefix = f"t{uuid.uuid4().hex[:10]}"
    yield RedisPresence(REDIS_URL, prefix, ttl=30)
    delete_prefix(REDIS_URL, prefix)


async def test_joins_at_once_share_a_script_and_each_learns_its_own_news(
    redis_store: RedisPresence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    await redis_store.join("hall", ALICE, "alice-tab1")  # online before the burst
    scripts: list[int] = []
    evaluate = redis_store._eval

    async def counted(room: str, script: str, keys: list[str], *args: object) -> object:
        scripts.append(len(keys))
        return await evaluate(room, script, keys, *args)

    monkeypatch.setattr(redis_store, "_eval", counted)
    people = [Identity(key=f"g:{i}", name=f"p{i}", guest=True) for i in range(17)]
    joins = [(who, f"c{i}") for i, who in enumerate(people)]
    joins[5:5] = [(BOB, "bob-tab1")]
    joins += [(BOB, "bob-tab2"), (ALICE, "alice-tab2")]  # more tabs of someone in the burst, and of alice
    assert len(joins) == 20

    changes = await asyncio.wait_for(asyncio.gather(*(redis_store.join("hall", who, conn) for who, conn in joins)), 5)

    everyone = sorted([ALICE.name, BOB.name, *(who.name for who in people)])
    for change in changes:
        assert sorted(user["name"] for user in change.users) == everyone
        assert change.online == len(everyone)
    news = {who.key: 0 for who, _ in joins}
    for (who, _), change in zip(joins, changes, strict=True):
        news[who.key] += change.changed
    assert news == {**{who.key: 1 for who, _ in joins}, ALICE.key: 0}  # alice was online already
    assert [change.changed for (who, _), change in zip(joins, changes, strict=True) if who == BOB] == [True, False]
    assert 1 <= len(scripts) < len(joins)
    # One look-alike index per script: a joiner's distinct name costs a lookup, not a scan of the room.
    assert len({id(change.look_alikes) for change in changes}) == len(scripts)
    assert sorted(u["name"] for u in await redis_store.online("hall")) == everyone


async def test_joins_that_come_while_a_script_is_on_its_way_go_in_the_next_one(
    redis_store: RedisPresence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    sent, release = asyncio.Event(), asyncio.Event()
    scripts: list[int] = []
    evaluate = redis_store._eval

    async def slow(room: str, script: str, keys: list[str], *args: object) -> object:
        scripts.append(len(keys) - 2)  # joiners in this script
        sent.set()
        await release.wait()
        return await evaluate(room, script, keys, *args)

    monkeypatch.setattr(redis_store, "_eval", slow)
    first = asyncio.ensure_future(redis_store.join("hall", ALICE, "a1"))
    await asyncio.wait_for(sent.wait(), 5)
    people = [Identity(key=f"g:{i}", name=f"p{i}", guest=True) for i in range(6)]
    rest = [asyncio.ensure_future(redis_store.join("hall", who, f"c{i}")) for i, who in enumerate(people)]
    await asyncio.sleep(0.01)
    release.set()
    changes = await asyncio.wait_for(asyncio.gather(first, *rest), 5)
    assert scripts == [1, 6]
    assert all(change.changed for change in changes)
    assert len(changes[-1].users) == 7 and len(changes[0].users) == 1


async def test_a_redis_error_reaches_every_joiner_of_its_batch_and_later_joins_still_work(
    redis_store: RedisPresence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from redis.exceptions import ConnectionError as RedisConnectionError

    evaluate = redis_store._eval
    failures = [RedisConnectionError("Redis went away")]

    async def failing_once(room: str, script: str, keys: list[str], *args: object) -> object:
        if failures:
            raise failures.pop()
        return await evaluate(room, script, keys, *args)

    monkeypatch.setattr(redis_store, "_eval", failing_once)
    people = [Identity(key=f"g:{i}", name=f"p{i}", guest=True) for i in range(5)]
    joins = asyncio.gather(
        *(redis_store.join("hall", who, f"c{i}") for i, who in enumerate(people)), return_exceptions=True
    )
    outcomes = await asyncio.wait_for(joins, 5)
    assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes

    later = await asyncio.wait_for(redis_store.join("hall", BOB, "b1"), 5)
    assert (later.changed, [u["name"] for u in later.users]) == (True, ["bob"])  # the failed batch left nothing


async def test_joins_to_an_unreachable_redis_fail_every_time_without_hanging() -> None:
    import asyncio

    from redis.exceptions import ConnectionError as RedisConnectionError

    from tests.servers import free_port

    store = RedisPresence(f"redis://127.0.0.1:{free_port()}/0", "t-unreachable", ttl=30)
    for _ in range(2):
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(store.join("hall", who, "c") for who in (ALICE, BOB)), return_exceptions=True), 10
        )
        assert all(isinstance(outcome, RedisConnectionError) for outcome in outcomes), outcomes


async def test_a_joiner_that_gives_up_does_not_stop_the_others_of_its_batch(
    redis_store: RedisPresence, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    release = asyncio.Event()
    evaluate = redis_store._eval

    async def slow(room: str, script: str, keys: list[str], *args: object) -> object:
        await release.wait()
        return await evaluate(room, script, keys, *args)

    monkeypatch.setattr(redis_store, "_eval", slow)
    quitter = asyncio.ensure_future(redis_store.join("hall", ALICE, "a1"))
    stayer = asyncio.ensure_future(redis_store.join("hall", BOB, "b1"))
    await asyncio.sleep(0.01)
    quitter.cancel()
    release.set()
    assert (await asyncio.wait_for(stayer, 5)).changed is True
    assert quitter.cancelled()
    assert (await asyncio.wait_for(redis_store.join("hall", BOB, "b2"), 5)).changed is False
