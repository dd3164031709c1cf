"""Validate the spec against the OpenAPI meta-schema once per process, not once per app.

Connexion checks the whole document on every ``add_api`` (a quarter of a second for this
spec, three quarters of building an app). A service builds one app per process, but the
test suite builds one per test. The check is kept: the first app built from a document
validates it, and an invalid one still raises; only a document already found valid in
this process is not checked again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from connexion.spec import Specification

_valid: set[str] = set()
_check = Specification._validate_spec.__func__


def _digest(spec: Any) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _validate_once(cls: type[Specification], spec: Any) -> None:
    digest = _digest(spec)
    if digest in _valid:
        return
    _check(cls, spec)
    _valid.add(digest)


def validate_each_spec_once() -> None:
    """Install the check (idempotent; ``tradepost.app.create_app`` calls it)."""
    Specification._validate_spec = classmethod(_validate_once)
