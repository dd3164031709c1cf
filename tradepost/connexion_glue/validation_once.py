"""Request validation built once per operation instead of once per request.

Connexion's ``RequestValidationOperation`` builds, on every request, two URI parsers, a
parameter validator, a media-type table of the operation's ``consumes`` and a body
validator, none of which depends on the request (issue 30: about 15 us a request). Here
the parameter validator and the media-type table are built with the operation, and a body
validator once per (media type, charset) the operation is sent, a bounded number of them
(beyond that, one per request as before: the header is the client's to choose). What is
checked, in which order, and what each refusal says stay Connexion's.
"""

from __future__ import annotations

import logging
from typing import Any

from connexion import utils
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import UnsupportedMediaTypeProblem
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.operations import AbstractOperation
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("connexion.middleware.validation")

MAX_BODY_VALIDATORS = 8
"""Body validators kept per operation, one per (media type, charset) seen."""

_NOT_BUILT = object()


class _ValidatedOnce(RequestValidationOperation):  # type: ignore[misc]
    def __init__(
        self,
        next_app: ASGIApp,
        *,
        operation: AbstractOperation,
        strict_validation: bool = False,
        validator_map: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            next_app,
            operation=operation,
            strict_validation=strict_validation,
            validator_map=validator_map,
        )
        self._parser = operation.uri_parser_class(operation.parameters, operation.body_definition())
        self._parameters = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=self._parser,
            strict_validation=strict_validation,
            security_query_params=self.security_query_params,
        )
        consumes = [(media_type.lower(), None) for media_type in operation.consumes]
        self._consumes = MediaTypeDict(consumes) if consumes else None
        self._bodies: dict[tuple[str, str], Any] = {}

    def validate_mime_type(self, mime_type: str) -> None:
        if self._consumes is not None and mime_type.lower() not in self._consumes:
            raise UnsupportedMediaTypeProblem(
                detail=f"Invalid Content-type ({mime_type}), expected {self._operation.consumes}"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameters.validate(scope)
        mime_type, encoding = self.extract_content_type(scope["headers"])
        self.validate_mime_type(mime_type)
        validator = self._body_validator(mime_type, encoding)
        if validator is not None:
            receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)

    def _body_validator(self, mime_type: str, encoding: str) -> Any:
        validator = self._bodies.get((mime_type, encoding), _NOT_BUILT)
        if validator is _NOT_BUILT:
            validator = self._build_body_validator(mime_type, encoding)
            if len(self._bodies) < MAX_BODY_VALIDATORS:
                self._bodies[mime_type, encoding] = validator
        return validator

    def _build_body_validator(self, mime_type: str, encoding: str) -> Any:
        """As Connexion builds it per request; None where the body is not validated."""
        operation = self._operation
        schema = operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            validator_class = self._validator_map["body"][mime_type]
        except KeyError:
            logger.info(
                "Skipping validation. No validator registered for content type: %s.", mime_type
            )
            return None
        return validator_class(
            schema=schema,
            required=operation.request_body.get("required", False),
            nullable=utils.is_nullable(operation.body_definition(mime_type)),
            encoding=encoding,
            strict_validation=self.strict_validation,
            uri_parser=self._parser,
        )


class _ValidationApi(RequestValidationAPI):  # type: ignore[misc]
    def make_operation(self, operation: AbstractOperation) -> RequestValidationOperation:
        return _ValidatedOnce(
            self.next_app,
            operation=operation,
            strict_validation=self.strict_validation,
            validator_map=self.validator_map,
        )


class RequestValidationOnce(RequestValidationMiddleware):  # type: ignore[misc]
    """Connexion's request validation middleware, its operations built once."""

    api_cls = _ValidationApi
