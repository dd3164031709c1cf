"""A connection must deliver a request's line and headers within
``TRADEPOST_HEADER_TIMEOUT_SECONDS`` (issue 26, 15: half-sent requests were held for
ever, because uvicorn cancels its keep-alive timer at a request's first byte and arms
none when a connection opens). Proved on ``tradepost serve`` itself and on both of
uvicorn's HTTP protocols (httptools, the one served; h11)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from tests.servers import running_server, uvicorn_in_thread
from tradepost.ops import protocols

TIMEOUT = 1.0


def closed_after(sock: socket.socket, limit: float) -> float:
    """Seconds until the server closes ``sock`` (reads what it sends meanwhile)."""
    sock.settimeout(limit)
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        pytest.fail(f"still open after {limit} s")
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def check_half_sent_requests_are_closed(port: int) -> list[float]:
    took = []
    halves = [
        b"",  # connects, sends nothing
        b"GET /healthz HT",  # half a request line
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n",  # no blank line ending it
    ]
    for half in halves:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(half)
            took.append(closed_after(sock, TIMEOUT + 5))
    # A keep-alive connection: the first request is answered, the half-sent second closed.
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        took.append(closed_after(sock, TIMEOUT + 5))
    # Headers sent slowly but within the limit are served.
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for piece in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(TIMEOUT / 5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    return took


def test_tradepost_serve_closes_half_sent_requests(tmp_path: Path) -> None:
    env = {"TRADEPOST_HEADER_TIMEOUT_SECONDS": str(TIMEOUT)}
    database = f"sqlite:///{tmp_path / 'headers.db'}"
    with running_server(database, tmp_path, env=env) as server:
        took = check_half_sent_requests_are_closed(server.port)
    assert all(TIMEOUT * 0.8 <= t < TIMEOUT + 3 for t in took), took


async def healthz(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize("http", ["TimedHttpToolsProtocol", "TimedH11Protocol"])
def test_both_protocols_close_half_sent_requests(
    http: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(protocols, "header_timeout", lambda: TIMEOUT)
    with uvicorn_in_thread(healthz, http=getattr(protocols, http), log_level="error") as port:
        took = check_half_sent_requests_are_closed(port)
    assert all(TIMEOUT * 0.8 <= t < TIMEOUT + 3 for t in took), took
