"""The cluster recipe, through nginx: clients spread over 3 workers, a rolling restart, a killed worker.

The cluster is started as `make cluster` starts it (deploy/cluster up), but on free ports, in a run
directory, PostgreSQL database and Redis prefix of its own, so that it runs beside a developer's
own cluster; it is stopped with deploy/cluster down and every process it had is checked gone by PID.
Clients know only nginx's port: which worker serves a connection is read from that worker's
access log, where nginx's X-Forwarded-Port makes daphne log the client's own port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client import CLOSE_ABNORMAL, CLOSE_RESTARTING, FIRST_DELAY, MAX_DELAY, ChatClient
from tests.integration.conftest import Connect, NewGuest
from tests.integration.test_faults import assert_holds_exactly
from tests.servers import REDIS_URL, ROOT, Site, delete_prefix, get_json

pytestmark = [
    pytest.mark.integration,
    # The recipe runs on PostgreSQL whatever the pass, so once is enough: in the PostgreSQL pass.
    pytest.mark.skipif(
        not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")),
        reason="the cluster recipe runs on PostgreSQL: the suite's PostgreSQL pass runs it",
    ),
]

SCRIPT = ROOT / "deploy" / "cluster"
WORKERS = 3
ROOMS = ("spread", "rolling", "killed")
# A heartbeat a second: a client that missed a broadcast during a move hears of it within one.
HEARTBEAT = 1.0


def _is_free(port: int) -> bool:
    """Nothing listens there (connections in TIME_WAIT do not count: servers bind with SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports, below the kernel's ephemeral range so that no
    outgoing connection takes one of them before the cluster binds it."""
    for _ in range(200):
        first = random.randrange(20000, 32000 - count)
        if all(_is_free(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@dataclass
class Cluster:
    port: int  # nginx's: the only one clients know
    worker_ports: list[int]
    run: Path
    env: dict[str, str]  # the script's environment (its settings overridden for this test)
    site: Site | None = None  # the workers' settings, for manage.py (reading the database)

    def script(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(SCRIPT), *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def pid(self, port: int) -> int:
        done = self.script("ctl", "pid", f"chat:chat-{port}", timeout=30)
        return int(done.stdout.strip())

    def pids(self) -> list[int]:
        """Every process of the cluster that runs now: nginx's master and workers, supervisord, daphnes."""
        found: list[int] = []
        for name in ("nginx.pid", "supervisord.pid"):
            with contextlib.suppress(OSError, ValueError):
                pid = int((self.run / name).read_text().strip())
                found.append(pid)
                for task in Path(f"/proc/{pid}/task").glob("*/children"):
                    found += [int(child) for child in task.read_text().split()]
        return sorted(pid for pid in set(found) if _running(pid))

    def log(self, port: int) -> str:
        return (self.run / "logs" / f"chat-{port}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted((self.run / "logs").glob("*.log"))
        )

    async def worker_of(self, client: ChatClient, timeout: float = 10.0) -> int:
        """The port of the worker that serves the client's current connection."""
        assert client.ws is not None, client.describe()
        needle = f"127.0.0.1:{client.ws.local_address[1]} - - ["
        deadline = time.monotonic() + timeout
        while True:
            found = [
                port
                for port in self.worker_ports
                if any(line.startswith(needle) and '"WSCONNECT ' in line for line in self.log(port).splitlines())
            ]
            if found:
                assert len(found) == 1, f"one connection in several workers' logs: {found}"
                return found[0]
            assert time.monotonic() < deadline, f"no worker logged {needle}: {client.describe()}"
            await asyncio.sleep(0.1)


def _test_env(run: Path, port: int, first_worker: int, prefix: str, database_url: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PYTEST", "DJANGO_", "CHAT_", "CLUSTER_", "REDIS_")) and k != "DATABASE_URL"
    }
    return {
        **base,
        "CHAT_WORKERS": str(WORKERS),
        "CLUSTER_PORT": str(port),
        "CLUSTER_WORKER_PORT": str(first_worker),
        "CLUSTER_RUN_DIR": str(run),
        "CLUSTER_REDIS_URL": REDIS_URL,
        "CLUSTER_PREFIX": prefix,
        "CLUSTER_DATABASE_URL": database_url,
        # Passed through to the workers (deploy/cluster sets only the cluster's own settings).
        "CHAT_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "CHAT_PRESENCE_TTL_SECONDS": "3",
        # These clients send faster than people, and fill every seq gap at once (broadcasts from three
        # workers often arrive out of order): rate limits are tested elsewhere.
        "CHAT_RATE_LIMIT": "100000/1",
        "CHAT_HISTORY_RATE_LIMIT": "100000/1",
    }


def _postgres_server() -> str:
    """The server of the suite's PostgreSQL pass if this is it, else the local one (the recipe's)."""
    url = os.environ.get("DATABASE_URL", "")
    return (
        url.rsplit("/", 1)[0]
        if url.startswith(("postgres://", "postgresql://"))
        else "postgres://postgres@127.0.0.1:5432"
    )


def _drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    run = tmp_path_factory.mktemp("cluster")
    first = free_ports(WORKERS + 1)
    prefix, database = f"t{uuid.uuid4().hex[:10]}", f"chat_cluster_{uuid.uuid4().hex[:10]}"
    server = _postgres_server()
    env = _test_env(run, first, first + 1, prefix, f"{server}/{database}")
    made = Cluster(port=first, worker_ports=list(range(first + 1, first + 1 + WORKERS)), run=run, env=env)

    installed = made.script("install", timeout=300)
    if installed.returncode != 0 and not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        pytest.skip(f"nginx is not installed and could not be installed: {installed.stderr.strip()}")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    pids: list[int] = []
    try:
        started = time.monotonic()
        up = made.script("up", timeout=240)
        assert up.returncode == 0, f"{up.stdout}{up.stderr}\n{made.logs()}"
        print(f"\ncluster up in {time.monotonic() - started:.1f}s: {up.stdout.strip().splitlines()[-1]}")
        pids = made.pids()
        workers = dict(line.split("=", 1) for line in made.script("env").stdout.splitlines())
        made.site = Site(env={**env, **workers}, tmp=run)
        made.site.shell(
            "from chat.models import Room\n"
            + "".join(f"Room.objects.create(slug={slug!r}, name={slug.title()!r})\n" for slug in ROOMS)
        )
        yield made
    finally:
        pids = sorted(set(pids) | set(made.pids()))
        down = made.script("down", timeout=120)
        left = [pid for pid in pids if _running(pid)]
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        delete_prefix(REDIS_URL, prefix)
        _drop_database(server, database)
        assert down.returncode == 0, down.stdout + down.stderr
        assert left == [], f"still running after deploy/cluster down: {left}"
        for port in [first, *made.worker_ports]:
            assert _is_free(port), f"port {port} still bound after deploy/cluster down"


async def assert_room_holds_what_was_acked(
    cluster: Cluster, slug: str, clients: list[ChatClient], stored: Callable[[Site, str], Any]
) -> int:
    """The room's stored sequence is 1..N, each acknowledged client_id once; every client holds exactly it."""
    for client in clients:
        await client.wait_for_acks(20)
    assert [c.refused for c in clients] == [{}] * len(clients)
    assert cluster.site is not None
    room = await asyncio.to_thread(stored, cluster.site, slug)
    sent = [cid for c in clients for cid in c.acked]
    assert room.last_seq == len(sent), "a message was lost or stored twice"
    assert room.seqs == list(range(1, room.last_seq + 1))
    assert Counter(room.client_ids) == Counter(sent)
    for client in clients:
        await client.wait_for_seqs(room.last_seq, timeout=3 * HEARTBEAT + 10)
        assert_holds_exactly(client, room.last_seq)
    return int(room.last_seq)


async def test_clients_spread_over_three_workers_exchange_every_message(
    cluster: Cluster, connect: Connect, new_guest: NewGuest, stored: Callable[[Site, str], Any]
) -> None:
    cookies = [await new_guest(cluster.port) for _ in range(3 * WORKERS)]
    clients = [await connect([cluster.port], "spread", cookie=cookie) for cookie in cookies]
    spread = Counter([await cluster.worker_of(client) for client in clients])
    assert set(spread) == set(cluster.worker_ports), f"nginx did not use every worker: {spread}"

    for i, client in enumerate(clients):
        for k in range(5):
            await client.send(f"client {i} message {k}")
    last = await assert_room_holds_what_was_acked(cluster, "spread", clients, stored)
    assert last == 5 * len(clients)
    assert [c.reconnects for c in clients] == [0] * len(clients)
    print(f"\nspread: clients per worker {dict(spread)}; each of {len(clients)} holds 1..{last}")


async def test_a_rolling_restart_while_clients_send_loses_no_message_and_doubles_none(
    cluster: Cluster, connect: Connect, new_guest: NewGuest, stored: Callable[[Site, str], Any]
) -> None:
    cookies = [await new_guest(cluster.port) for _ in range(2 * WORKERS)]
    clients = [await connect([cluster.port], "rolling", cookie=cookie) for cookie in cookies]
    before = {port: cluster.pid(port) for port in cluster.worker_ports}

    started = time.monotonic()
    rolling = asyncio.create_task(asyncio.to_thread(cluster.script, "roll", timeout=150))

    async def chatter(client: ChatClient, i: int) -> None:
        k = 0
        while not rolling.done() and k < 1000:
            await client.send(f"client {i} message {k}")
            k += 1
            await asyncio.sleep(0.15)

    talking = [asyncio.create_task(chatter(c, i)) for i, c in enumerate(clients)]
    roll = await rolling
    rolled = time.monotonic() - started
    await asyncio.gather(*talking)
    assert roll.returncode == 0, f"{roll.stdout}{roll.stderr}\n{cluster.logs()}"
    after = {port: cluster.pid(port) for port in cluster.worker_ports}
    assert all(after[port] != before[port] for port in cluster.worker_ports), (before, after)

    last = await assert_room_holds_what_was_acked(cluster, "rolling", clients, stored)
    # Every worker went, so every client was told to move at least once, and was not just dropped.
    for client in clients:
        assert CLOSE_RESTARTING in client.close_codes, client.describe()
    codes = Counter(code for c in clients for code in c.close_codes)
    print(
        f"\nrolling restart of {WORKERS} workers in {rolled:.1f}s while {len(clients)} clients sent: "
        f"{last} messages, each client holds 1..{last}; close codes {dict(codes)}"
    )


async def test_a_killed_worker_is_routed_around_and_its_clients_are_back_within_their_backoff(
    cluster: Cluster, connect: Connect, new_guest: NewGuest, stored: Callable[[Site, str], Any]
) -> None:
    cookies = [await new_guest(cluster.port) for _ in range(2 * WORKERS)]
    clients = [await connect([cluster.port], "killed", cookie=cookie) for cookie in cookies]
    on = [await cluster.worker_of(client) for client in clients]
    victim = Counter(on).most_common(1)[0][0]
    moved = [c for c, port in zip(clients, on, strict=True) if port == victim]
    stayed = [c for c, port in zip(clients, on, strict=True) if port != victim]
    pid = cluster.pid(victim)

    async def chatter(client: ChatClient, i: int) -> None:
        for k in range(40):
            await client.send(f"client {i} message {k}")
            await asyncio.sleep(0.05)

    talking = [asyncio.create_task(chatter(c, i)) for i, c in enumerate(clients)]
    await asyncio.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    # Meanwhile nginx answers every request from a live worker: the dead one is skipped, not a 502.
    statuses = [(await asyncio.to_thread(get_json, f"http://127.0.0.1:{cluster.port}/healthz"))[0] for _ in range(20)]
    await asyncio.gather(*talking)
    assert statuses == [200] * len(statuses)

    await assert_room_holds_what_was_acked(cluster, "killed", clients, stored)
    # The first retry comes after FIRST_DELAY (jittered up to 1.5x); with nginx skipping the dead
    # worker it succeeds. Bound: three attempts' worth of backoff, and time for a loaded machine.
    bound = sum(min(MAX_DELAY, FIRST_DELAY * 2**attempt) * 1.5 for attempt in range(3)) + 3.0
    back = []
    for client in moved:
        assert client.close_codes[0] == CLOSE_ABNORMAL, client.describe()
        back.append(next(r.at for r in client.received if r.connection == 2) - killed)
    assert max(back) < bound, f"back after {back}s, bound {bound:.2f}s"
    for client in stayed:
        assert (client.reconnects, client.close_codes) == (0, []), client.describe()
    error_log = (cluster.run / "logs" / "nginx-error.log").read_text()
    assert f"127.0.0.1:{victim}" in error_log, "nginx never tried the dead worker: nothing was proven"

    # supervisor starts it again (autorestart), and it serves.
    deadline = time.monotonic() + 60
    while (await asyncio.to_thread(get_json, f"http://127.0.0.1:{victim}/readyz"))[0] != 200:
        assert time.monotonic() < deadline, f"worker {victim} not back\n{cluster.logs()}"
        await asyncio.sleep(0.2)
    assert cluster.pid(victim) != pid
    print(
        f"\nSIGKILL of the worker on {victim}: {len(moved)} clients back {min(back):.2f}-{max(back):.2f}s later "
        f"(bound {bound:.2f}s), {len(stayed)} others untouched, 20/20 requests through nginx answered 200"
    )
