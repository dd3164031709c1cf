"""CPU time of the processes under test, read from ``/proc`` before and after a run.

A wait (a delayed ACK, a lock, a sleep) shows as latency without CPU: beside each run's
latency the benchmark reports the CPU a request cost the server under test (all its
processes: a uvicorn master and its workers share a process group) and PostgreSQL (every
backend, and through the postmaster's children's times the backends that ended during the
run, such as pgbench's).
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Stat:
    pid: int
    comm: str
    ppid: int
    pgrp: int
    own: float
    """Seconds of user and system CPU the process used."""
    children: float
    """Seconds its children used that it has waited for."""


def _stats() -> list[Stat]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., utime (14), stime,
        # cutime, cstime (17)
        own = (int(fields[11]) + int(fields[12])) / TICK
        children = (int(fields[13]) + int(fields[14])) / TICK
        found.append(Stat(int(entry.name), comm, int(fields[1]), int(fields[2]), own, children))
    return found


def group_seconds(pgrp: int) -> float:
    """CPU seconds of the live processes of one process group."""
    return sum(stat.own for stat in _stats() if stat.pgrp == pgrp)


def postgres_seconds() -> float:
    """CPU seconds of PostgreSQL's processes, ended backends included."""
    stats = [stat for stat in _stats() if stat.comm == "postgres"]
    pids = {stat.pid for stat in stats}
    postmaster = sum(stat.children for stat in stats if stat.ppid not in pids)
    return postmaster + sum(stat.own for stat in stats)


def children_seconds() -> float:
    """CPU seconds of this process's ended children (a pgbench run, once waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Meter:
    """CPU per request of a server (its process group; None: a client child of this
    process, as pgbench is) and, with ``postgres``, of PostgreSQL."""

    pgrp: int | None
    postgres: bool

    def __post_init__(self) -> None:
        self._start = self._read()

    def _read(self) -> tuple[float, float]:
        app = children_seconds() if self.pgrp is None else group_seconds(self.pgrp)
        return app, postgres_seconds() if self.postgres else 0.0

    def per_request(self, requests: int) -> tuple[float, float | None]:
        """Milliseconds of CPU per request since the meter started: the server's (or the
        client's), PostgreSQL's (None without ``postgres``)."""
        (app_now, db_now), (app_then, db_then) = self._read(), self._start
        app, db = app_now - app_then, db_now - db_then
        count = max(requests, 1)
        return app * 1000 / count, (db * 1000 / count if self.postgres else None)
