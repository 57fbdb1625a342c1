"""The shard list in REDIS_URL and the key -> shard rule (chat.shards)."""

from __future__ import annotations

from collections import Counter

import pytest

from chat import shards

pytestmark = pytest.mark.database_agnostic

A, B, C = "redis://10.0.0.1:6379/0", "redis://10.0.0.2:6379/0", "redis://10.0.0.3:6379/0"
ROOMS = [f"room-{i}" for i in range(3000)]


def placement(value: str, keys: list[str]) -> dict[str, str]:
    ring = shards.ring(value)
    return {key: ring.shard(key).name for key in keys}


def test_one_url_is_one_shard_used_exactly_as_written() -> None:
    ring = shards.ring("redis://:secret@127.0.0.1:6379/9")
    assert [s.url for s in ring.shards] == ["redis://:secret@127.0.0.1:6379/9"]
    assert ring.index("any room") == 0


def test_comma_separated_urls_are_shards_in_order_and_a_sentinel_url_keeps_its_commas() -> None:
    value = f"{A}, {B},redis+sentinel://:pw@127.0.0.1:26379,[::1]:26380,s3/mymaster/2"
    ring = shards.ring(value)
    assert [s.name for s in ring.shards] == ["10.0.0.1:6379/0", "10.0.0.2:6379/0", "sentinel:mymaster/2"]
    sentinel = ring.shards[2]
    assert sentinel.sentinels == (("127.0.0.1", 26379), ("::1", 26380), ("s3", 26379))
    assert (sentinel.master, sentinel.db, sentinel.password) == ("mymaster", 2, "pw")
    assert "pw" not in repr(sentinel)


@pytest.mark.parametrize(
    "value",
    ["", "127.0.0.1:6379", f"{A},{A}", "redis+sentinel://127.0.0.1:26379/", "http://10.0.0.1/", "redis://h/x"],
)
def test_a_value_that_names_no_usable_list_of_redis_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        shards.ring(value)


@pytest.mark.parametrize("value", ["redis://:hunter2@h/zero", "http://u:hunter2@h/", f"{A},redis://:hunter2@h/x"])
def test_an_error_about_a_url_does_not_show_its_password(value: str) -> None:
    with pytest.raises(ValueError, match=r"\*\*\*") as error:
        shards.ring(value)
    assert "hunter2" not in str(error.value)


def test_the_shard_of_a_key_is_pinned_so_that_a_new_release_moves_no_room() -> None:
    # Changing the hash would move every room and person at the next deploy: these must not change.
    got = placement(f"{A},{B}", ["lobby", "off-topic", "news", "u:1", "u:2"])
    assert got == {
        "lobby": "10.0.0.1:6379/0",
        "off-topic": "10.0.0.2:6379/0",
        "news": "10.0.0.1:6379/0",
        "u:1": "10.0.0.1:6379/0",
        "u:2": "10.0.0.2:6379/0",
    }


def test_rooms_spread_evenly_over_the_shards() -> None:
    for value, count in ((f"{A},{B}", 2), (f"{A},{B},{C}", 3)):
        per_shard = Counter(placement(value, ROOMS).values())
        assert len(per_shard) == count
        assert all(abs(n - len(ROOMS) / count) < 0.06 * len(ROOMS) for n in per_shard.values()), per_shard


def test_the_order_of_the_list_and_a_password_change_move_nothing() -> None:
    before = placement(f"{A},{B},{C}", ROOMS)
    assert placement(f"{C},{A},{B}", ROOMS) == before
    assert placement(f"redis://:new@10.0.0.1:6379/0,{B},{C}", ROOMS) == before


def test_removing_a_shard_moves_only_the_rooms_it_held() -> None:
    before = placement(f"{A},{B},{C}", ROOMS)
    after = placement(f"{A},{C}", ROOMS)
    moved = {room for room in ROOMS if after[room] != before[room]}
    assert moved == {room for room in ROOMS if before[room] == "10.0.0.2:6379/0"}
    # They spread over what is left, not all onto one neighbour.
    assert min(Counter(after[room] for room in moved).values()) > 0.4 * len(moved)


def test_adding_a_shard_moves_about_one_room_in_n_and_all_of_them_onto_the_new_shard() -> None:
    before = placement(f"{A},{B}", ROOMS)
    after = placement(f"{A},{B},{C}", ROOMS)
    moved = [room for room in ROOMS if after[room] != before[room]]
    assert {after[room] for room in moved} == {"10.0.0.3:6379/0"}
    assert abs(len(moved) - len(ROOMS) / 3) < 0.06 * len(ROOMS)


def test_a_rooms_group_is_placed_by_the_rooms_slug() -> None:
    ring = shards.ring(f"{A},{B},{C}")
    for slug in ROOMS[:200]:
        assert ring.index(shards.group_key(f"room.{slug}")) == ring.index(slug)
    assert shards.group_key("nodot") == "nodot"


def test_channels_redis_gets_the_same_servers_in_its_hosts_format() -> None:
    hosts = shards.channels_redis_hosts(f"{A},redis+sentinel://:pw@127.0.0.1:26379,127.0.0.1:26380/mymaster/1")
    assert hosts == [
        {"address": A},
        {
            "master_name": "mymaster",
            "sentinels": [("127.0.0.1", 26379), ("127.0.0.1", 26380)],
            "db": 1,
            "username": None,
            "password": "pw",
        },
    ]


def test_the_command_line_tells_an_operator_which_rooms_a_new_list_moves(capsys: pytest.CaptureFixture[str]) -> None:
    assert shards.main([f"{A},{B}", "--to", f"{A},{B},{C}", *ROOMS[:300]]) == 0
    lines = capsys.readouterr().out.splitlines()
    moving = [line for line in lines if "->" in line]
    assert lines[-1] == f"{len(moving)} of 300 move"
    assert moving and all(line.endswith("-> 10.0.0.3:6379/0") for line in moving)
