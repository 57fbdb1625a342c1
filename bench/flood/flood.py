"""One socket floods a worker with `history` requests; what does that cost the worker and its other users?

Reproduces issue 8, finding 3 ("200,000 `history` requests in 2.4 s; the worker sat at ~90 % CPU
answering them, kept going after the client's close frame, other page loads slowed to 1.9 s").

    .venv/bin/python bench/flood/flood.py --tree <source tree> [--label L] [--seconds 8] [--requests 200000]

Starts ONE production-mode daphne worker (`python -m chat.serve`) from the given tree, on a fresh
SQLite file, Redis database 9 under a prefix unique to the run; seeds `lobby` with messages through
the ORM; then one raw WebSocket writes `--requests` frames `{"type":"history","limit":100}` as fast
as the worker takes them, reading (and counting) the replies in a separate task, and sends a close
frame `--close-after` seconds after the flood began (default: at the end of the `--seconds` window;
0: as soon as the last request is written). Meanwhile the worker's CPU (/proc/<pid>/stat) is
sampled every 0.5 s and a page load and a fresh join are timed every 0.5 s, until `--tail` seconds
after the close. One JSON line goes to stdout and to bench/flood/results/<timestamp>-<label>.json.

Standalone on purpose: it imports nothing from the tree under test (the tree is only run), so the
same harness measures any commit. Everything talks to 127.0.0.1 only; every process it starts is
stopped by PID; only its own Redis keys are deleted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import connect as ws_connect

HERE = Path(__file__).resolve().parent
MAIN = HERE.parent.parent
RESULTS = HERE / "results"
REDIS_URL = "redis://127.0.0.1:6379/9"
ASGI_APP = "chatsite.asgi:application"
ROOM = "lobby"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.5
PROBE_EVERY = 0.5
PROBE_TIMEOUT = 10.0

SEED = """
from django.utils import timezone
from chat.models import Message, Room
room = Room.objects.get(slug={room!r})
Message.objects.filter(room=room).delete()
now = timezone.now()
body = {body!r}
Message.objects.bulk_create(
    [Message(room=room, seq=i, author_key="g:flood-seed", author_name="seed", author_guest=True,
             body=f"{{i:04d}} {{body}}", sent_at=now) for i in range(1, {n} + 1)]
)
Room.objects.filter(pk=room.pk).update(last_seq={n})
print(Message.objects.filter(room=room).count())
"""


class HardCap(Exception):
    """The run went past --cap seconds."""


# -- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(tree: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "--no-optional-locks", "-C", str(tree), *args], capture_output=True, text=True, timeout=20
    )
    return done.stdout.rstrip("\n") if done.returncode == 0 else ""


def tree_state(tree: Path) -> dict[str, Any]:
    """Which code was measured: the commit, and for a working tree a digest of its uncommitted diff."""
    dirty = [line for line in git(tree, "status", "--porcelain", "--untracked-files=no").splitlines() if line]
    diff = git(tree, "diff", "HEAD") if dirty else ""
    return {
        "commit": git(tree, "rev-parse", "--short", "HEAD") or None,
        "dirty_files": [line[3:] for line in dirty],
        "diff_sha1": hashlib.sha1(diff.encode()).hexdigest()[:12] if diff else None,
    }


@dataclass
class Deployment:
    tree: Path
    python: str
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    stopped_by: str | None = None

    def setup(self) -> None:
        self.prefix = f"flood{uuid.uuid4().hex[:10]}"
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CHAT_", "PYTEST"))}
        for name in ("REDIS_URL", "DATABASE_URL", "PYTHONPATH"):
            keep.pop(name, None)
        self.env = {
            **keep,
            "PYTHONPATH": str(self.tree),
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "flood-bench-" + uuid.uuid4().hex,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_STATIC_ROOT": str(self.tmp / "static"),
            "DJANGO_LOG_LEVEL": "INFO",
            "DATABASE_URL": f"sqlite:///{self.tmp / 'flood.sqlite3'}",
            "REDIS_URL": REDIS_URL,
            "CHAT_LAYER_PREFIX": self.prefix,
        }

    def manage(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run(
            [self.python, "manage.py", *args],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {args[0]} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return done.stdout

    def start(self, timeout: float = 20) -> None:
        self.port = free_port()
        self.log = self.tmp / "worker.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [self.python, "-m", "chat.serve", "-b", "127.0.0.1", "-p", str(self.port), ASGI_APP],
                cwd=self.tree,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a terminal's ^C reaches the harness only; it stops this by PID
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log_tail(3000)}")
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{self.http}/healthz", timeout=1) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"worker not healthy after {timeout}s:\n{self.log_tail(3000)}")

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, size: int) -> str:
        if self.log is None or not self.log.exists():
            return ""
        data = self.log.read_bytes()
        return data[-size:].decode(errors="replace")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
            self.stopped_by = "SIGTERM"
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            self.stopped_by = "SIGKILL"

    def delete_keys(self) -> None:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}:*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


# -- sampling ---------------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def host_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs; idle and iowait count as not busy."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])  # guest time is already inside user/nice
    idle = values[3] + values[4]
    return total - idle, total


@dataclass
class Sample:
    t: float
    cpu: float | None
    rss: float | None
    host_busy: int
    host_total: int


class Sampler(threading.Thread):
    """The worker's CPU time, its RSS and the host's jiffies every 0.5 s, on a thread of its own so
    that the flood's writes on the harness's event loop do not skew the timing."""

    def __init__(self, pid: int, t0: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.t0 = pid, t0
        self.samples: list[Sample] = []
        self.done = threading.Event()

    def sample(self) -> None:
        busy, total = host_jiffies()
        self.samples.append(
            Sample(time.monotonic() - self.t0, proc_cpu_seconds(self.pid), proc_rss_mb(self.pid), busy, total)
        )

    def run(self) -> None:
        self.sample()
        while not self.done.wait(SAMPLE_EVERY):
            self.sample()
        self.sample()

    def intervals(self, start: float, end: float) -> list[tuple[float, float, Sample, Sample]]:
        """(t, cpu %, first, last) of consecutive sample pairs lying within [start, end] (+ jitter)."""
        out = []
        for a, b in zip(self.samples, self.samples[1:], strict=False):
            # An interval much shorter than SAMPLE_EVERY (the last one) is mostly clock-tick rounding.
            usable = a.cpu is not None and b.cpu is not None and b.t - a.t >= SAMPLE_EVERY / 2
            if usable and a.t >= start - 0.05 and b.t <= end + 0.15:
                out.append((a.t, 100 * (b.cpu - a.cpu) / (b.t - a.t), a, b))
        return out

    def window(self, start: float, end: float) -> dict[str, Any]:
        rows = self.intervals(start, end)
        if not rows:
            return {"n": 0}
        pct = [r[1] for r in rows]
        first, last = rows[0][2], rows[-1][3]
        assert first.cpu is not None and last.cpu is not None
        host_total = last.host_total - first.host_total
        return {
            "n": len(pct),
            "from_s": round(first.t, 2),
            "to_s": round(last.t, 2),
            "median": round(statistics.median(pct), 1),
            "max": round(max(pct), 1),
            "mean": round(100 * (last.cpu - first.cpu) / (last.t - first.t), 1),
            "host_busy_pct": round(100 * (last.host_busy - first.host_busy) / host_total, 1) if host_total else None,
            "series": [round(p) for p in pct],
        }


# -- the raw flooding socket ------------------------------------------------------------------------


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (RFC 6455)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + struct.pack("!H", size)
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + struct.pack("!Q", size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


@dataclass
class Flood:
    """A raw WebSocket, so that 200,000 frames are a few bulk writes and the harness's own CPU stays small."""

    port: int
    origin: str
    t0: float
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    sent: int = 0
    send_started: float | None = None
    send_ended: float | None = None
    close_sent: float | None = None
    server_close: float | None = None
    server_close_code: int | None = None
    server_close_reason: str = ""
    eof: float | None = None
    eof_kind: str | None = None
    replies: dict[str, int] = field(default_factory=dict)
    history_replies: list[float] = field(default_factory=list)
    after_close_replies: int = 0
    first_frames: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 24)
        key = base64.b64encode(os.urandom(16)).decode()
        self.writer.write(
            (
                f"GET /ws/rooms/{ROOM}/ HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Origin: {self.origin}\r\n\r\n"
            ).encode()
        )
        await self.writer.drain()
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), PROBE_TIMEOUT)
        if head.split(b" ", 2)[1] != b"101":
            raise RuntimeError(f"flooder not upgraded: {head[:200]!r}")
        for _ in range(2):  # welcome, then the history page
            opcode, payload = await asyncio.wait_for(self.read_message(), PROBE_TIMEOUT)
            if opcode == 8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise RuntimeError(f"flooder closed by the server ({code}) before its history: {self.first_frames}")
            if opcode != 1:
                raise RuntimeError(f"flooder got opcode {opcode} before its history")
            self.first_frames.append(json.loads(payload)["type"])
        if self.first_frames != ["welcome", "history"]:
            raise RuntimeError(f"flooder's first frames: {self.first_frames}")

    async def read_message(self) -> tuple[int, bytes]:
        assert self.reader is not None
        parts: list[bytes] = []
        first_opcode = None
        while True:
            b1, b2 = await self.reader.readexactly(2)
            opcode, size = b1 & 0x0F, b2 & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            mask = await self.reader.readexactly(4) if b2 & 0x80 else None
            payload = await self.reader.readexactly(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode >= 8:  # control frames may come between fragments
                return opcode, payload
            if first_opcode is None:
                first_opcode = opcode
            parts.append(payload)
            if b1 & 0x80:
                return first_opcode, b"".join(parts)

    async def read_loop(self) -> None:
        assert self.writer is not None
        try:
            while True:
                opcode, payload = await self.read_message()
                if opcode == 9:  # ping
                    if self.close_sent is None and self.server_close is None:
                        self.writer.write(client_frame(10, payload))
                elif opcode == 8:
                    self.server_close = self.now()
                    if len(payload) >= 2:
                        self.server_close_code = struct.unpack("!H", payload[:2])[0]
                        self.server_close_reason = payload[2:].decode(errors="replace")
                    if self.close_sent is None:  # the server closed first: answer, as RFC 6455 says
                        self.writer.write(client_frame(8, payload[:2]))
                elif opcode in (1, 2):
                    self.count(payload)
        except asyncio.IncompleteReadError:
            self.eof_kind = "eof"
        except (ConnectionError, OSError) as exc:
            self.eof_kind = type(exc).__name__
        self.eof = self.now()
        self.ended.set()

    def count(self, payload: bytes) -> None:
        try:
            frame = json.loads(payload)
            kind = str(frame.get("type"))
            if kind == "error":
                kind = f"error:{frame.get('code')}"
        except (ValueError, AttributeError):
            kind = "undecodable"
        self.replies[kind] = self.replies.get(kind, 0) + 1
        if kind == "history":
            self.history_replies.append(self.now())
        if self.close_sent is not None:
            self.after_close_replies += 1

    async def send_all(self, requests: int, limit: int) -> None:
        assert self.writer is not None
        # One mask for every request frame (the server does not care; RFC 6455 would want a fresh one).
        frame = client_frame(1, json.dumps({"type": "history", "limit": limit}, separators=(",", ":")).encode())
        batch = 1000
        chunk = frame * batch
        self.send_started = self.now()
        try:
            while self.sent < requests and self.server_close is None and self.eof is None:
                k = min(batch, requests - self.sent)
                self.writer.write(chunk if k == batch else frame * k)
                await self.writer.drain()
                self.sent += k
        except (ConnectionError, OSError):
            pass
        self.send_ended = self.now()

    async def close(self) -> None:
        assert self.writer is not None
        if self.close_sent is not None or self.eof is not None:
            return
        self.close_sent = self.now()
        with contextlib.suppress(ConnectionError, OSError):
            self.writer.write(client_frame(8, struct.pack("!H", 1000)))
            await self.writer.drain()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()

    def report(self, window_end: float) -> dict[str, Any]:
        def rel(t: float | None, base: float | None = None) -> float | None:
            if t is None:
                return None
            return round(t - (base or 0.0), 3)

        return {
            "sent": self.sent,
            "send_s": rel(self.send_ended, self.send_started),
            "close_sent_at_s": rel(self.close_sent),
            "server_close_at_s": rel(self.server_close),
            "server_close_code": self.server_close_code,
            "server_close_reason": self.server_close_reason or None,
            "server_close_after_client_close_s": (
                rel(self.server_close, self.close_sent)
                if self.server_close is not None and self.close_sent is not None
                else None
            ),
            "eof_at_s": rel(self.eof),
            "eof_kind": self.eof_kind,
            "replies": dict(sorted(self.replies.items())),
            "history_replies_in_window": sum(1 for t in self.history_replies if t <= window_end),
            "replies_after_client_close": self.after_close_replies,
            "last_history_reply_at_s": rel(self.history_replies[-1]) if self.history_replies else None,
        }


# -- probes: what another visitor of the same worker sees -------------------------------------------


@dataclass
class Probe:
    t: float
    ms: float | None  # None: failed or timed out
    error: str | None = None


def page_load(url: str) -> None:
    with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")


async def timed_page(dep: Deployment, t0: float) -> Probe:
    start = time.monotonic()
    try:
        await asyncio.to_thread(page_load, f"{dep.http}/rooms/{ROOM}/")
    except Exception as exc:  # noqa: BLE001 - a probe's failure is a measurement
        return Probe(start - t0, None, f"{type(exc).__name__}: {exc}"[:200])
    return Probe(start - t0, 1000 * (time.monotonic() - start))


async def timed_join(dep: Deployment, t0: float, closers: set[asyncio.Task[None]]) -> Probe:
    start = time.monotonic()
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            ws = await ws_connect(
                f"ws://127.0.0.1:{dep.port}/ws/rooms/{ROOM}/", origin=dep.origin, open_timeout=None, close_timeout=2
            )
            kinds = [json.loads(await ws.recv())["type"], json.loads(await ws.recv())["type"]]
        ms = 1000 * (time.monotonic() - start)
    except Exception as exc:  # noqa: BLE001
        return Probe(start - t0, None, f"{type(exc).__name__}: {exc}"[:200])
    # Close in the background: the next probe should not wait for a busy worker's close handshake.
    task = asyncio.create_task(ws.close())
    closers.add(task)
    task.add_done_callback(closers.discard)
    if kinds != ["welcome", "history"]:
        return Probe(start - t0, None, f"first frames {kinds}")
    return Probe(start - t0, ms)


async def probe_loop(make: Any, stop: asyncio.Event, out: list[Probe]) -> None:
    """One probe at a time, a new one every PROBE_EVERY s (or at once, if the last took longer)."""
    while not stop.is_set():
        began = time.monotonic()
        out.append(await make())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, PROBE_EVERY - (time.monotonic() - began)))


def probe_stats(probes: list[Probe], start: float, end: float) -> dict[str, Any]:
    chosen = [p for p in probes if start <= p.t < end]
    ok = [p.ms for p in chosen if p.ms is not None]
    errors = [p.error for p in chosen if p.ms is None]
    return {
        "n": len(chosen),
        "p50": round(statistics.median(ok), 1) if ok else None,
        "max": round(max(ok), 1) if ok else None,
        "failed": len(errors),
        "errors": sorted(set(e for e in errors if e))[:3],
        "series": [round(p.ms) if p.ms is not None else None for p in chosen],
    }


# -- the run ------------------------------------------------------------------------------------------


async def measure(dep: Deployment, args: argparse.Namespace) -> dict[str, Any]:
    assert dep.proc is not None
    closers: set[asyncio.Task[None]] = set()
    t0 = time.monotonic()

    # Warm up (templates, the static manifest, the pool's connection), then the idle baseline.
    for _ in range(2):
        await timed_page(dep, t0)
        await timed_join(dep, t0, closers)
    sampler = Sampler(dep.proc.pid, t0)
    sampler.start()
    idle_start = time.monotonic() - t0
    idle_pages = [await timed_page(dep, t0) for _ in range(3)]
    idle_joins = [await timed_join(dep, t0, closers) for _ in range(3)]
    await asyncio.sleep(max(0.0, idle_start + 1.5 - (time.monotonic() - t0)))
    idle_end = time.monotonic() - t0

    flood = Flood(dep.port, dep.origin, t0)
    await flood.open()
    stop = asyncio.Event()
    pages: list[Probe] = []
    joins: list[Probe] = []
    harness_cpu0 = time.process_time()
    flood_start = flood.now()
    window_end = flood_start + args.seconds
    probes = [
        asyncio.create_task(probe_loop(lambda: timed_page(dep, t0), stop, pages)),
        asyncio.create_task(probe_loop(lambda: timed_join(dep, t0, closers), stop, joins)),
    ]
    reading = asyncio.create_task(flood.read_loop()) if not args.no_read else None
    await flood.send_all(args.requests, args.limit)

    close_at = window_end if args.close_after is None else flood_start + args.close_after
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(flood.ended.wait(), max(0.0, close_at - flood.now()))
    await flood.close()
    if reading is None:
        reading = asyncio.create_task(flood.read_loop())
    closed_at = min(t for t in (flood.close_sent, flood.server_close, flood.eof) if t is not None)
    run_end = max(window_end, closed_at + args.tail)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(flood.ended.wait(), max(0.0, run_end - flood.now()))
    await asyncio.sleep(max(0.0, run_end - flood.now()))

    stop.set()
    sampler.done.set()
    flood.abort()
    harness_cpu = time.process_time() - harness_cpu0
    harness_wall = flood.now() - flood_start
    await asyncio.gather(*probes, return_exceptions=True)
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    await asyncio.gather(*closers, return_exceptions=True)
    sampler.join(2)

    run = sampler.window(flood_start, run_end)
    rss = [s.rss for s in sampler.samples if s.rss is not None]
    return {
        "flood": {**flood.report(window_end), "window_s": [round(flood_start, 2), round(window_end, 2)]},
        "worker_cpu_pct": {
            "idle": sampler.window(idle_start, idle_end),
            "flood": sampler.window(flood_start, window_end),
            "after_close": sampler.window(closed_at, closed_at + args.tail),
        },
        "worker_rss_mb": {
            "idle": round(rss[0], 1) if rss else None,
            "max": round(max(rss), 1) if rss else None,
            "end": round(rss[-1], 1) if rss else None,
        },
        "page_ms": {
            "idle": probe_stats(idle_pages, 0, flood_start),
            "flood": probe_stats(pages, flood_start, window_end),
            "after_close": probe_stats(pages, closed_at, closed_at + args.tail),
        },
        "join_ms": {
            "idle": probe_stats(idle_joins, 0, flood_start),
            "flood": probe_stats(joins, flood_start, window_end),
            "after_close": probe_stats(joins, closed_at, closed_at + args.tail),
        },
        "host_busy_pct": run.get("host_busy_pct"),
        "host_cpus": os.cpu_count(),
        "harness_cpu_pct": round(100 * harness_cpu / harness_wall, 1) if harness_wall else None,
        "worker_alive_at_end": dep.proc.poll() is None,
    }


def summary(result: dict[str, Any]) -> str:
    f, cpu, page, join = result["flood"], result["worker_cpu_pct"], result["page_ms"], result["join_ms"]
    return "\n".join(
        [
            f"[{result['label']}] {result['tree']} @ {result['commit']}"
            + (
                f" + uncommitted {result['diff_sha1']} ({len(result['dirty_files'])} files)"
                if result["dirty_files"]
                else ""
            ),
            f"  flood: {f['sent']} requests written in {f['send_s']} s; replies {f['replies']};"
            f" history replies in the {result['params']['seconds']} s window: {f['history_replies_in_window']}",
            f"  close: client at {f['close_sent_at_s']} s, server close frame at {f['server_close_at_s']} s"
            f" (code {f['server_close_code']}), EOF at {f['eof_at_s']} s;"
            f" replies after the client's close: {f['replies_after_client_close']}",
            f"  worker CPU %: idle {cpu['idle'].get('median')}, flood median {cpu['flood'].get('median')}"
            f" max {cpu['flood'].get('max')}, after close median {cpu['after_close'].get('median')}"
            f" max {cpu['after_close'].get('max')} (series {cpu['after_close'].get('series')})",
            f"  page load ms: idle p50 {page['idle']['p50']}, flood p50 {page['flood']['p50']}"
            f" max {page['flood']['max']}"
            f" ({page['flood']['failed']} failed of {page['flood']['n']})",
            f"  join ms: idle p50 {join['idle']['p50']}, flood p50 {join['flood']['p50']} max {join['flood']['max']}"
            f" ({join['flood']['failed']} failed of {join['flood']['n']})",
            f"  host busy {result['host_busy_pct']} % of {result['host_cpus']} CPUs;"
            f" harness {result['harness_cpu_pct']} % of one; worker RSS {result['worker_rss_mb']} MB",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, required=True, help="source tree to run (a checkout of this project)")
    parser.add_argument("--label", default=None, help="name of the run in the results (default: the tree's name)")
    parser.add_argument("--seconds", type=float, default=8.0, help="the flood window, from the first request")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--limit", type=int, default=100, help="the `limit` of each history request")
    parser.add_argument("--messages", type=int, default=200, help="messages seeded into the room")
    parser.add_argument("--body-chars", type=int, default=120, help="length of each seeded message")
    parser.add_argument(
        "--close-after",
        type=float,
        default=None,
        help="send the close frame this many seconds after the flood began (default: --seconds; 0: at once)",
    )
    parser.add_argument("--tail", type=float, default=3.0, help="seconds measured after the close")
    parser.add_argument("--no-read", action="store_true", help="do not read the replies until the close")
    parser.add_argument("--python", default=str(MAIN / ".venv/bin/python"), help="interpreter to run the tree with")
    parser.add_argument("--cap", type=float, default=60.0, help="hard limit on the whole run, seconds")
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    tree = args.tree.resolve()
    if not (tree / "manage.py").exists() or not (tree / "chat" / "serve.py").exists():
        parser.error(f"{tree} is not a checkout of the chat project")
    label = args.label or tree.name
    started = time.monotonic()

    def over_cap(signum: int, frame: Any) -> None:
        raise HardCap(f"run exceeded {args.cap + 10:.0f} s")

    signal.signal(signal.SIGALRM, over_cap)
    signal.alarm(int(args.cap) + 10)  # a backstop; the steps below have their own timeouts
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict[str, Any] = {
        "label": label,
        "tree": str(tree),
        **tree_state(tree),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "params": {
            k: getattr(args, k)
            for k in ("seconds", "requests", "limit", "messages", "body_chars", "close_after", "tail", "no_read")
        },
    }
    host0 = host_jiffies()
    time.sleep(0.5)
    host1 = host_jiffies()
    result["host_busy_pct_before"] = round(100 * (host1[0] - host0[0]) / max(1, host1[1] - host0[1]), 1)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    out = args.out_dir / f"{stamp}-{label}.json"
    status = 0
    with tempfile.TemporaryDirectory(prefix="flood-") as tmpdir:
        dep = Deployment(tree=tree, python=args.python, tmp=Path(tmpdir))
        dep.setup()
        try:
            dep.manage("migrate", "--noinput", "-v0")
            dep.manage("collectstatic", "--noinput", "-v0")
            body = ("lorem ipsum dolor sit amet " * (args.body_chars // 27 + 1))[: args.body_chars]
            seeded = dep.manage("shell", "-c", SEED.format(room=ROOM, body=body, n=args.messages)).strip()
            result["seeded"] = int(seeded.splitlines()[-1])
            dep.start()
            budget = args.cap - (time.monotonic() - started) - 8  # leave time to stop and clean up
            if budget < args.seconds + args.tail:
                raise HardCap(f"only {budget:.0f} s left of --cap for the measurement")
            result.update(asyncio.run(asyncio.wait_for(measure(dep, args), budget)))
        except (Exception, HardCap) as exc:  # noqa: BLE001 - reported in the result, and the exit status
            result["error"] = f"{type(exc).__name__}: {exc}"[:3000]
            status = 1
        finally:
            signal.alarm(0)
            dep.stop()
            result["worker_stopped_by"] = dep.stopped_by
            with contextlib.suppress(Exception):
                dep.delete_keys()
            tail = dep.log_tail(200_000)
            if tail:
                out.with_suffix(".log").write_text(tail)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["result_file"] = str(out)
    out.write_text(json.dumps(result) + "\n")
    if "flood" in result:
        print(summary(result), file=sys.stderr)
    else:
        print(f"[{label}] failed: {result.get('error')}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
