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
    ("logging", ("/logging/", "tradepost/logs.py")),
    ("metrics (prometheus_client)", ("prometheus_client/", "tradepost/metrics.py")),
    ("database: SQLAlchemy/SQLModel/driver", ("sqlalchemy/", "sqlmodel/", "sqlite3/", "psycopg")),
    ("request validation (tradepost/validation.py)", ("tradepost/validation.py",)),
    ("JSON (tradepost/jsonio.py, json, orjson)", ("tradepost/jsonio.py", "/json/")),
    ("security (bearer, token cache)", ("tradepost/auth.py", "connexion/security", "cachetools/")),
    ("handler + domain (handlers/, models/)", ("/handlers/", "/models/")),
    ("other tradepost middleware", ("tradepost/",)),
    ("Connexion (middleware, decorators, routing)", ("connexion/",)),
    ("Starlette", ("starlette/",)),
    ("uvicorn / HTTP parsing", ("uvicorn/", "httptools", "h11/")),
    # Socket I/O and callbacks of the event loop (asyncio; uvloop's native code shows as
    # asyncio's Runner.run being the leaf).
    ("event loop (asyncio, uvloop)", ("asyncio/", "uvloop/", "selectors.py")),
]


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found


def record(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """Start sampling ``pid``; the caller runs the load meanwhile and waits for this."""
    command = [py_spy(), "record", "--pid", str(pid), "--duration", str(seconds)]
    command += ["--rate", "200", "--format", "speedscope", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _category(file: str) -> str | None:
    for name, needles in CATEGORIES:
        if any(needle in file for needle in needles):
            return name
    return None


def summarize(speedscope: Path, top: int = 12) -> dict[str, object]:
    data = json.loads(speedscope.read_text())
    frames = data["shared"]["frames"]
    by_category: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    total = 0
    samples = 0
    for profile in data["profiles"]:
        for stack, weight in zip(profile["samples"], profile["weights"], strict=True):
            total += weight
            samples += 1
            category = "other"
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
    }
