"""Fixtures for tests with real processes: a Redis server of the test's own, and reading a site's database."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.client import ChatClient, guest_cookie
from tests.servers import Site, free_port, wait_for_port


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
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


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
