"""Validate and resolve the spec once per process, not once per app.

Connexion checks the whole document on every ``add_api`` (a quarter of a second for this
spec, three quarters of building an app). A service builds one app per process, but the
test suite builds one per test. The check is kept: the first app built from a document
validates it, and an invalid one still raises; only a document already found valid in
this process is not checked again.

Resolving it (two deep copies and every ``$ref`` inlined: 0.06 s) is likewise done once
for the document object the app factory shares (``tradepost.app._shared_spec``): the
``Specification`` Connexion builds from it is kept and handed to every later app. Nothing
mutates it after it is built (a base path would, and none is set; Swagger UI clones it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from connexion.spec import Specification

_valid: set[str] = set()
_check = Specification._validate_spec.__func__


def digest(spec: Any) -> str:
    """The document's identity: SHA-256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def _validate_once(cls: type[Specification], spec: Any) -> None:
    digest_ = digest(spec)
    if digest_ in _valid:
        return
    _check(cls, spec)
    _valid.add(digest_)


def validate_each_spec_once(checked_digest: str | None = None) -> None:
    """Install the check (idempotent; ``tradepost.app.create_app`` calls it).
    ``checked_digest`` names a document another process already checked
    (``Settings.spec_checked_sha256``)."""
    if checked_digest:
        _valid.add(checked_digest)
    Specification._validate_spec = classmethod(_validate_once)


_original_load = Specification.load.__func__
_loaded: dict[int, tuple[Any, Specification]] = {}


def _load_once(cls: type[Specification], spec: Any, *, arguments: Any = None) -> Specification:
    if not isinstance(spec, dict) or arguments:
        return _original_load(cls, spec, arguments=arguments)
    kept = _loaded.get(id(spec))
    if kept is not None and kept[0] is spec:  # the very same object, not a reused id
        return kept[1]
    specification: Specification = _original_load(cls, spec, arguments=arguments)
    _loaded.clear()  # the spec file changed: the old document is gone
    _loaded[id(spec)] = (spec, specification)
    return specification


def load_each_spec_once() -> None:
    """Install the cache (idempotent; ``tradepost.app.create_app`` calls it)."""
    Specification.load = classmethod(_load_once)
