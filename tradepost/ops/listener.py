"""One listening socket per worker process, all on the same port (``SO_REUSEPORT``).

With ``--workers N`` uvicorn binds one socket in its parent process and every worker
accepts from it. asyncio accepts every connection queued at a wake-up (up to the
backlog), so a burst of new connections lands on whichever worker woke first: under wrk,
all 32 connections went to one of two workers while the other idled (bench/NOTES.md).
With ``SO_REUSEPORT`` each worker listens on a socket of its own bound to the same
address, and the kernel spreads new connections across them by their address hash.

The parent binds a ``ReusePortSocket`` (so a port in use fails at start, and port 0
resolves once) and never listens on it, so no connection is queued there. uvicorn sends
it to every worker it starts; unpickling it in the worker binds that worker's own socket.
Linux only: elsewhere ``supported()`` is False and uvicorn's shared socket is used.

The socket is made with ``IPPROTO_TCP`` as its protocol, not 0: asyncio switches Nagle's
algorithm off (``TCP_NODELAY``) on an accepted connection only when the socket object says
TCP, and without it a keep-alive response written in two pieces waited ~40 ms for the
client's delayed ACK (issue 30). ``TCP_NODELAY`` is also set on the listening socket,
which Linux copies to every connection it accepts.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


class ReusePortSocket(socket.socket):
    """A bound socket that is re-bound, not shared, in each process it is sent to."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_bound, (self.family, self.getsockname()))


def supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int) -> ReusePortSocket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _bound(family, (host, port))


def _bound(family: int, address: Any) -> ReusePortSocket:
    sock = ReusePortSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    return sock
