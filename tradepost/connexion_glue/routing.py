"""Route-level facts Connexion does not give: operationId to handler, and ``Allow``.

- ``HandlerResolver``: ``operationId`` -> ``<module>.<snake_case>``, the module named for
  the operation's first tag in ``HANDLER_MODULES``, and each
  handler's PEP 362 ``__signature__`` precomputed (``precompute_signature``): Connexion
  calls ``inspect.signature`` on the handler and the bearer hook on every request (1.14x
  req/s, bench/NOTES.md). Pinned by tests/platform/test_spec.py (every operationId resolves).
- ``AllowedMethods``: a 405 from Starlette lists only the first matching route's methods
  in ``Allow``; this lists every method the spec defines for the path (Schemathesis's
  ``unsupported_method`` check, tests/platform/test_schemathesis.py).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

import inflection
from connexion.resolver import Resolver

STATE_CHANGING_GETS = frozenset({"acceptTrade"})
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

HANDLER_MODULES = {  # an operation's first tag -> the module holding its handlers
    "trades": "handlers.trades.trades",
    "trade-requests": "handlers.trades.requests",
    "trade-trackings": "handlers.trades.trackings",
    "trade-tracking-pipeline": "handlers.trades.pipeline",
    "strategies": "handlers.strategies.strategies",
    "offsets": "handlers.offsets.purchases",
    "webhooks": "handlers.offsets.webhooks",
    "calculations": "handlers.offsets.calculations",
    "service": "handlers.service",
}


class HandlerResolver(Resolver):  # type: ignore[misc]
    """``PATCH /api/v1/trades/{tradeId}`` with ``operationId: updateTrade`` and tag
    ``trades`` resolves to ``handlers.trades.trades.update_trade``: the tag's module, the
    operationId in snake_case."""

    def __init__(self) -> None:
        super().__init__()
        self.spec_operation_ids: dict[str, str] = {}  # handler path -> spec operationId

    def resolve_operation_id(self, operation: Any) -> str:
        module = HANDLER_MODULES[operation._operation["tags"][0]]  # no public accessor
        handler = f"{module}.{inflection.underscore(operation.operation_id)}"
        self.spec_operation_ids[handler] = operation.operation_id
        return handler

    def resolve_function_from_operation_id(self, operation_id: str) -> Any:
        return precompute_signature(super().resolve_function_from_operation_id(operation_id))


def precompute_signature(function: Any) -> Any:
    """Connexion reads a handler's (and the bearer hook's) signature on every request; with
    ``__signature__`` set (PEP 362) ``inspect.signature`` returns it instead of rebuilding it.
    """
    function.__signature__ = inspect.signature(function)
    return function


class AllowedMethods:
    """The methods the spec defines for a concrete path (Starlette reports only one route's)."""

    def __init__(self, paths: dict[str, Any]) -> None:
        self._routes = [
            (path, _template_regex(path), _methods(item)) for path, item in paths.items()
        ]
        # A GET that changes state (the buyer's accept link) must not run on a HEAD,
        # which link checkers and crawlers send as harmless: 405. (The spec declares no
        # HEAD; nothing it admits is refused.)
        self._no_head = [
            _template_regex(path)
            for path, item in paths.items()
            if isinstance(item.get("get"), dict)
            and item["get"].get("operationId") in STATE_CHANGING_GETS
        ]
        # Paths without parameters that a template with parameters also matches, with
        # their methods (HEAD with GET): looked up on every request, so computed once.
        self._shadowing = {
            path: {*defined, *(["HEAD"] if "GET" in defined else [])}
            for path, _pattern, defined in self._routes
            if "{" not in path and any("{" in t and p.fullmatch(path) for t, p, _ in self._routes)
        }

    def for_path(self, path: str) -> str:
        methods = self.static_methods(path)
        if methods is None:
            methods = set()
            for _template, pattern, defined in self._routes:
                if pattern.fullmatch(path):
                    methods.update(defined)
        if "GET" in methods and not self.head_refused(path):
            methods.add("HEAD")
        return ", ".join(sorted(methods))

    def head_refused(self, path: str) -> bool:
        """HEAD on a GET that changes state (405, not the GET's handler)."""
        return any(pattern.fullmatch(path) for pattern in self._no_head)

    def static_methods(self, path: str) -> set[str] | None:
        """The methods of a template without parameters that is ``path`` itself and
        shadows a template with parameters; None for any other path.

        Such a path shadows the templates with parameters it also matches
        (``/api/v1/trades/negotiations`` is not a ``/api/v1/trades/{tradeId}``): another
        method on it is 405, not a request for a trade called "negotiations".
        """
        return self._shadowing.get(path)

    def parameter_at(self, path: str, segment: int) -> str | None:
        """The name of the path parameter at ``segment`` (of ``path.split("/")``), if any."""
        for template, pattern, _defined in self._routes:
            if pattern.fullmatch(path):
                parts = template.split("/")
                if segment < len(parts) and parts[segment].startswith("{"):
                    return parts[segment].strip("{}")
        return None


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def _methods(item: dict[str, Any]) -> Iterable[str]:
    return [method.upper() for method in item if method in HTTP_METHODS]
