"""What a connection's ASGI interface does not offer, taken from the server where it is daphne.

- A fast path for frames. Through ASGI, every recipient of a broadcast costs a session-wrapper
  send, daphne's reply handling, a UTF-8 encode, autobahn's framing and a Twisted buffered write
  with a pair of epoll_ctl calls around one send(): about 35 us of a 49 us delivery (see
  docs/performance.md). The WebSocket frame of a broadcast is the same bytes for every member (no
  compression is negotiated), so it is built once per worker and written straight to each
  member's socket when nothing is queued ahead of it, else appended to Twisted's buffer in order.
  Every other frame of an open socket (an ack, a history page, an error) goes the same way.
- How many bytes still wait to be written to the client, so that a client that stops reading can
  be let go before it grows its worker without bound. Daphne's Twisted transport buffers writes
  without limit.
- Closing with 1012 ("service restart", RFC 6455 / IANA), which tells clients to reconnect
  elsewhere. Autobahn's sendClose(), behind daphne's websocket.close, refuses codes other than 1000
  and 3000-4999, so it is sent with autobahn's lower-level sendCloseFrame().
- Whether the client has closed already, so that the frames it queued before its close frame are
  dropped at once instead of answered one by one (daphne hands the close over behind them).
- A hard cap on the frames a connection may send (CHAT_INBOUND_FRAME_LIMIT), counted as autobahn
  hands them to daphne: a socket past it is closed with 4429, and what it sends after that is read
  and thrown away unparsed, never queued for the consumer. The consumer's own budgets
  (chat.ratelimit) are finer but come after daphne's queue; a flood of 200,000 frames would keep
  the worker parsing for seconds. Its TCP connection stays while the client still reads what was
  queued for it, so that the close frame arrives (hang_up).
- A close frame with 1009 for an inbound message over daphne's size limit. Autobahn fails such a
  connection by dropping the TCP connection (failByDrop, 1006 at the client) unless told to fail
  it with the closing handshake.
- No pretty-printing of autobahn's whole configuration at every connection for a debug line that
  is dropped unless autobahn logs at debug level (_defer_autobahn_pformat): 13 % of the idle
  benchmark's connect phase.

Daphne gives each connection `send = functools.partial(server.handle_reply, protocol)`; the
outermost middleware finds that protocol and puts a Transport in the scope. This module is the only
one that touches daphne's, autobahn's or Twisted's internals. At start-up (`capable`) it checks that
everything it relies on is still there; if anything is missing, or CHAT_DIRECT_TRANSPORT is off, or
the server is not daphne, the worker says so in one log line and every Transport is the plain one:
frames go through ASGI `send` (slower, correct), the send buffer reads 0 (no 4008 for slow
clients), an oversized inbound message drops the connection (1006, autobahn's default), a flooder
that has not read what was queued for it within autobahn's 1 s close timeout gets a reset, each
connection pretty-prints autobahn's configuration, and close codes below 3000 go out as
4000 + (code - 1000): 1012 as 4012, 1013 as 4013 (chat.protocol.Close).
"""

from __future__ import annotations

import fcntl
import functools
import logging
import pprint
import struct
import termios
from collections.abc import Awaitable
from typing import Any, cast

from django.conf import settings

from chat.protocol import Close

logger = logging.getLogger(__name__)

# RFC 6455: FIN + text opcode; server frames are not masked.
_FIN_TEXT = 0x81


def frame_bytes(text: str) -> bytes:
    """The complete WebSocket frame carrying `text`."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = bytes((_FIN_TEXT, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN_TEXT, 127)) + size.to_bytes(8, "big")
    return header + payload


# A broadcast's frame, made once for all the members of a room on this worker: they share one string.
text_frame = functools.lru_cache(maxsize=64)(frame_bytes)


def _missing() -> list[str]:
    """What this module uses of autobahn and Twisted that their installed versions lack."""
    from autobahn.websocket.protocol import WebSocketProtocol
    from twisted.internet.abstract import FileDescriptor
    from twisted.internet.tcp import Connection

    class _NoReactor:
        pass

    missing = [f"autobahn {name}" for name in ("sendCloseFrame", "STATE_OPEN") if not hasattr(WebSocketProtocol, name)]
    if "failByDrop" not in getattr(WebSocketProtocol, "CONFIG_ATTRS_COMMON", ()):
        missing.append("autobahn failByDrop")
    # Instance attributes: a FileDescriptor made without a reactor shows them without starting anything.
    tcp = FileDescriptor(reactor=cast(Any, _NoReactor()))
    needed = ("dataBuffer", "offset", "_tempDataLen", "_writeDisconnected", "connected", "write", "reactor")
    missing += [f"autobahn {name}" for name in ("onMessage",) if not hasattr(WebSocketProtocol, name)]
    missing += [f"Twisted FileDescriptor.{name}" for name in needed if not hasattr(tcp, name)]
    if "closeHandshakeTimeout" not in getattr(WebSocketProtocol, "CONFIG_ATTRS_COMMON", ()):
        missing.append("autobahn closeHandshakeTimeout")
    # hang_up cancels the timer that sendCloseFrame keeps under this name.
    close = getattr(WebSocketProtocol, "sendCloseFrame", None)
    if close is not None and "closeHandshakeTimeoutCall" not in close.__code__.co_names:
        missing.append("autobahn closeHandshakeTimeoutCall")
    methods = ("unregisterProducer", "resumeProducing", "loseWriteConnection", "abortConnection")
    missing += [f"Twisted tcp.Connection.{name}" for name in methods if not hasattr(Connection, name)]
    return missing


@functools.cache
def capable() -> bool:
    """Whether connections may use daphne's internals; says once, at start-up, why not."""
    if not settings.CHAT_DIRECT_TRANSPORT:
        logger.warning("CHAT_DIRECT_TRANSPORT is off: every frame goes through ASGI send (slower)")
        return False
    try:
        missing = _missing()
    except ImportError as exc:
        missing = [str(exc)]
    if missing:
        logger.warning(
            "daphne's internals are not what chat.transport expects (%s): every frame goes through ASGI send (slower)",
            ", ".join(missing),
        )
        return False
    _defer_autobahn_pformat()
    return True


class _Pretty:
    """pprint.pformat(value), made only when something formats it: a log line that is emitted."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


def _defer_autobahn_pformat() -> None:
    """Autobahn pretty-prints its whole configuration at every connection, for a debug line.

    That was 6 % of a join's CPU in the worker (docs/performance.md), and the line is dropped unless
    autobahn logs at debug level. Its module's pformat now defers the work to when the line is
    formatted; Timings.__str__, its one other use, still returns the str it made.
    """
    import autobahn.websocket.protocol as autobahn_protocol

    timings, pformat = getattr(autobahn_protocol, "Timings", None), getattr(autobahn_protocol, "pformat", None)
    if pformat is _Pretty:
        return  # done already (capable() again, after its cache was cleared)
    if pformat is not pprint.pformat or timings is None:
        logger.warning("autobahn no longer uses pprint.pformat as expected: its debug line is formatted at each join")
        return
    as_pretty = timings.__str__
    autobahn_protocol.pformat = _Pretty  # type: ignore[attr-defined,assignment]
    timings.__str__ = lambda self: str(as_pretty(self))


@functools.cache
def _not_daphne(kind: str) -> None:
    logger.info("this server's send is not daphne's (%s): every frame goes through ASGI send", kind)


def for_send(send: Any) -> Transport:
    """The Transport for a connection whose ASGI `send` this is."""
    daphne = isinstance(send, functools.partial) and getattr(send.func, "__name__", "") == "handle_reply"
    if not (daphne and send.args):
        _not_daphne(type(send).__name__)
        return Transport()
    return Transport(send.args[0] if capable() else None, daphne=True)


# A hung-up flooder keeps its TCP connection while it takes what was queued for it (our close frame
# last) at least this often, and for this long at most.
HANG_UP_GRACE_SECONDS = 1.0
HANG_UP_LIMIT_SECONDS = 10.0


def _discard(data: bytes) -> None:
    """A hung-up connection's dataReceived: what a flooder sends after its close frame is not parsed."""


def _unacked(tcp: Any) -> int:
    """Bytes the kernel holds for this socket that the client has not acknowledged (Linux), else 0."""
    try:
        answer = fcntl.ioctl(tcp.socket.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    except (AttributeError, OSError):
        return 0
    return int(struct.unpack("i", answer)[0])


@functools.cache
def _inbound_limit() -> tuple[int, float]:
    from chat.ratelimit import parse_rate

    return parse_rate(settings.CHAT_INBOUND_FRAME_LIMIT)


class Transport:
    __slots__ = ("_open_state", "_protocol", "_tcp", "daphne", "direct")

    def __init__(self, protocol: Any = None, *, daphne: bool = False) -> None:
        self.daphne = daphne  # daphne's websocket.close takes only 1000 and 3000-4999
        tcp = getattr(protocol, "transport", None)
        # twisted.internet.abstract.FileDescriptor keeps its pending writes in these fields.
        self._tcp: Any = tcp if hasattr(tcp, "_tempDataLen") and hasattr(tcp, "dataBuffer") else None
        self._protocol: Any = protocol if hasattr(protocol, "sendCloseFrame") else None
        self._open_state = getattr(protocol, "STATE_OPEN", None)
        # Frames can go straight to the socket: daphne's plain TCP (TLS terminated in front of it).
        self.direct = self._tcp is not None and self._protocol is not None and hasattr(self._tcp, "socket")
        if self._protocol is not None and hasattr(self._protocol, "failByDrop"):
            self._protocol.failByDrop = False  # protocol violations and oversized frames: close frame first
        if self._protocol is not None and hasattr(self._protocol, "onMessage"):
            self._cap_inbound(self._protocol)

    def _cap_inbound(self, protocol: Any) -> None:
        from chat.ratelimit import TokenBucket

        bucket = TokenBucket(*_inbound_limit())
        deliver = protocol.onMessage

        def on_message(payload: bytes, is_binary: bool) -> None:
            if bucket.take():
                if not getattr(protocol, "muted", True):
                    logger.warning("closing %s: over the inbound frame limit", getattr(protocol, "client_addr", "?"))
                    protocol.muted = True  # daphne drops whatever else arrives
                    protocol.sendCloseFrame(code=int(Close.FLOOD), isReply=False)
                    self.hang_up()
                return
            deliver(payload, is_binary)

        protocol.onMessage = on_message

    def send_frame(self, frame: bytes) -> None:
        """Write a complete WebSocket frame (from text_frame); only when `direct`."""
        protocol, tcp = self._protocol, self._tcp
        if protocol.state != self._open_state or not tcp.connected or tcp._writeDisconnected:
            return  # closing or closed: a data frame may not follow a close frame
        if not getattr(tcp, "TLS", False) and len(tcp.dataBuffer) == tcp.offset and not tcp._tempDataLen:
            # Nothing is queued ahead of us: the kernel takes it now, usually all of it.
            try:
                sent = tcp.socket.send(frame)
            except BlockingIOError:
                sent = 0
            except OSError:
                return  # the connection is failing; Twisted sees it on its next read
            if sent == len(frame):
                return
            frame = frame[sent:]
        tcp.write(frame)  # queued in order behind what is waiting; Twisted flushes it

    def is_open(self) -> bool:
        """False once a close frame was sent or received; True where the server does not tell."""
        if self._protocol is None:
            return True
        return bool(self._protocol.state == self._open_state)

    def buffered(self) -> int:
        """Bytes accepted for this client and not yet handed to the kernel."""
        tcp = self._tcp
        if tcp is None:
            return 0
        return int(len(tcp.dataBuffer) - tcp.offset + tcp._tempDataLen)

    def hang_up(self) -> None:
        """Throw away what the client sends; end TCP once what is queued for it (a close frame) is out.

        For a flood: what it sent after the frames already read is never parsed, let alone queued.
        It is still read, so a client that waits for its writes to go out before it reads gets to
        the close frame. A half-close (FIN) once Twisted's buffer is out, not a close: a reset before
        the FIN makes the kernel drop what the client has not read yet, the close frame that says why
        with it. So the connection is cut only once the client stops taking bytes for a grace, or
        at a limit; autobahn's own close-handshake timeout (1 s, then a reset) is off for it.
        """
        tcp, protocol = self._tcp, self._protocol
        if tcp is None or protocol is None:
            return
        protocol.dataReceived = _discard
        protocol.closeHandshakeTimeout = 0  # for a close frame still to come; one sent already set a timer
        timer, protocol.closeHandshakeTimeoutCall = getattr(protocol, "closeHandshakeTimeoutCall", None), None
        if timer is not None:
            timer.cancel()
        # Daphne's HTTP channel stays the socket's producer after the upgrade: Twisted would resume it
        # when the buffer drains instead of half-closing, and it may have paused reading.
        tcp.unregisterProducer()
        tcp.resumeProducing()
        tcp.loseWriteConnection()
        reactor = tcp.reactor
        deadline = reactor.seconds() + HANG_UP_LIMIT_SECONDS

        def unread() -> int:
            return self.buffered() + _unacked(tcp)

        def cut_unless_reading(before: int) -> None:
            if not tcp.connected:
                return  # the client read its close frame and closed
            left = unread()
            if left < before and reactor.seconds() < deadline:
                reactor.callLater(HANG_UP_GRACE_SECONDS, cut_unless_reading, left)
            else:
                tcp.abortConnection()

        reactor.callLater(HANG_UP_GRACE_SECONDS, cut_unless_reading, unread())

    def close_frame(self, code: int) -> bool:
        """Send a close frame with any valid code; False if this server needs the ASGI way."""
        if self._protocol is None:
            return False
        self._protocol.sendCloseFrame(code=code, isReply=False)
        return True

    def asgi_close_code(self, code: int) -> int:
        """The code to give ASGI's websocket.close: daphne sends only 1000 and 3000-4999."""
        return code if not self.daphne or code == 1000 or code >= 3000 else 4000 + code - 1000


class TransportMiddleware:
    """Outermost WebSocket middleware: adds scope["transport"], a Transport for this connection.

    It hands back the inner application's coroutine rather than awaiting it (an ASGI application
    need only return an awaitable), so no frame of it stays suspended for the life of the socket.
    """

    _asgi_single_callable = True  # asgiref's hint: a plain method, not an ASGI 2 double callable

    def __init__(self, app: Any) -> None:
        self.app = app
        capable()  # at start-up: a worker whose daphne changed says so before its first client

    def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Awaitable[Any]:
        return cast("Awaitable[Any]", self.app({**scope, "transport": for_send(send)}, receive, send))
