"""What a connection's ASGI interface does not offer, taken from the server where it is daphne.

- A fast path for broadcasts. Through ASGI, every recipient of a broadcast costs a session-wrapper
  send, daphne's reply handling, a UTF-8 encode, autobahn's framing and a Twisted buffered write
  with a pair of epoll_ctl calls around one send(): about 35 us of a 49 us delivery (see
  docs/performance.md). The WebSocket frame of a broadcast is the same bytes for every member (no
  compression is negotiated), so it is built once per worker and written straight to each
  member's socket when nothing is queued ahead of it, else appended to Twisted's buffer in order.
- How many bytes still wait to be written to the client, so that a client that stops reading can
  be let go before it grows its worker without bound. Daphne's Twisted transport buffers writes
  without limit.
- Closing with 1012 ("service restart", RFC 6455 / IANA), which tells clients to reconnect
  elsewhere. Autobahn's sendClose(), behind daphne's websocket.close, refuses codes other than 1000
  and 3000-4999, so it is sent with autobahn's lower-level sendCloseFrame().
- Whether the client has closed already, so that the frames it queued before its close frame are
  dropped at once instead of answered one by one (daphne hands the close over behind them).
- A close frame with 1009 for an inbound message over daphne's size limit. Autobahn fails such a
  connection by dropping the TCP connection (failByDrop, 1006 at the client) unless told to fail
  it with the closing handshake.

Daphne gives each connection `send = functools.partial(server.handle_reply, protocol)`; the
outermost middleware finds that protocol and puts a Transport in the scope. Under any other server
the buffer reads 0 and the close goes through ASGI.
"""

from __future__ import annotations

import functools
from typing import Any

# RFC 6455: FIN + text opcode; server frames are not masked.
_FIN_TEXT = 0x81


@functools.lru_cache(maxsize=64)
def text_frame(text: str) -> bytes:
    """The complete WebSocket frame carrying `text`; members of one broadcast share one string."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        header = bytes((_FIN_TEXT, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((_FIN_TEXT, 127)) + size.to_bytes(8, "big")
    return header + payload


class Transport:
    __slots__ = ("_open_state", "_protocol", "_tcp", "direct")

    def __init__(self, protocol: Any = None) -> None:
        tcp = getattr(protocol, "transport", None)
        # twisted.internet.abstract.FileDescriptor keeps its pending writes in these fields.
        self._tcp: Any = tcp if hasattr(tcp, "_tempDataLen") and hasattr(tcp, "dataBuffer") else None
        self._protocol: Any = protocol if hasattr(protocol, "sendCloseFrame") else None
        self._open_state = getattr(protocol, "STATE_OPEN", None)
        # Frames can go straight to the socket: daphne's plain TCP (TLS terminated in front of it).
        self.direct = self._tcp is not None and self._protocol is not None and hasattr(self._tcp, "socket")
        if self._protocol is not None and hasattr(self._protocol, "failByDrop"):
            self._protocol.failByDrop = False  # protocol violations and oversized frames: close frame first

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
        """Stop reading from the client and close TCP once what is queued for it (a close frame) is out.

        For a flood: what it sent after the frames already read is never parsed, let alone queued.
        """
        if self._tcp is not None:
            self._tcp.loseConnection()  # Twisted stops reading at once and flushes its writes first

    def close_frame(self, code: int) -> bool:
        """Send a close frame with any valid code; False if this server needs the ASGI way."""
        if self._protocol is None:
            return False
        self._protocol.sendCloseFrame(code=code, isReply=False)
        return True


class TransportMiddleware:
    """Outermost WebSocket middleware: adds scope["transport"], a Transport for this connection."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
        return await self.app({**scope, "transport": Transport(protocol)}, receive, send)
