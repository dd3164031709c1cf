"""py-spy under load, and where the samples went."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

# Each sample is charged to the deepest frame that matches one of these (first match wins
# per frame, in this order), so that e.g. SQLAlchemy called from models/ counts as database.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("logging", ("/logging/", "tradepost/ops/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/", "tradepost/ops/metrics.py")),
    ("database: SQLAlchemy/SQLModel/driver", ("sqlalchemy/", "sqlmodel/", "sqlite3/", "psycopg")),
    ("request validation (connexion_glue/validation.py)", ("connexion_glue/validation.py",)),
    ("JSON (tradepost/jsonio.py, json, orjson)", ("tradepost/jsonio.py", "/json/")),
    (
        "security (bearer, token cache)",
        ("tradepost/http/auth.py", "tradepost/http/tokens.py", "connexion/security", "cachetools/"),
    ),
    ("handler + domain (handlers/, models/)", ("/handlers/", "/models/")),
    ("other tradepost middleware", ("tradepost/",)),
    ("Connexion (middleware, decorators, routing)", ("connexion/",)),
    ("Starlette", ("starlette/",)),
    ("uvicorn / HTTP parsing", ("uvicorn/", "httptools", "h11/")),
    # Socket I/O and callbacks of the event loop (asyncio; uvloop's native code shows as
    # asyncio's Runner.run being the leaf).
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/", "selectors.py")),
]


# py-spy (without ``--idle``) still samples some threads that wait: a sample whose leaf
# frame is one of these is counted as waiting, not as work (first match wins).
WAITS: list[tuple[str, tuple[str, str]]] = [
    ("waiting: PostgreSQL's answer (psycopg)", ("psycopg/connection.py", "wait")),
    ("waiting: database thread idle, no work queued", ("concurrent/futures/thread.py", "_worker")),
    ("waiting: event loop idle (select)", ("selectors.py", "select")),
    ("waiting: uvicorn's supervisor and ping threads", ("multiprocessing/connection.py", "")),
]
THREADS = (("tradepost-db", "database threads"), ("MainThread", "event loop thread"))


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found


def record(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` and its child processes (uvicorn's workers); the caller runs
    the load meanwhile and waits for this."""
    command = [py_spy(), "record", "--pid", str(pid), "--subprocesses"]
    command += ["--duration", str(seconds)]
    command += ["--rate", "200", "--format", "speedscope", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _category(file: str) -> str | None:
    for name, needles in CATEGORIES:
        if any(needle in file for needle in needles):
            return name
    return None


def _wait(frame: dict[str, object]) -> str | None:
    file, name = str(frame.get("file", "")), str(frame.get("name", ""))
    for label, (needle, function) in WAITS:
        if needle in file and function in name:
            return label
    return None


def _thread_kind(profile_name: str) -> str:
    for needle, kind in THREADS:
        if needle in profile_name:
            return kind
    return "other threads (uvicorn's ping, supervisor)"


def summarize(speedscope: Path, top: int = 12) -> dict[str, object]:
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    by_category: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    by_thread: Counter[str] = Counter()
    busy_by_thread: Counter[str] = Counter()
    total = 0
    samples = 0
    for profile in data["profiles"]:
        kind = _thread_kind(profile.get("name", ""))
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            samples += 1
            by_thread[kind] += weight
            category = (_wait(frames[stack[-1]]) if stack else None) or "other"
            if category == "other":
                busy_by_thread[kind] += weight
                for index in reversed(stack):  # leaf first
                    found = _category(frames[index].get("file", ""))
                    if found is not None:
                        category = found
                        break
            by_category[category] += weight
            if stack:
                leaf = frames[stack[-1]]
                where = leaf.get("file", "").split("site-packages/")[-1].split("wt-bench/")[-1]
                by_leaf[f"{leaf['name']} ({where}:{leaf.get('line', '?')})"] += weight
    return {
        "samples": samples,
        "categories": [(name, count / total) for name, count in by_category.most_common()],
        "leaves": [(name, count / total) for name, count in by_leaf.most_common(top)],
        # per kind of thread: its share of all samples, and of the samples not waiting
        "threads": [
            (name, count / total, busy_by_thread[name] / max(1, sum(busy_by_thread.values())))
            for name, count in by_thread.most_common()
        ],
    }
