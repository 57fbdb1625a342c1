"""Delivery guarantees when something breaks: a worker killed or restarted, Redis restarted, a client too slow.

The site runs on a Redis server of its own (these tests stop it) with a 1 s heartbeat and a 3 s
presence TTL, so that recovery shows within seconds. Each test starts its own two workers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from chat.worker import PRESENCE_WINDOW_SECONDS
from tests.client import CLOSE_ABNORMAL, CLOSE_RESTARTING, CLOSE_SILENT, CLOSE_TRY_AGAIN, DIRECT, ORIGIN, ChatClient
from tests.integration.conftest import Connect, NewGuest, RedisServer
from tests.servers import FAST_CLIENTS, Site, Worker, get_json, site

pytestmark = pytest.mark.integration

HEARTBEAT = 1.0
PRESENCE_TTL = 3.0
SEND_BUFFER_LIMIT = 64 * 1024
ROOMS = ("killed", "hung", "outage", "gone", "restart", "slow")


@pytest.fixture(scope="module")
def fault_site(redis_server: RedisServer) -> Iterator[Site]:
    with site(
        redis_url=redis_server.url,
        CHAT_HEARTBEAT_SECONDS=str(HEARTBEAT),
        CHAT_PRESENCE_TTL_SECONDS=str(PRESENCE_TTL),
        CHAT_SEND_BUFFER_LIMIT=str(SEND_BUFFER_LIMIT),
        # These tests send faster than a person; rate limits are tested elsewhere.
        **FAST_CLIENTS,
    ) as deployment:
        deployment.shell(
            "from chat.models import Room\n"
            + "".join(f"Room.objects.create(slug={slug!r}, name={slug.title()!r})\n" for slug in ROOMS)
        )
        yield deployment


@pytest.fixture
def pair(fault_site: Site) -> Iterator[tuple[Worker, Worker]]:
    """Two fresh workers for a test that may kill or stop them."""
    one, two = fault_site.add_worker(), fault_site.add_worker()
    yield one, two
    one.stop()
    two.stop()


async def health(worker: Worker) -> int:
    status, _ = await asyncio.to_thread(get_json, f"{worker.http}/healthz")
    return status


async def wait_for_health(workers: tuple[Worker, ...], status: int, timeout: float) -> float:
    """Poll /healthz of every worker until all answer `status`; return how long it took."""
    started = time.monotonic()
    while True:
        statuses = [await health(w) for w in workers]
        if statuses == [status] * len(workers):
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, f"/healthz answered {statuses}, not {status}, for {timeout}s"
        await asyncio.sleep(0.1)


def assert_holds_exactly(client: ChatClient, last: int) -> None:
    assert sorted(client.messages) == list(range(1, last + 1)), client.describe()
    ids = Counter(m["client_id"] for m in client.messages.values())
    assert [cid for cid, n in ids.items() if n > 1] == [], "a message was stored twice"
    for client_id, seq in client.acked.items():
        assert client.messages[seq]["client_id"] == client_id


async def test_killing_a_worker_loses_no_message_and_doubles_none(
    fault_site: Site,
    pair: tuple[Worker, Worker],
    connect: Connect,
    new_guest: NewGuest,
    stored: Callable[[Site, str], Any],
) -> None:
    one, two = pair
    clients = [
        await connect(
            [one.port, two.port] if i % 2 == 0 else [two.port, one.port], "killed", cookie=await new_guest(two.port)
        )
        for i in range(6)
    ]
    moved, stayed = clients[0::2], clients[1::2]
    per_client = 50

    async def chatter(client: ChatClient, i: int) -> None:
        for k in range(per_client):
            await client.send(f"client {i} message {k}")
            await asyncio.sleep(0.05)

    talking = [asyncio.create_task(chatter(c, i)) for i, c in enumerate(clients)]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(one.kill)
    killed = time.monotonic()
    await asyncio.gather(*talking)
    for client in clients:
        await client.wait_for_acks(15)

    assert [c.refused for c in clients] == [{}] * len(clients)
    room = await asyncio.to_thread(stored, fault_site, "killed")
    sent = [cid for c in clients for cid in c.acked]
    assert room.last_seq == len(sent) == 6 * per_client, "a message was lost or stored twice"
    assert room.seqs == list(range(1, room.last_seq + 1))
    assert Counter(room.client_ids) == Counter(sent)
    for client in clients:
        await client.wait_for_seqs(room.last_seq, timeout=10)
        assert_holds_exactly(client, room.last_seq)
    for client in moved:
        assert client.close_codes[0] == CLOSE_ABNORMAL
        assert client.connected_ports[-1] == two.port
    for client in stayed:
        assert (client.reconnects, client.close_codes) == (0, [])
    back = max(next(r.at for r in c.received if r.connection == 2) for c in moved) - killed
    print(f"\nkilled worker: its clients were back on the other worker {back:.2f}s after SIGKILL")


async def test_a_hung_worker_is_left_and_what_it_does_on_waking_doubles_nothing(
    fault_site: Site,
    pair: tuple[Worker, Worker],
    connect: Connect,
    new_guest: NewGuest,
    stored: Callable[[Site, str], Any],
) -> None:
    """Messages sent into a hung worker are re-sent elsewhere; when it wakes and handles them too, nothing doubles."""
    one, two = pair
    assert one.proc is not None
    client = await connect([one.port, two.port], "hung", cookie=await new_guest(one.port))
    observer = await connect([two.port], "hung")
    await client.send("before the hang")
    await observer.wait_for_seqs(1)

    one.proc.send_signal(signal.SIGSTOP)
    try:
        sent = [await client.send(f"into the hung worker {i}") for i in range(5)]
        # Silence for 2.5 heartbeats: the client gives up on the connection, moves, and re-sends.
        await client.wait_for_acks(2.5 * HEARTBEAT + 5)
        assert client.close_codes == [CLOSE_SILENT]
        assert client.connected_ports == [one.port, two.port]
    finally:
        one.proc.send_signal(signal.SIGCONT)
    # Awake, it reads the five frames it had been sent and stores them, unless they are stored already.
    assert await wait_for_health((one,), 200, 5) < 1
    await asyncio.sleep(1.0)

    room = await asyncio.to_thread(stored, fault_site, "hung")
    assert room.seqs == [1, 2, 3, 4, 5, 6]
    assert Counter(room.client_ids[1:]) == Counter(sent)
    await observer.wait_for_seqs(6)
    assert len(observer.frames("message")) == 6, "a late copy was broadcast"
    assert_holds_exactly(client, 6)


async def test_site_recovers_from_a_redis_restart_without_losing_a_message(
    fault_site: Site,
    redis_server: RedisServer,
    pair: tuple[Worker, Worker],
    connect: Connect,
    new_guest: NewGuest,
    stored: Callable[[Site, str], Any],
) -> None:
    one, two = pair
    clients = [await connect([w.port], "outage", cookie=await new_guest(w.port)) for w in (one, one, two, two)]
    for client in clients:
        await client.send("before the outage")
    for client in clients:
        await client.wait_for_seqs(4)
    assert await wait_for_health(pair, 200, 5) < 1

    try:
        await asyncio.to_thread(redis_server.stop)
        down = time.monotonic()
        await wait_for_health(pair, 503, 5)
        # Someone opening the room now is told to try again later (1013), and keeps trying.
        newcomer = await connect([one.port, two.port], "outage", start=False)
        joining = asyncio.create_task(newcomer.start(timeout=30))
        await newcomer.wait_until(lambda: CLOSE_TRY_AGAIN in newcomer.close_codes, 7, "1013 for a newcomer")
        # The database is fine: messages are still stored and acknowledged, and the heartbeat's
        # last_seq makes every client fetch what the dead broadcast did not bring.
        for client in clients:
            for i in range(3):
                await client.send(f"during the outage {i}")
        for client in clients:
            await client.wait_for_acks(5)
            await client.wait_for_seqs(16, timeout=3 * HEARTBEAT + 2)
        caught_up = time.monotonic() - down
    finally:
        await asyncio.to_thread(redis_server.start)
    up = time.monotonic()
    healthy = await wait_for_health(pair, 200, 5)

    # Recovered means: a message crosses workers live again, both ways.
    async def crosses(sender: ChatClient, receiver: ChatClient) -> bool:
        client_id = await sender.send("probe")
        await sender.wait_until(lambda: client_id in sender.acked, 5, "the probe's ack")
        seq = sender.acked[client_id]
        try:
            await receiver.wait_until(
                lambda: any(f["seq"] == seq for f in receiver.frames("message")), 0.5, "a live probe"
            )
        except AssertionError:
            return False
        return True

    while not (await crosses(clients[0], clients[2]) and await crosses(clients[3], clients[1])):
        assert time.monotonic() - up < 15, "no live broadcast between the workers 15 s after Redis came back"
    recovered = time.monotonic() - up

    await joining
    room = await asyncio.to_thread(stored, fault_site, "outage")
    await newcomer.wait_for_seqs(room.last_seq, timeout=5)
    for client in clients:
        await client.wait_for_seqs(room.last_seq, timeout=5)
        assert_holds_exactly(client, room.last_seq)
        assert client.reconnects == 0, "a Redis outage must not drop the WebSockets"
    print(
        f"\nredis outage: clients caught up {caught_up:.2f}s after it went down; "
        f"healthz 200 {healthy:.2f}s and live broadcast {recovered:.2f}s after it came back"
    )


async def test_a_join_refused_while_redis_is_down_leaves_nothing_behind(
    fault_site: Site, redis_server: RedisServer, connect: Connect
) -> None:
    worker = fault_site.add_worker()
    try:
        member = await connect([worker.port], "outage")
        try:
            await asyncio.to_thread(redis_server.stop)
            refused = await connect([worker.port], "outage", start=False)
            joining = asyncio.create_task(refused.start(timeout=30))
            await refused.wait_until(lambda: CLOSE_TRY_AGAIN in refused.close_codes, 7, "1013 for a newcomer")
            await refused.stop()
            joining.cancel()
        finally:
            await asyncio.to_thread(redis_server.start)
        await asyncio.sleep(2 * HEARTBEAT)  # the layer resubscribes
        # More than a channel's queue holds (100): a leftover member would overflow it.
        for i in range(120):
            await member.send(f"after the outage {i}")
        await member.wait_for_acks(10)
        await asyncio.sleep(0.5)
        assert "over capacity" not in worker.log.read_text()
    finally:
        await asyncio.to_thread(worker.stop)


async def test_users_of_a_killed_worker_leave_the_room_within_ttl_and_two_heartbeats(
    pair: tuple[Worker, Worker], connect: Connect, new_guest: NewGuest
) -> None:
    one, two = pair
    user = await connect([one.port], "gone", cookie=await new_guest(one.port))
    observer = await connect([two.port], "gone", cookie=await new_guest(two.port))
    assert user.you in observer.online
    assert await online_on_index(two, "gone") == 2

    def leaves() -> list[dict[str, Any]]:
        return [f for f in observer.frames("presence") if f["event"] == "leave"]

    # Longer than the TTL: the heartbeat keeps a live user listed.
    await asyncio.sleep(PRESENCE_TTL + HEARTBEAT)
    assert leaves() == []
    await asyncio.to_thread(one.kill)
    killed = time.monotonic()
    bound = PRESENCE_TTL + 2 * HEARTBEAT
    await observer.wait_until(lambda: len(leaves()) == 1, bound + 1.5, "the killed worker's user leaving")
    took = next(r.at for r in observer.received if r.frame["type"] == "presence") - killed
    assert leaves() == [{"type": "presence", "event": "leave", "user": user.you, "online": 1}]
    assert await online_on_index(two, "gone") == 1
    newcomer = await connect([two.port], "gone")
    assert user.you not in newcomer.online
    print(f"\nkilled worker's user left after {took:.2f}s (TTL {PRESENCE_TTL}s, heartbeat {HEARTBEAT}s)")


async def online_on_index(worker: Worker, slug: str) -> int:
    """The online count that the room list at / shows for a room."""
    status, page = await asyncio.to_thread(get_json, f"{worker.http}/")
    assert status == 200
    html = page.decode()
    card = html[html.index(f'data-slug="{slug}"') :]
    text = re.sub(r"<[^>]+>", " ", card[: card.index("</a>")])
    found = re.search(r"(\d+)\s+online", text)
    assert found, f"no online count for {slug} on /: {text.split()}"
    return int(found.group(1))


async def test_a_stopped_worker_tells_its_clients_1012_and_they_move_to_the_other_losing_nothing(
    pair: tuple[Worker, Worker], connect: Connect, new_guest: NewGuest
) -> None:
    one, two = pair
    movers = [await connect([one.port, two.port], "restart", cookie=await new_guest(one.port)) for _ in range(3)]
    stayer = await connect([two.port, one.port], "restart")
    for client in movers:
        await client.send("before the restart")
    for client in [*movers, stayer]:
        await client.wait_for_seqs(3)
    await asyncio.sleep(2 * PRESENCE_WINDOW_SECONDS)  # the movers' joins have been told
    told_before = len(stayer.received)

    stopping = asyncio.create_task(asyncio.to_thread(one.stop))  # SIGTERM
    started = time.monotonic()
    for client in movers:
        await client.wait_on_port(two.port, 5)
    moved = time.monotonic() - started
    await stopping
    for client in movers:
        assert client.close_codes == [CLOSE_RESTARTING]  # not 1006: the worker said goodbye
        await client.send("after the restart")
    for client in [*movers, stayer]:
        await client.wait_for_seqs(6)
    assert (stayer.reconnects, stayer.close_codes) == (0, [])
    # Nobody left: the movers' restart was neither a `leave` nor, on their return, a `join`.
    assert [r.frame for r in stayer.received[told_before:] if r.frame["type"] == "presence"] == []
    print(f"\ngraceful restart: clients were back on the other worker {moved:.2f}s after SIGTERM")


async def test_a_connection_opened_while_a_worker_shuts_down_is_told_1012_too(
    fault_site: Site, connect: Connect
) -> None:
    """A browser reconnecting to the same address after 1012 may reach the same worker again."""
    worker = fault_site.add_worker()
    try:
        first = await connect([worker.port], "restart")
        assert worker.proc is not None
        worker.proc.send_signal(signal.SIGTERM)
        await first.wait_until(lambda: first.close_codes == [CLOSE_RESTARTING], 5, "1012")
        try:
            late = await websockets.connect(worker.ws("restart"), origin=ORIGIN, proxy=None, open_timeout=2)
        except (OSError, websockets.InvalidHandshake):
            return  # refused: as good as 1012, the client tries elsewhere
        async with asyncio.timeout(5):
            with contextlib.suppress(websockets.ConnectionClosed):
                async for _ in late:
                    pass
        assert late.close_code == CLOSE_RESTARTING
    finally:
        await asyncio.to_thread(worker.stop)


def open_slow_socket(port: int, slug: str) -> socket.socket:
    """A WebSocket client that never reads: tiny receive buffer, upgrade handshake by hand."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: fixes the TCP window
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/rooms/{slug}/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Origin: http://127.0.0.1\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def kernel_send_buffer_max() -> int:
    """The most a TCP send buffer may autotune to on this host (tcp_wmem's third field)."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 * 1024 * 1024  # Linux's usual default


def read_until_closed(sock: socket.socket, timeout: float) -> int:
    """Read everything the server left for us; return the bytes read once it closed (EOF or reset)."""
    total, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return total
        except TimeoutError:
            continue
        if not chunk:
            return total
        total += len(chunk)
    raise AssertionError(f"the server kept the slow connection open ({total} bytes read)")


@pytest.mark.skipif(not DIRECT, reason="reading the send buffer needs chat.transport's daphne internals")
async def test_a_client_too_slow_to_read_is_let_go_and_the_others_get_everything(
    fault_site: Site, pair: tuple[Worker, Worker], connect: Connect, new_guest: NewGuest
) -> None:
    one, two = pair
    reader = await connect([one.port], "slow", cookie=await new_guest(one.port))
    writer = await connect([two.port], "slow", cookie=await new_guest(two.port))
    slow = await asyncio.to_thread(open_slow_socket, one.port, "slow")
    try:

        def presence_of_slow(event: str) -> list[dict[str, Any]]:
            frames = reader.frames("presence")
            return [f for f in frames if f["event"] == event and f.get("user") not in (None, writer.you)]

        await reader.wait_until(lambda: len(presence_of_slow("join")) == 1, 5, "the slow client's join")

        def let_go() -> bool:
            return len(presence_of_slow("leave")) == 1

        # Before the server's own buffer grows, the kernel takes what the client's tiny window and the
        # autotuned send buffer hold: 1.2 to 3 MB measured here, at most tcp_wmem's maximum. Sending
        # stops once the client is let go; twice the worst case means the server never did.
        body = "x" * 3000
        most = 2 * (kernel_send_buffer_max() + SEND_BUFFER_LIMIT) // len(body)
        sent = 0
        while not let_go() and sent < most:
            for _ in range(50):
                await writer.send(body)
            sent += 50
            await writer.wait_for_acks(10)
        assert let_go(), f"still connected after {sent} messages of {len(body)} characters"
        await asyncio.to_thread(read_until_closed, slow, 10)
    finally:
        slow.close()
    assert "too slow" in fault_site.logs()
    await reader.wait_for_seqs(sent)
    assert reader.reconnects == 0
    assert await health(one) == 200
    print(f"\nslow client let go after fewer than {sent} messages ({sent * len(body) / 1e6:.1f} MB)")
