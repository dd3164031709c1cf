"""Handlers decorated once per operation instead of once per request.

Connexion's ``AsyncOperation.fn`` builds a ``StarletteDecorator`` on every request, and its
wrapper then builds the parameter and response decorators (``functools.wraps`` three
times, ``inspect`` of the handler's arguments) and a URI parser from the operation's
definitions, again on every request. None of that depends on the request: here it is
built once, with the operation, and kept. Per request only the
``ConnexionRequest`` is new, as in Connexion. The snake_case form of each parameter's name
(``pythonic_params``: three regular expressions per name and request) is remembered too.
Pinned by tests/platform/test_spec.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from connexion import AsyncApp
from connexion.apps.asynchronous import AsyncApi, AsyncOperation
from connexion.context import receive, scope
from connexion.decorators import StarletteDecorator
from connexion.decorators.parameter import AsyncParameterDecorator, pythonic, sanitized
from connexion.middleware import ConnexionMiddleware
from connexion.middleware.request_validation import RequestValidationMiddleware
from connexion.operations import AbstractOperation
from connexion.uri_parsing import AbstractURIParser

from tradepost.connexion_glue.validation_once import RequestValidationOnce


class _NamesConvertedOnce(AsyncParameterDecorator):  # type: ignore[misc]
    def __init__(self, *, framework: Any, pythonic_params: bool = False) -> None:
        super().__init__(framework=framework, pythonic_params=pythonic_params)
        convert = pythonic if pythonic_params else sanitized
        # Bounded: names come from the spec, and strict validation refuses unknown ones.
        self.sanitize_fn = functools.lru_cache(maxsize=512)(convert)


class _DecoratedOnce(StarletteDecorator):  # type: ignore[misc]
    def __init__(self, *, parser: AbstractURIParser, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._parser = parser

    @property
    def _parameter_decorator_cls(self) -> type[AsyncParameterDecorator]:
        return _NamesConvertedOnce

    def __call__(self, function: Callable[..., Any]) -> Callable[..., Any]:
        decorated = self.decorate(function)

        @functools.wraps(function)
        async def wrapper() -> Any:
            request = self.framework.get_request(
                uri_parser=self._parser, scope=scope, receive=receive
            )
            return await decorated(request)

        return wrapper


class _OperationDecoratedOnce(AsyncOperation):  # type: ignore[misc]
    def __init__(self, spec_operation: AbstractOperation, **kwargs: Any) -> None:
        super().__init__(spec_operation.function, **kwargs)
        # What Connexion's decorator builds per request from the operation in flight.
        parser = spec_operation.uri_parser_class(
            spec_operation.parameters, spec_operation.body_definition()
        )
        decorator = _DecoratedOnce(
            parser=parser, pythonic_params=self.pythonic_params, jsonifier=self.jsonifier
        )
        self._decorated = decorator(self._fn)

    @property
    def fn(self) -> Callable[..., Any]:
        return self._decorated


class _ApiDecoratedOnce(AsyncApi):  # type: ignore[misc]
    def make_operation(self, spec_operation: AbstractOperation) -> AsyncOperation:
        return _OperationDecoratedOnce(
            spec_operation,
            jsonifier=self.jsonifier,
            operation_id=spec_operation.operation_id,
            pythonic_params=self.pythonic_params,
        )


class DecoratedOnceApp(AsyncApp):  # type: ignore[misc]
    """Connexion's ``AsyncApp`` whose operations decorate their handler and build their
    request validators once."""

    def __init__(self, import_name: str, **kwargs: Any) -> None:
        middlewares = [
            RequestValidationOnce if middleware is RequestValidationMiddleware else middleware
            for middleware in ConnexionMiddleware.default_middlewares
        ]
        super().__init__(import_name, middlewares=middlewares, **kwargs)
        self._middleware_app.api_cls = _ApiDecoratedOnce
