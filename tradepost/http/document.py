"""``/openapi.json`` and ``/openapi.yaml``: the document as written, ``$ref``s and
``servers`` included.

Connexion serves its own dereferenced copy (every ``$ref`` inlined: five times the size,
and a client generated from it gets a model per inlined use) with ``servers`` replaced by
the request's root path (Swagger UI then lists no server). This middleware sits before
Connexion's Swagger UI middleware and answers those two paths itself: the YAML file's
text, and the same document as JSON; Swagger UI at ``/docs/`` loads it from there. Both
are built on the first request for them (an app costs nothing more to build).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

PATHS = {"/openapi.json": "application/json", "/openapi.yaml": "application/yaml"}


def _jsonable(value: Any) -> str:
    if isinstance(value, date | datetime):  # YAML turns unquoted dates into objects
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class SpecDocument:
    def __init__(self, app: ASGIApp, *, load: Callable[[], tuple[dict[str, Any], str]]) -> None:
        self.app = app
        self.load = load
        self.documents: dict[str, bytes] = {}

    def _document(self, path: str) -> bytes:
        if not self.documents:
            spec, text = self.load()
            self.documents = {
                "/openapi.json": json.dumps(spec, ensure_ascii=False, default=_jsonable).encode(),
                "/openapi.yaml": text.encode(),
            }
        return self.documents[path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path in PATHS and scope["method"] in ("GET", "HEAD"):
            response = Response(self._document(path), media_type=PATHS[path])
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
