"""A reference client of the room protocol (docs/protocol.md), in Python, for tests with real processes.

It does what the browser client must do: keep messages by seq without duplicates, resume with
`?after=`, fill seq gaps and heartbeat-announced misses from the history, re-send unacknowledged
messages under the same client_id, and fail over between workers with a jittered backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import json
import os
import random
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests import shapes

Frame = dict[str, Any]

ORIGIN = websockets.Origin("http://127.0.0.1")
# Without its daphne internals (CHAT_DIRECT_TRANSPORT off) a worker sends 1012 and 1013 as 4012 and
# 4013 (chat.transport); the suite runs once that way too, and these are what that run's workers send.
DIRECT = os.environ.get("CHAT_DIRECT_TRANSPORT", "1").lower() not in ("0", "false", "off", "no")
CLOSE_RESTARTING = 1012 if DIRECT else 4012
CLOSE_TRY_AGAIN = 1013 if DIRECT else 4013
CLOSE_TOO_SLOW = 4008
CLOSE_NO_ROOM = 4404
# What websockets reports when the TCP connection ended without a close frame (e.g. a killed worker).
CLOSE_ABNORMAL = 1006
# Our own close of a connection that fell silent: its worker is hung, or the path to it is.
CLOSE_SILENT = 4000
# The worker is going away or cannot serve: try the next one rather than this one again.
FAIL_OVER = {CLOSE_RESTARTING, CLOSE_TRY_AGAIN, CLOSE_TOO_SLOW, CLOSE_SILENT}
# Small for tests; the browser starts at 0.5 s and stops at 10 s.
FIRST_DELAY = 0.05
MAX_DELAY = 1.0
FILL_PAGE = 100
# Like the browser: a connection silent for this many heartbeats is dead even if TCP has not noticed.
SILENCE_HEARTBEATS = 2.5
HANDSHAKE_TIMEOUT = 10.0  # as the browser: welcome may wait for the server to give up on Redis (5 s)


def guest_cookie(base_url: str) -> str:
    """A guest session as a browser gets it from a room page: the `Cookie` header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar))
    with opener.open(f"{base_url}/rooms/lobby/", timeout=5) as response:
        assert response.status == 200
    cookies = {c.name: c.value for c in jar}
    assert "sessionid" in cookies, cookies
    return f"sessionid={cookies['sessionid']}"


@dataclass
class Received:
    at: float  # time.monotonic()
    connection: int  # 1 for the first connection, 2 after the first reconnect, ...
    frame: Frame


class ChatClient:
    """One user's view of one room, over a connection that it keeps alive across workers."""

    def __init__(self, ports: list[int], slug: str, *, cookie: str | None = None) -> None:
        self.ports = ports  # tried in turn: the next one after a failure, silence or FAIL_OVER code
        self.slug = slug
        self.cookie = cookie  # a session, so that the user (and their client_ids) survive reconnects
        self.messages: dict[int, Frame] = {}  # seq -> message: the timeline
        self.outbox: dict[str, str] = {}  # client_id -> body, not acknowledged yet
        self.acked: dict[str, int] = {}  # client_id -> seq
        self.refused: dict[str, Frame] = {}  # client_id -> error frame
        self.received: list[Received] = []
        self.close_codes: list[int] = []  # of connections the server or the network ended
        self.connected_ports: list[int] = []  # the port of each connection that said welcome
        self.welcome: Frame | None = None  # of the current connection
        self.live = False  # the current connection's first history arrived
        self.known = 0  # every seq up to this is in `messages`, deleted, or asked for
        self.started = False  # a first history arrived: later connections resume
        self.fills: set[tuple[int, int | None]] = set()  # (after, before) asked and not answered
        self.port_index = 0
        self.attempt = 0
        self.connection = 0
        self.ws: ClientConnection | None = None
        self.task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.changed = asyncio.Condition()
        self.retries: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<ChatClient {self.describe()}>"

    # -- Control ------------------------------------------------------------------------------

    async def start(self, timeout: float = 10.0) -> ChatClient:
        """Connect (resuming if this client has a history) and return once the history is shown."""
        assert self.task is None or self.task.done(), "already running"
        connections = len(self.connected_ports)
        self.task = asyncio.create_task(self._run(), name=f"client-{self.slug}")
        await self.wait_until(lambda: len(self.connected_ports) > connections and self.is_synced(), timeout)
        return self

    async def stop(self) -> None:
        """Close the connection (code 1000) and stop reconnecting; the view is kept for a later start()."""
        for retry in tuple(self.retries):
            retry.cancel()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        if self.failure is not None:
            raise self.failure

    async def send(self, body: str, client_id: str | None = None) -> str:
        """Post a message through the outbox; it is sent now if connected, else after the next welcome."""
        client_id = client_id or str(uuid.uuid4())
        self.outbox[client_id] = body
        await self._transmit(client_id)
        return client_id

    # -- Reading the state --------------------------------------------------------------------

    @property
    def reconnects(self) -> int:
        return max(0, len(self.connected_ports) - 1)

    @property
    def you(self) -> Frame:
        assert self.welcome is not None
        return dict(self.welcome["you"])

    @property
    def online(self) -> list[Frame]:
        """Who the current connection's welcome said was online."""
        assert self.welcome is not None
        return list(self.welcome["online"])

    def is_synced(self) -> bool:
        """The current connection has shown its first history and no fill is outstanding."""
        return self.live and not self.fills

    def frames(self, kind: str, *, since: int = 0) -> list[Frame]:
        """Frames of one type received so far, from connection number `since` on."""
        return [r.frame for r in self.received if r.frame["type"] == kind and r.connection >= since]

    async def wait_until(self, condition: Callable[[], bool], timeout: float, what: str = "") -> None:
        """Wait (at most `timeout` seconds) until condition() holds; fail with the client's state if not."""
        try:
            async with asyncio.timeout(timeout), self.changed:
                await self.changed.wait_for(lambda: self.failure is not None or condition())
        except TimeoutError:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s: {self.describe()}") from None
        if self.failure is not None:
            raise self.failure

    async def wait_for_seqs(self, last: int, timeout: float = 10.0) -> None:
        """Wait until the timeline holds every seq 1..last (and nothing else)."""
        await self.wait_for_view(list(range(1, last + 1)), timeout)

    async def wait_for_view(self, seqs: list[int], timeout: float = 10.0) -> None:
        """Wait until the timeline holds exactly these seqs."""
        await self.wait_until(lambda: sorted(self.messages) == seqs, timeout, f"seqs {seqs[:3]}..{seqs[-3:]}")

    async def wait_for_acks(self, timeout: float = 10.0) -> None:
        """Wait until every message sent so far was acknowledged."""
        await self.wait_until(lambda: not self.outbox, timeout, "every send acknowledged")

    async def wait_on_port(self, port: int, timeout: float = 10.0) -> None:
        """Wait until the client is connected and in sync through the worker on `port`."""
        await self.wait_until(lambda: self.is_synced() and self.connected_ports[-1] == port, timeout, f"on {port}")

    def describe(self) -> str:
        seqs = sorted(self.messages)
        return (
            f"{self.slug} via {self.connected_ports} closes={self.close_codes} known={self.known} "
            f"held={len(seqs)} ({seqs[:3]}..{seqs[-3:]}) fills={sorted(self.fills, key=str)} outbox={len(self.outbox)}"
        )

    # -- Connection loop ----------------------------------------------------------------------

    def _url(self) -> str:
        port = self.ports[self.port_index % len(self.ports)]
        query = f"?after={self._resume_after()}" if self.started else ""
        return f"ws://127.0.0.1:{port}/ws/rooms/{self.slug}/{query}"

    def _resume_after(self) -> int:
        # A fill still in flight is a hole below `known`: resume from below it, so it is not lost.
        return min([self.known, *(after for after, _ in self.fills)])

    async def _run(self) -> None:
        try:
            while True:
                code = await self._session()
                if code == CLOSE_NO_ROOM:
                    return  # "no such room": retrying cannot help
                if code is None or code in FAIL_OVER:
                    self.port_index += 1  # could not connect, or this worker asked us to go elsewhere
                if code == CLOSE_RESTARTING:
                    self.attempt = 0  # a restart is expected to be brief
                delay = min(MAX_DELAY, FIRST_DELAY * 2**self.attempt) * (0.5 + random.random())
                self.attempt += 1
                await asyncio.sleep(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test by wait_until and stop
            self.failure = exc
            await self._notify()

    async def _session(self) -> int | None:
        """One connection: its close code, or None if it could not be opened."""
        port = self.ports[self.port_index % len(self.ports)]
        try:
            ws = await websockets.connect(
                self._url(),
                origin=ORIGIN,
                additional_headers={"Cookie": self.cookie} if self.cookie else None,
                proxy=None,
                compression=None,
                open_timeout=HANDSHAKE_TIMEOUT,
                close_timeout=1,
            )
        except (OSError, TimeoutError, websockets.InvalidHandshake):
            return None
        self.ws, self.welcome, self.live, silence = ws, None, False, HANDSHAKE_TIMEOUT
        self.connection += 1
        code: int | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(silence):
                        text = await ws.recv()
                except TimeoutError:
                    code = CLOSE_SILENT  # silent too long: dead, as the browser decides
                    await ws.close(CLOSE_SILENT, "no heartbeat")
                    break
                frame = shapes.check(json.loads(text))
                self.received.append(Received(time.monotonic(), self.connection, frame))
                if frame["type"] == "welcome":
                    self.connected_ports.append(port)
                    silence = SILENCE_HEARTBEATS * frame["heartbeat"]
                await self._handle(frame)
                await self._notify()
        except websockets.ConnectionClosed:
            pass
        except asyncio.CancelledError:
            await ws.close()  # stop(): a normal close, not recorded as something that happened to us
            raise
        finally:
            self.ws, self.live = None, False
        code = code or ws.close_code or CLOSE_ABNORMAL
        self.close_codes.append(code)
        await self._notify()
        return code

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # -- Frames -------------------------------------------------------------------------------

    async def _handle(self, frame: Frame) -> None:
        kind = frame["type"]
        if kind == "welcome":
            self.welcome = frame
            self.attempt = 0
            self.fills.clear()  # answers to the old connection's requests will never come
            for client_id in list(self.outbox):
                await self._transmit(client_id)
        elif kind == "history":
            await self._history(frame)
        elif kind == "message":
            if frame["seq"] > self.known + 1:
                await self._fill(self.known, frame["seq"])  # e.g. 41 then 43: ask for 42
            self.known = max(self.known, frame["seq"])
            self._show([frame])
        elif kind == "heartbeat":
            if self.started and frame["last_seq"] > self.known:
                await self._fill(self.known, None)
                self.known = frame["last_seq"]
        elif kind == "deleted":
            self.messages.pop(frame["seq"], None)
        elif kind == "ack":
            self.outbox.pop(frame["client_id"], None)
            self.acked[frame["client_id"]] = frame["seq"]
        elif kind == "error" and "client_id" in frame and frame["client_id"] in self.outbox:
            if frame["code"] in ("rate_limited", "unavailable"):  # as the page: both say "try again later"
                retry = asyncio.create_task(self._transmit(frame["client_id"], delay=frame["retry_after"]))
                self.retries.add(retry)
                retry.add_done_callback(self.retries.discard)
            else:
                self.refused[frame["client_id"]] = frame
                del self.outbox[frame["client_id"]]

    async def _history(self, frame: Frame) -> None:
        query = frame["query"]
        if query is None:  # the page that follows welcome
            assert self.welcome is not None
            if not frame["resumed"]:
                # A first page, or the server could not resume from where we were: start over.
                self.messages.clear()
            self._show(frame["messages"])
            seqs = [m["seq"] for m in frame["messages"]]
            self.known = max([self.known if frame["resumed"] else 0, self.welcome["last_seq"], *seqs])
            self.started = self.live = True
            return
        self._show(frame["messages"])
        if query["after"] is not None:
            self.fills.discard((query["after"], query["before"]))
            if frame["has_more"] and frame["messages"]:
                await self._fill(frame["messages"][-1]["seq"], query["before"])

    def _show(self, messages: list[Frame]) -> None:
        for message in messages:
            assert message["room"] == self.slug, message
            held = self.messages.get(message["seq"])
            # The same seq twice is fine (a live copy and a fill overlap); two different messages are not.
            assert held is None or (held["body"], held["client_id"]) == (message["body"], message["client_id"]), (
                held,
                message,
            )
            self.messages[message["seq"]] = message

    async def _fill(self, after: int, before: int | None) -> None:
        if (after, before) in self.fills:
            return
        # Asked for from now on: if this connection dies before the answer, the next resumes from `after`.
        self.fills.add((after, before))
        query = {"after": after, "limit": FILL_PAGE} | ({"before": before} if before is not None else {})
        await self._send_frame({"type": "history", **query})

    async def _transmit(self, client_id: str, delay: float = 0.0) -> None:
        await asyncio.sleep(delay)
        # Only on a welcomed connection: the server ignores frames until it has joined us to the room.
        if client_id in self.outbox and self.welcome is not None:
            await self._send_frame({"type": "message", "body": self.outbox[client_id], "client_id": client_id})

    async def _send_frame(self, frame: Frame) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(json.dumps(frame))
        except websockets.ConnectionClosed:
            return False
        return True
