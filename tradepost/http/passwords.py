"""Slow credential work (Argon2 hashing and verifying): off the loop, outside transactions.

One Argon2id verification costs ~100 ms of CPU. Run on the event loop it would freeze
every request of the process; run inside a database transaction it would hold the
transaction (on SQLite the one write lock of every tenant) for that long. So login and
the password change read what they need in one short transaction, verify or hash here,
and write in another; ``PasswordWork`` runs the hasher on a few threads of its own
(``TRADEPOST_PASSWORD_THREADS``), so at most that many run at once and a flood of
anonymous logins queues behind itself only: it slows logins, nothing else. argon2-cffi
releases the GIL while it hashes, so the loop keeps serving meanwhile.

At most ``TRADEPOST_PASSWORD_QUEUE`` checks wait for a thread; beyond that a login is
refused at once (429, ``Retry-After: 1``) instead of holding its connection and memory.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from tradepost.errors import TooManyRequests

P = ParamSpec("P")
T = TypeVar("T")


class PasswordWork:
    def __init__(self, *, threads: int, queue: int) -> None:
        self.threads = threads
        self.queue = queue
        self._executor = ThreadPoolExecutor(threads, "tradepost-password")
        self._waiting = 0  # read and written on the event loop's thread only

    async def run(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``work(*args, **kwargs)`` on a password thread; 429 when too many are queued."""
        if self._waiting >= self.threads + self.queue:
            raise TooManyRequests(
                "Too many password checks in progress; retry in 1 s.",
                headers={"Retry-After": "1"},
            )
        self._waiting += 1
        try:
            call = functools.partial(contextvars.copy_context().run, work, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self._executor, call)
        finally:
            self._waiting -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=True)
