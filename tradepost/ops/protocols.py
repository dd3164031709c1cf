"""uvicorn's HTTP protocols with a time limit for reading a request's headers.

uvicorn arms no timer when a connection is made, and cancels its keep-alive timer at the
first byte of a request: a client that connects and sends nothing, or half a request
line, or headers without the blank line that ends them, holds its connection (a file
descriptor and a protocol object) for as long as it likes (issue 26: 1,100 half-sent
requests all still held after 70 s). Here each connection gets ``header_timeout``
seconds (``TRADEPOST_HEADER_TIMEOUT_SECONDS``) from its opening, and each later request
on it from its first byte, to deliver the request line and every header; then it is
closed. The body and the response are not limited by it (the body limit and the
handlers' own limits apply).

The protocols also switch Nagle's algorithm off on every connection (``TCP_NODELAY``):
asyncio does so only for sockets it knows as TCP, and a socket made elsewhere (uvicorn's
own ``--workers`` socket, one inherited from a process manager) may not say so.

And they send a response's head and its body in one ``send()`` (``OneSendPerResponse``):
uvicorn writes the status line and headers when the app starts its response and the body
when the app sends it, two system calls where one does (issue 30).

``tradepost serve`` passes ``protocol_class()`` to uvicorn as its ``http`` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from tradepost.settings import Settings


@functools.cache
def header_timeout() -> float:
    return Settings().header_timeout_seconds


def _no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _is_final_head(start: bytes) -> bool:
    return start.startswith(b"HTTP/1.1 ") and start[9:10] != b"1"


class OneSendPerResponse:
    """A connection's transport that holds a response's head until the next write, so that
    the head and the body leave in one ``send()``.

    On loopback each ``send()`` also runs the receiver's TCP work, and the socket writes were
    a fifth of the service's busy time. Nothing is reordered, and nothing waits longer than
    the event loop's next turn (a streamed body's head goes out then, on its own). Informational
    heads (``100 Continue``) go at once: the client waits for them before sending the body.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif _is_final_head(bytes(data[:10])):
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def flush(self) -> None:
        if self._held is not None:
            data, self._held = self._held, None
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _HeaderDeadline:
    """What both protocols do to a new connection (``_take``), and the timer: armed when a
    request (or the connection) starts, cancelled when its headers are complete; when it
    fires, the connection is closed."""

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    _header_timer: asyncio.TimerHandle | None = None

    def _take(self, transport: asyncio.Transport) -> None:
        """A new connection: Nagle off, one send per response, the header timer armed."""
        _no_delay(transport)
        self.transport = OneSendPerResponse(transport, self.loop)  # type: ignore[assignment]
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(header_timeout(), self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency (uvicorn[standard])
    HttpToolsProtocol = None  # type: ignore[assignment,misc]


if HttpToolsProtocol is not None:

    class TimedHttpToolsProtocol(_HeaderDeadline, HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._take(transport)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm_header_timer()

        def on_headers_complete(self) -> None:
            self._disarm_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)


class TimedH11Protocol(_HeaderDeadline, H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._take(transport)

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # a new request has begun (or continues)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def protocol_class() -> Any:
    """What uvicorn's ``auto`` would pick (httptools when installed), with the limits."""
    return TimedHttpToolsProtocol if HttpToolsProtocol is not None else TimedH11Protocol
