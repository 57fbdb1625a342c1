"""Fixtures for tests with real processes: a Redis server of the test's own, and reading a site's database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from chat.layers import RedisFanoutChannelLayer
from tests.client import ChatClient, guest_cookie
from tests.servers import Site, free_port, wait_for_port


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM by PID, SIGKILL after 10 s, and wait: nothing of it is left when this returns."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Sink:
    """A channel's direct delivery (chat.layers attach), kept for the test to read in order."""

    def __init__(self) -> None:
        self.got: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __call__(self, message: dict[str, Any]) -> None:
        await self.got.put(message)

    async def next(self, timeout: float = 3.0) -> dict[str, Any]:
        return await asyncio.wait_for(self.got.get(), timeout)


async def layer_member(layer: RedisFanoutChannelLayer, group: str) -> tuple[str, Sink]:
    """A new channel of `layer`, in `group`, delivering to a Sink: its name and the Sink."""
    channel, sink = await layer.new_channel(), Sink()
    layer.attach(channel, sink)
    await layer.group_add(group, channel)
    return channel, sink


@dataclass
class RedisServer:
    """A redis-server on a free port that a test may stop and start again; never the shared one."""

    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                # No persistence: a restart comes back empty, the worst case for presence.
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=10, proc=self.proc)
        client = redis.Redis.from_url(self.url)
        try:
            client.ping()
        finally:
            client.close()

    def stop(self) -> None:
        """SIGTERM by PID and wait: the port is closed when this returns."""
        stop_process(self.proc)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with tempfile.TemporaryDirectory(prefix="chat-redis-") as tmp:
        server = RedisServer(port=free_port(), log=Path(tmp) / "redis.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


@dataclass(frozen=True)
class Stored:
    """What the site's database holds for a room."""

    last_seq: int
    seqs: list[int]
    client_ids: list[str | None]  # in seq order


def _read_room(site: Site, slug: str) -> Stored:
    out = site.shell(
        "import json\n"
        "from chat.models import Message, Room\n"
        f"room = Room.objects.get(slug={slug!r})\n"
        "rows = list(Message.objects.filter(room=room).order_by('seq').values_list('seq', 'client_id'))\n"
        "print(json.dumps({'last_seq': room.last_seq, 'rows': rows}))\n"
    )
    data = json.loads(out.strip().splitlines()[-1])
    return Stored(
        last_seq=data["last_seq"],
        seqs=[seq for seq, _ in data["rows"]],
        client_ids=[client_id for _, client_id in data["rows"]],
    )


@pytest.fixture
def stored() -> Callable[[Site, str], Stored]:
    """Read a room's stored messages from a site's database (through its own manage.py shell)."""
    return _read_room


Connect = Callable[..., Awaitable[ChatClient]]
NewGuest = Callable[[int], Awaitable[str]]


@pytest.fixture
def new_guest() -> NewGuest:
    """A fresh guest session from a worker's room page: the Cookie header for that user's clients."""

    async def _new_guest(port: int) -> str:
        return await asyncio.to_thread(guest_cookie, f"http://127.0.0.1:{port}")

    return _new_guest


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """Make clients (started unless start=False); each is stopped at the end and must not have failed."""
    made: list[ChatClient] = []

    async def _connect(ports: list[int], slug: str, *, cookie: str | None = None, start: bool = True) -> ChatClient:
        client = ChatClient(ports, slug, cookie=cookie)
        made.append(client)
        return await client.start() if start else client

    yield _connect
    failures = []
    for client in made:
        try:
            await client.stop()
        except BaseException as exc:  # noqa: BLE001 - reported below, after every client is stopped
            failures.append(exc)
    if failures:
        raise failures[0]
    # These tests send nothing the server should refuse: an error frame is a failure too.
    assert [f for client in made for f in client.frames("error")] == []


# -- Several Redis servers, and Redis Sentinel (tests/integration/test_redis_topology.py) ------------


def kill_redis(server: RedisServer) -> None:
    """SIGKILL a test's own redis-server by PID, as a crash would: its clients get no goodbye."""
    assert server.proc is not None and server.proc.poll() is None, "not running"
    server.proc.kill()
    server.proc.wait(5)


def distinct_free_ports(count: int) -> list[int]:
    """Free ports, none twice (free_port alone may hand out the same one again)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@pytest.fixture(scope="module")
def redis_shards() -> Iterator[tuple[RedisServer, RedisServer]]:
    """Two redis-servers of the test's own, to be a site's two shards."""
    with tempfile.TemporaryDirectory(prefix="chat-shards-") as tmp:
        servers = tuple(RedisServer(port=port, log=Path(tmp) / f"redis-{port}.log") for port in distinct_free_ports(2))
        try:
            for server in servers:
                server.start()
            yield servers[0], servers[1]
        finally:
            for server in servers:
                server.stop()


@dataclass
class Daemon:
    """A redis-server or redis-sentinel process of the test's own, in its own directory, stopped by PID."""

    port: int
    argv: list[str]
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / f"{self.port}.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, cwd=self.dir, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, timeout=10, proc=self.proc)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is handed over, clients see their connections drop."""
        assert self.proc is not None and self.proc.poll() is None, "not running"
        self.proc.kill()
        self.proc.wait(5)

    def stop(self) -> None:
        stop_process(self.proc)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2, decode_responses=True)


@dataclass
class SentinelCluster:
    """A primary, its replica and three sentinels watching them, all on loopback."""

    primary: Daemon
    replica: Daemon
    sentinels: list[Daemon]
    master: str = "mymaster"

    @property
    def sentinel_addresses(self) -> str:
        """REDIS_SENTINELS for this cluster."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    @property
    def url(self) -> str:
        """The same in the long form of REDIS_URL."""
        return f"redis+sentinel://{self.sentinel_addresses}/{self.master}/0"

    def master_port(self) -> int | None:
        """The primary's port as the first sentinel that answers has it."""
        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError, OSError):
                found = sentinel.client().sentinel_get_master_addr_by_name(self.master)
                return int(found[1]) if found else None
        return None

    def ready(self) -> bool:
        """Every sentinel sees the primary, its replica in sync and the two other sentinels."""
        try:
            if self.replica.client().info("replication").get("master_link_status") != "up":
                return False
            for sentinel in self.sentinels:
                state = sentinel.client().sentinel_master(self.master)
                if int(state["num-other-sentinels"]) != len(self.sentinels) - 1 or int(state["num-slaves"]) < 1:
                    return False
        except (redis.RedisError, OSError):
            return False
        return True


_REDIS_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]


@pytest.fixture
def sentinel_cluster() -> Iterator[SentinelCluster]:
    """A fresh Sentinel set-up (a test may kill its primary): fast failure detection, quick failover."""
    if shutil.which("redis-sentinel") is None:
        pytest.fail("redis-sentinel is missing: .ci/services installs it (apt-get install redis-sentinel)")
    with tempfile.TemporaryDirectory(prefix="chat-sentinel-") as tmp:
        root = Path(tmp)
        primary_port, replica_port, *sentinel_ports = distinct_free_ports(5)
        primary = Daemon(primary_port, ["redis-server", "--port", str(primary_port), *_REDIS_ARGS], root)
        replica = Daemon(
            replica_port,
            ["redis-server", "--port", str(replica_port), *_REDIS_ARGS, "--replicaof", "127.0.0.1", str(primary_port)],
            root,
        )
        sentinels = []
        for port in sentinel_ports:
            conf = root / f"sentinel-{port}.conf"
            # Sentinel rewrites its file (ids, the replica, the other sentinels): it must be its own.
            conf.write_text(
                f"bind 127.0.0.1\nprotected-mode no\ndir {root}\n"
                f"sentinel monitor mymaster 127.0.0.1 {primary_port} 2\n"
                "sentinel down-after-milliseconds mymaster 1000\n"
                "sentinel failover-timeout mymaster 3000\n"
                "sentinel parallel-syncs mymaster 1\n"
            )
            sentinels.append(Daemon(port, ["redis-sentinel", str(conf), "--port", str(port)], root))
        cluster = SentinelCluster(primary, replica, sentinels)
        try:
            primary.start()
            replica.start()
            deadline = time.monotonic() + 30
            # In sync before the sentinels look: they list a master's replicas from its INFO, which
            # they ask for only every 10 s.
            while replica.client().info("replication").get("master_link_status") != "up":
                assert time.monotonic() < deadline, "the replica did not sync with the primary in 30 s"
                time.sleep(0.1)
            for sentinel in sentinels:
                sentinel.start()
            while not cluster.ready():
                assert time.monotonic() < deadline, "the sentinels did not see primary, replica and each other in 30 s"
                time.sleep(0.2)
            yield cluster
        finally:
            for daemon in (*sentinels, replica, primary):
                daemon.stop()
