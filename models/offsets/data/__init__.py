"""Versioned data files of the carbon calculations and comparisons (JSON, one per source).

Each file names its ``source``, ``edition`` and ``licence``, and has a ``version``; a
factor update is a change here with a test, not a code change. ``load(name)`` reads one
once per process.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed ``<name>.json`` of this package (read once)."""
    text = resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data
