"""Whose address a connection counts against: the peer's, or the client's behind trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from chat.admission import OpenSockets, client_address

pytestmark = pytest.mark.database_agnostic


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 50000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


def test_without_trusted_proxies_the_header_is_the_clients_own_word_and_ignored() -> None:
    assert client_address(scope("198.51.100.1", "203.0.113.9")) == "198.51.100.1"


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_one_proxy_the_client_is_the_address_that_proxy_appended() -> None:
    assert client_address(scope("127.0.0.1", "203.0.113.9")) == "203.0.113.9"
    assert client_address(scope("127.0.0.1", "6.6.6.6, 203.0.113.9")) == "203.0.113.9"  # a forged entry first
    assert client_address(scope("127.0.0.1", "6.6.6.6", "203.0.113.9")) == "203.0.113.9"  # two header lines


@override_settings(TRUSTED_PROXY_COUNT=2)
def test_behind_two_proxies_the_client_is_second_from_the_right() -> None:
    assert client_address(scope("127.0.0.1", "6.6.6.6, 203.0.113.9, 10.0.0.2")) == "203.0.113.9"
    assert client_address(scope("127.0.0.1", "10.0.0.2")) == "127.0.0.1"  # fewer hops than proxies: the peer


async def test_without_redis_a_worker_counts_open_sockets_itself() -> None:
    sockets = OpenSockets("", "t", ttl=60.0, limit=2)
    assert [await sockets.open("g:a", "c1"), await sockets.open("g:a", "c2")] == [True, True]
    assert await sockets.open("g:a", "c3") is False
    assert await sockets.open("g:b", "c4") is True  # someone else
    await sockets.close("g:a", "c1")
    assert await sockets.open("g:a", "c3") is True


async def test_a_guest_without_a_session_is_never_counted_nor_sent_to_redis() -> None:
    # Its key exists for one socket only, so no limit can apply; a Redis that does not answer shows
    # that nothing is asked of it (the count would fall back to this worker's and refuse the third).
    sockets = OpenSockets("redis://127.0.0.1:1/0", "t", ttl=60.0, limit=2)
    assert [await sockets.open("c:a", f"c{i}") for i in range(3)] == [True, True, True]
    await sockets.close("c:a", "c1")
    await sockets.refresh([("c:a", "c2")])
    assert sockets._local == {}


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_the_host_itself_is_not_counted(address: str) -> None:
    from chat.admission import attempt_wait

    with override_settings(CHAT_CONNECT_RATE_LIMIT="1/60"):
        assert [await attempt_wait(address) for _ in range(3)] == [0.0, 0.0, 0.0]
