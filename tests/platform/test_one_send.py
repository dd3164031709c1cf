"""A response's head and body leave the server in one ``send()`` (issue 30: uvicorn wrote
them apart, two system calls each running the receiver's TCP work on loopback), on both of
uvicorn's HTTP protocols, without reordering or holding anything past the loop's next turn."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.servers import uvicorn_in_thread
from tradepost.ops import protocols
from tradepost.ops.protocols import OneSendPerResponse


class Recorder:
    """What a transport was asked to send, one entry per write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def transport(recorder: Recorder, loop: asyncio.AbstractEventLoop) -> OneSendPerResponse:
    return OneSendPerResponse(recorder, loop)  # type: ignore[arg-type]


def test_head_and_body_are_one_write(recorder: Recorder, transport: OneSendPerResponse) -> None:
    transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert recorder.writes == []
    assert transport.get_write_buffer_size() > 0
    transport.write(b"ok")
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]


def test_a_head_without_a_body_goes_out_on_the_next_turn(
    recorder: Recorder, transport: OneSendPerResponse, loop: asyncio.AbstractEventLoop
) -> None:
    transport.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    loop.run_until_complete(asyncio.sleep(0))
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    transport.write(b"2\r\nok\r\n")  # a later chunk goes out by itself, in order
    assert recorder.writes[1:] == [b"2\r\nok\r\n"]


def test_continue_is_not_held(recorder: Recorder, transport: OneSendPerResponse) -> None:
    """The client waits for ``100 Continue`` before it sends the body."""
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert recorder.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]


def test_close_sends_what_is_held_first(recorder: Recorder, transport: OneSendPerResponse) -> None:
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.close()
    assert recorder.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    assert recorder.closed


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b"hello " * 100
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Sends:
    """A transport that records every write reaching the socket (the event loop makes no
    system call for an empty one)."""

    def __init__(self, transport: asyncio.Transport, sends: list[bytes]) -> None:
        self._transport = transport
        self._sends = sends

    def write(self, data: bytes) -> None:
        if data:
            self._sends.append(bytes(data))
        self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def counting(base: type[Any], sends: list[bytes]) -> type[asyncio.Protocol]:
    class Counted(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(Sends(transport, sends))

    return Counted


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("http", ["TimedHttpToolsProtocol", "TimedH11Protocol"])
def test_each_keep_alive_response_is_one_send(http: str, loop: str) -> None:
    sends: list[bytes] = []
    with (
        uvicorn_in_thread(
            hello, http=counting(getattr(protocols, http), sends), loop=loop, log_level="error"
        ) as port,
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        sock.settimeout(10)
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            received = b""
            while not received.endswith(b"hello " * 100):
                received += sock.recv(65536)
    assert len(sends) == 3, [s[:20] for s in sends]
    assert all(s.startswith(b"HTTP/1.1 200 ") and s.endswith(b"hello ") for s in sends)


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
@pytest.mark.parametrize("http", ["TimedHttpToolsProtocol", "TimedH11Protocol"])
def test_nagle_is_off_even_on_a_socket_not_known_as_tcp(http: str, loop: str) -> None:
    """``serve --workers N`` hands each worker a socket made with protocol 0, on which
    asyncio itself does not set TCP_NODELAY."""
    seen: list[int] = []

    class Seeing(getattr(protocols, http)):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))
    with (
        listening,
        uvicorn_in_thread(hello, sockets=[listening], http=Seeing, loop=loop, log_level="error"),
        socket.create_connection(listening.getsockname(), timeout=10) as sock,
    ):
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert seen
    assert all(seen), seen
