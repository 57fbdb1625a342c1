"""WebSocket frames built once per broadcast, and the direct write path's ordering rules."""

from __future__ import annotations

import functools
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from chat import transport
from chat.transport import Transport, text_frame

pytestmark = pytest.mark.database_agnostic


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_encodes_every_length_class(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte UTF-8: length is in bytes
    frame = text_frame(text)
    payload = text.encode()
    assert frame[0] == 0x81  # FIN, text; never masked
    if len(payload) < 126:
        assert frame[1] == len(payload) and frame[2:] == payload
    elif len(payload) < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == len(payload) and frame[4:] == payload
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == len(payload) and frame[10:] == payload


class FakeTcp:
    """The fields of a Twisted FileDescriptor the transport reads, around a real socket pair."""

    TLS = False

    def __init__(self, sock: socket.socket) -> None:
        self.socket = sock
        self.dataBuffer = b""
        self.offset = 0
        self._tempDataBuffer: list[bytes] = []
        self._tempDataLen = 0
        self.connected = True
        self._writeDisconnected = False

    def write(self, data: bytes) -> None:
        self._tempDataBuffer.append(data)
        self._tempDataLen += len(data)


class FakeProtocol:
    STATE_OPEN = 1
    state = 1

    def __init__(self, tcp: FakeTcp) -> None:
        self.transport = tcp

    def sendCloseFrame(self, **kwargs: Any) -> None:
        pass


@pytest.fixture
def pair() -> Any:
    a, b = socket.socketpair()
    a.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_frame_goes_straight_to_the_socket_when_nothing_waits(pair: Any) -> None:
    a, b = pair
    tcp = FakeTcp(a)
    transport = Transport(FakeProtocol(tcp))
    assert transport.direct
    transport.send_frame(text_frame("hello"))
    assert b.recv(100) == text_frame("hello")
    assert tcp._tempDataLen == 0


def test_frame_queues_behind_what_waits_so_order_is_kept(pair: Any) -> None:
    a, b = pair
    tcp = FakeTcp(a)
    tcp.write(b"earlier")  # e.g. an ack that autobahn wrote and Twisted has not flushed yet
    Transport(FakeProtocol(tcp)).send_frame(text_frame("later"))
    assert tcp._tempDataBuffer == [b"earlier", text_frame("later")]
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(100)


def test_nothing_is_sent_once_the_websocket_is_closing(pair: Any) -> None:
    a, b = pair
    protocol = FakeProtocol(FakeTcp(a))
    protocol.state = 2  # closing: a data frame may not follow the close frame
    Transport(protocol).send_frame(text_frame("late"))
    b.setblocking(False)
    with pytest.raises(BlockingIOError):
        b.recv(100)
    assert protocol.transport._tempDataLen == 0


def test_other_servers_get_no_direct_path() -> None:
    transport = Transport(None)
    assert not transport.direct and transport.buffered() == 0 and not transport.close_frame(1012)


# -- The adapter's start-up check and its fallback ---------------------------------------------


@pytest.fixture
def fresh_check() -> Iterator[None]:
    transport.capable.cache_clear()
    yield
    transport.capable.cache_clear()


def test_the_installed_daphne_autobahn_and_twisted_have_what_the_adapter_uses(fresh_check: None) -> None:
    # Fails after an upgrade that renames an internal: the worker would fall back (slower) and say so.
    assert transport._missing() == []
    assert transport.capable() is True


def test_an_internal_gone_after_an_upgrade_makes_every_connection_plain_and_says_so_once(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from autobahn.websocket.protocol import WebSocketProtocol

    monkeypatch.delattr(WebSocketProtocol, "sendCloseFrame")
    with caplog.at_level(logging.WARNING, logger="chat.transport"):
        assert transport.capable() is False
        plain = transport.for_send(functools.partial(handle_reply, object()))
        transport.for_send(functools.partial(handle_reply, object()))
    assert (plain.direct, plain.buffered(), plain.close_frame(1012)) == (False, 0, False)
    assert plain.asgi_close_code(1012) == 4012 and plain.asgi_close_code(4404) == 4404  # still daphne
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "autobahn sendCloseFrame" in warnings[0]


def test_turning_the_adapter_off_is_a_setting(fresh_check: None, settings: Any) -> None:
    settings.CHAT_DIRECT_TRANSPORT = False
    assert transport.capable() is False


def test_under_another_server_codes_go_through_asgi_unchanged(fresh_check: None) -> None:
    async def send(message: dict[str, Any]) -> None:
        pass

    other = transport.for_send(send)
    assert (other.direct, other.daphne, other.asgi_close_code(1012)) == (False, False, 1012)


def handle_reply(protocol: object, message: dict[str, Any]) -> None:
    """Stands for daphne's Server.handle_reply: the adapter recognises daphne's send by it."""


class DaphneLikeProtocol(FakeProtocol):
    """What daphne's protocol does with a frame (queues it) and with a close frame, recorded."""

    muted = False
    client_addr = "127.0.0.1:5555"

    def __init__(self, tcp: FakeTcp) -> None:
        super().__init__(tcp)
        self.queued: list[bytes] = []
        self.closes: list[int] = []

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if not self.muted:
            self.queued.append(payload)

    def sendCloseFrame(self, **kwargs: Any) -> None:
        self.closes.append(kwargs["code"])


class Reactor:
    """Twisted's reactor as hang_up uses it: a clock, and calls that the test runs when it likes."""

    def __init__(self) -> None:
        self.now = 0.0
        self.later: list[tuple[float, Any, tuple[Any, ...]]] = []

    def seconds(self) -> float:
        return self.now

    def callLater(self, delay: float, call: Any, *args: Any) -> None:
        self.later.append((self.now + delay, call, args))

    def run_next(self) -> None:
        self.now, call, args = self.later.pop(0)
        call(*args)


class Timer:
    cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@pytest.fixture
def flooded(pair: Any, settings: Any, fresh_check: None) -> Iterator[tuple[DaphneLikeProtocol, FakeTcp, list[str]]]:
    """A connection that sent 50 frames past a cap of 5: its protocol, its TCP and what was done to it."""
    settings.CHAT_INBOUND_FRAME_LIMIT = "5/60"
    transport._inbound_limit.cache_clear()
    tcp = FakeTcp(pair[0])
    done: list[str] = []
    for name in ("unregisterProducer", "resumeProducing", "loseWriteConnection", "abortConnection"):
        setattr(tcp, name, functools.partial(done.append, name))
    tcp.reactor = Reactor()  # type: ignore[attr-defined]
    protocol = DaphneLikeProtocol(tcp)
    timer = protocol.closeHandshakeTimeoutCall = Timer()  # type: ignore[attr-defined]
    tcp.write(b"x" * 3_000_000)  # history pages queued ahead of the close frame
    Transport(protocol)
    for i in range(50):
        protocol.onMessage(b"%d" % i, False)
    assert timer.cancelled
    yield protocol, tcp, done
    transport._inbound_limit.cache_clear()


def test_a_connection_past_the_inbound_frame_cap_is_closed_and_its_frames_are_thrown_away(
    flooded: tuple[DaphneLikeProtocol, FakeTcp, list[str]],
) -> None:
    protocol, _, done = flooded
    assert protocol.queued == [b"0", b"1", b"2", b"3", b"4"]  # the rest never reach the consumer
    assert protocol.closes == [4429] and protocol.muted
    # What it sends from now on is read (so that it can get to the close frame) and never parsed.
    assert protocol.dataReceived is transport._discard  # type: ignore[attr-defined]
    # Autobahn's 1 s close-handshake timeout would reset the connection: it is off for this one.
    assert protocol.closeHandshakeTimeout == 0  # type: ignore[attr-defined]
    # Half-closed once Twisted's buffer is out, which daphne's HTTP channel, still the producer, would stop.
    assert done == ["unregisterProducer", "resumeProducing", "loseWriteConnection"]


def test_a_hung_up_client_that_keeps_reading_keeps_its_connection_until_it_closes(
    flooded: tuple[DaphneLikeProtocol, FakeTcp, list[str]],
) -> None:
    _, tcp, done = flooded
    reactor = tcp.reactor  # type: ignore[attr-defined]
    for left in (2_000_000, 1_000_000, 0):
        tcp._tempDataLen = left  # it has read more each time it is looked at
        reactor.run_next()
    tcp.connected = False  # it read everything, its close frame last, and closed
    reactor.run_next()
    assert "abortConnection" not in done and not reactor.later


def test_a_hung_up_client_that_stops_reading_is_cut_after_a_grace(
    flooded: tuple[DaphneLikeProtocol, FakeTcp, list[str]],
) -> None:
    _, tcp, done = flooded
    reactor = tcp.reactor  # type: ignore[attr-defined]
    reactor.run_next()
    assert done[-1] == "abortConnection" and reactor.now == transport.HANG_UP_GRACE_SECONDS


def test_a_hung_up_client_that_reads_a_trickle_is_cut_at_the_limit(
    flooded: tuple[DaphneLikeProtocol, FakeTcp, list[str]],
) -> None:
    _, tcp, done = flooded
    reactor = tcp.reactor  # type: ignore[attr-defined]
    while "abortConnection" not in done:
        tcp._tempDataLen -= 1  # a byte per grace
        reactor.run_next()
    assert reactor.now == transport.HANG_UP_LIMIT_SECONDS


def test_autobahn_pretty_prints_its_configuration_only_for_a_line_that_is_logged(fresh_check: None) -> None:
    import pprint

    import autobahn.websocket.protocol as autobahn_protocol

    assert transport.capable() is True
    config = [("autoPingTimeout", 20, "WebSocketServerFactory")]
    deferred = autobahn_protocol.pformat(config)
    assert not isinstance(deferred, str)  # nothing formatted yet
    assert f"\n{deferred}" == "\n" + pprint.pformat(config)  # formatted as txaio formats a log line
    timings = autobahn_protocol.Timings()
    timings.track("onOpen")
    assert isinstance(str(timings), str) and "onOpen" in str(timings)
    transport.capable.cache_clear()
    assert transport.capable() is True and autobahn_protocol.pformat is deferred.__class__  # once
