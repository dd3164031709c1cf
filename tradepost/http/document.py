"""``/openapi.json`` and ``/openapi.yaml``: the document as written, ``$ref``s and
``servers`` included.

Connexion serves its own dereferenced copy (every ``$ref`` inlined: five times the size,
and a client generated from it gets a model per inlined use) with ``servers`` replaced by
the request's root path (Swagger UI then lists no server). This middleware sits before
Connexion's Swagger UI middleware and answers those two paths itself: the YAML file's
text, and the same document as JSON; Swagger UI at ``/docs/`` loads it from there.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send


def _jsonable(value: Any) -> str:
    if isinstance(value, date | datetime):  # YAML turns unquoted dates into objects
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


class SpecDocument:
    def __init__(self, app: ASGIApp, *, spec: dict[str, Any], text: str) -> None:
        self.app = app
        as_json = json.dumps(spec, ensure_ascii=False, default=_jsonable).encode()
        self.documents = {
            "/openapi.json": (as_json, "application/json"),
            "/openapi.yaml": (text.encode(), "application/yaml"),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            document = self.documents.get(scope["path"])
            if document is not None:
                body, media_type = document
                await Response(body, media_type=media_type)(scope, receive, send)
                return
        await self.app(scope, receive, send)
