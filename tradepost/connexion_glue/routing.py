"""Route-level facts Connexion does not give: operationId to handler, and ``Allow``.

- ``HandlerResolver``: ``operationId`` -> ``handlers.<surface>.<snake_case>``, and each
  handler's PEP 362 ``__signature__`` precomputed (``precompute_signature``): Connexion
  calls ``inspect.signature`` on the handler and the bearer hook on every request (1.14x
  req/s, bench/NOTES.md). Pinned by tests/test_spec.py (every operationId resolves).
- ``AllowedMethods``: a 405 from Starlette lists only the first matching route's methods
  in ``Allow``; this lists every method the spec defines for the path (Schemathesis's
  ``unsupported_method`` check, tests/test_schemathesis.py).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

import inflection
from connexion.resolver import Resolver

from tradepost.surfaces import surface_for

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class HandlerResolver(Resolver):  # type: ignore[misc]
    """``PATCH /api/v1/trades/{tradeId}`` with ``operationId: updateTrade`` resolves to
    ``handlers.trades.update_trade``: the module of the surface owning the path, the
    operationId in snake_case."""

    def __init__(self) -> None:
        super().__init__()
        self.spec_operation_ids: dict[str, str] = {}  # handler path -> spec operationId

    def resolve_operation_id(self, operation: Any) -> str:
        module = surface_for(operation.path).name
        handler = f"handlers.{module}.{inflection.underscore(operation.operation_id)}"
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

    def for_path(self, path: str) -> str:
        methods: set[str] = set()
        for _template, pattern, defined in self._routes:
            if pattern.fullmatch(path):
                methods.update(defined)
        if "GET" in methods:
            methods.add("HEAD")
        return ", ".join(sorted(methods))

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
