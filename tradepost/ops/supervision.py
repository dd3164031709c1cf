"""Worker processes of ``tradepost serve --workers N`` end when their supervisor dies.

uvicorn's supervisor starts the workers and restarts them, but a worker does not notice
when the supervisor itself is killed (SIGKILL, an OOM kill): it kept serving, unmanaged,
and a new supervisor started beside it on the same port (``SO_REUSEPORT``). So the
supervisor writes its pid into the environment the workers inherit
(``SUPERVISOR_ENV``), and each worker, when the app is created, asks the kernel for a
SIGTERM when its parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``; elsewhere a thread
that checks the parent pid every half second). SIGTERM is uvicorn's graceful stop: the
requests in flight are finished first. A supervisor that died before the request was
made is caught by comparing the parent pid afterwards.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading

SUPERVISOR_ENV = "TRADEPOST_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
WATCH_SECONDS = 0.5


def mark_supervisor() -> None:
    """In the supervisor, before it starts workers."""
    os.environ[SUPERVISOR_ENV] = str(os.getpid())


def exit_with_supervisor() -> bool:
    """In a worker: SIGTERM to this process when the supervisor dies. False (nothing
    done) outside a worker of ``serve --workers N``."""
    named = os.environ.get(SUPERVISOR_ENV, "")
    if not named.isdigit() or int(named) == os.getpid():
        return False
    supervisor = int(named)
    if not (sys.platform.startswith("linux") and _parent_death_signal(signal.SIGTERM)):
        threading.Thread(
            target=_watch, args=(supervisor,), name="supervisor-watch", daemon=True
        ).start()
    if os.getppid() != supervisor:  # gone before the kernel was asked
        os.kill(os.getpid(), signal.SIGTERM)
    return True


def _parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        threading.Event().wait(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
