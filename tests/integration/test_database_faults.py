"""PostgreSQL ends the workers' sessions while clients post: nothing is lost, doubled, or closed with 1011.

A failover, a restart, a pooler's idle timeout and pg_terminate_backend all look the same to a
worker: the next statement on that connection fails. The worker drops the connection and, for a
post with a client_id (safe to repeat), retries at once on a new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from tests.client import ChatClient, guest_cookie
from tests.servers import FAST_CLIENTS, Site, site

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith("postgres"), reason="ends PostgreSQL sessions from outside"
    ),
]

CLIENTS = 4
PER_CLIENT = 40


@pytest.fixture(scope="module")
def pg_site() -> Iterator[Site]:
    with site(**FAST_CLIENTS) as deployment:
        deployment.shell("from chat.models import Room\nRoom.objects.create(slug='pg', name='PG')\n")
        deployment.add_worker()
        deployment.add_worker()
        yield deployment


@contextlib.contextmanager
def terminating_sessions(database_url: str, every: float) -> Iterator[list[int]]:
    """End every session of the site's database every `every` seconds, from outside; yields the count."""
    ended: list[int] = []
    stop = threading.Event()
    name = database_url.rsplit("/", 1)[1]

    def run() -> None:
        with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            while not stop.wait(every):
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = %s AND pid <> pg_backend_pid()",
                    [name],
                ).fetchall()
                ended.append(len(rows))

    killer = threading.Thread(target=run, name="pg-killer")
    killer.start()
    try:
        yield ended
    finally:
        stop.set()
        killer.join(10)


async def test_sessions_ended_by_the_database_lose_and_double_no_post(
    pg_site: Site, stored: Callable[[Site, str], Any]
) -> None:
    ports = [w.port for w in pg_site.workers]
    clients = []
    for i in range(CLIENTS):
        cookie = await asyncio.to_thread(guest_cookie, f"http://127.0.0.1:{ports[i % 2]}")
        clients.append(await ChatClient(ports[i % 2 :] + ports[: i % 2], "pg", cookie=cookie).start())

    async def chatter(client: ChatClient, i: int) -> None:
        for k in range(PER_CLIENT):
            await client.send(f"client {i} message {k}")
            await asyncio.sleep(0.03)

    try:
        with terminating_sessions(pg_site.env["DATABASE_URL"], every=0.25) as ended:
            started = time.monotonic()
            await asyncio.gather(*(chatter(c, i) for i, c in enumerate(clients)))
            for client in clients:
                await client.wait_for_acks(20)
        assert sum(ended) >= 5, f"the test must end sessions in use, ended {ended}"
        room = await asyncio.to_thread(stored, pg_site, "pg")
        sent = [cid for c in clients for cid in c.acked]
        assert room.last_seq == len(sent) == CLIENTS * PER_CLIENT
        assert Counter(room.client_ids) == Counter(sent), "a message was stored twice"
        assert [c.refused for c in clients] == [{}] * CLIENTS
        assert all(1011 not in c.close_codes for c in clients), [c.close_codes for c in clients]
        closes = [c.close_codes for c in clients]
        print(f"{sum(ended)} sessions ended in {time.monotonic() - started:.1f} s; closes: {closes}")
    finally:
        for client in clients:
            await client.stop()
    assert "Traceback" not in pg_site.logs()
