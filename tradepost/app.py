"""The app factory: everything is built here, nothing at import time.

The only module that imports ``tradepost.connexion_glue`` (an import-linter contract says
so); the middleware order it builds is drawn in ``tradepost.http.context``.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from starlette.exceptions import HTTPException

from models.offsets import documents as offset_pdf
from models.offsets.calculations import engine as calculations
from tradepost.connexion_glue.canonical import CanonicalRequest
from tradepost.connexion_glue.errors import from_exception
from tradepost.connexion_glue.operations import DecoratedOnceApp
from tradepost.connexion_glue.routing import (
    AllowedMethods,
    HandlerResolver,
    precompute_signature,
)
from tradepost.connexion_glue.spec import load_each_spec_once, validate_each_spec_once
from tradepost.connexion_glue.validation import VALIDATOR_MAP, StrictURIParser
from tradepost.db import Database, create_db_engine
from tradepost.errors import ApiError, InternalError
from tradepost.http.auth import basic_info, bearer_info
from tradepost.http.context import context_of
from tradepost.http.document import SpecDocument
from tradepost.http.idempotency import Idempotency, spec_operations
from tradepost.http.middleware import BodyLimit, RequestLog, anonymous_operations
from tradepost.http.passwords import PasswordWork
from tradepost.http.ratelimit import Limits, RateLimiter
from tradepost.http.services import Services
from tradepost.http.tokens import TokenVerifier
from tradepost.ops import looplag, migrate, supervision
from tradepost.ops.metrics import Metrics
from tradepost.settings import Settings
from tradepost.surfaces import surface_for
from tradepost.workers import webhooks

# ``tradepost/openapi.yaml`` is a symbolic link to the repository's ``openapi.yaml`` (the one
# source of truth); a built wheel or sdist holds the file itself, so an installed service
# finds its spec wherever it runs. Resolved, the path is the repository's file in a checkout.
SPEC_PATH = (Path(__file__).resolve().parent / "openapi.yaml").resolve()
IDEMPOTENCY_KEY_PARAMETER = "#/components/parameters/IdempotencyKey"

logger = logging.getLogger("tradepost")


def _quiet_shared_media_types(record: logging.LogRecord) -> bool:
    # The offset PATCH takes application/json and application/merge-patch+json with one
    # schema; Connexion warns about it on every start.
    return "accepts multiple content types" not in record.getMessage()


def load_spec() -> dict[str, Any]:
    """openapi.yaml as a dict of the caller's own (a copy of the parsed document)."""
    return copy.deepcopy(_shared_spec())


def _shared_spec() -> dict[str, Any]:
    """The parsed document, shared read-only by every app of the process (Connexion copies
    what it keeps); parsed again only when the file changes."""
    stat = SPEC_PATH.stat()
    return _parse_spec(SPEC_PATH, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _parse_spec(path: Path, _mtime_ns: int, _size: int) -> dict[str, Any]:
    """Parsed by libyaml when PyYAML has it (ten times faster); 0.13 s even so, which the
    test suite paid once per test before (an app per test)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    spec: dict[str, Any] = yaml.load(path.read_text(), Loader=loader)  # noqa: S506
    return spec


def build_services(settings: Settings, metrics: Metrics) -> Services:
    db = Database(create_db_engine(settings), forbid_loop_io=settings.forbid_loop_io)
    metrics.watch_pool(db.serving_engine)
    tokens = TokenVerifier(db, ttl=settings.token_cache_seconds, maxsize=settings.token_cache_size)
    limits = Limits(
        per_credential=settings.rate_limit_per_minute,
        auth_failures_per_address=settings.rate_limit_auth_failures_per_minute,
        logins_per_address=settings.login_attempts_per_minute,
        login_failures=settings.login_failures_per_minute,
    )
    limiter = RateLimiter(db, limits)
    passwords = PasswordWork(threads=settings.password_threads, queue=settings.password_queue)
    return Services(
        settings=settings,
        db=db,
        tokens=tokens,
        metrics=metrics,
        limiter=limiter,
        passwords=passwords,
    )


def create_app(settings: Settings | None = None) -> DecoratedOnceApp:
    settings = settings or Settings()
    supervision.exit_with_supervisor()  # a worker of `serve --workers N`: not an orphan
    logging.getLogger("connexion.operations.openapi3").addFilter(_quiet_shared_media_types)
    spec = _shared_spec()
    allowed = AllowedMethods(spec["paths"])
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[dict[str, Any]]:
        services = build_services(settings, metrics)
        if settings.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, services.db.write_engine)
        # What start-up built (the resolved spec, compiled validators, the ORM mappers)
        # lives as long as the process: out of the collector's sight, a full collection
        # under load pauses for microseconds instead of a tenth of a second.
        if settings.freeze_heap:
            gc.collect()
            gc.freeze()
        worker = webhooks.start_worker(services.db, settings) if settings.webhooks_worker else None
        warming = asyncio.gather(
            asyncio.to_thread(offset_pdf.warm_up), asyncio.to_thread(calculations.warm_up)
        )
        try:
            async with looplag.probing(metrics.loop_lag, settings.loop_lag_probe_seconds):
                yield {"services": services}
        finally:
            await warming
            if worker is not None:
                await worker.stop()
            await services.db.aclose()
            await asyncio.to_thread(services.passwords.close)
            if settings.freeze_heap:
                gc.unfreeze()  # an app started again in this process frees the old one

    async def render_error(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
        error = from_exception(exc)
        if isinstance(error, InternalError):
            logger.error("unhandled error", exc_info=exc)
        if error.status == 405:
            error.headers["Allow"] = allowed.for_path(request.url.path)
        surface = surface_for(request.url.path)
        return surface.render_error(error, context_of(request.scope).request_id)

    precompute_signature(bearer_info)
    precompute_signature(basic_info)
    validate_each_spec_once(settings.spec_checked_sha256)
    load_each_spec_once()
    resolver = HandlerResolver()
    app = DecoratedOnceApp(__name__, lifespan=lifespan)
    app.add_api(
        spec,
        resolver=resolver,
        validator_map=VALIDATOR_MAP,
        uri_parser_class=StrictURIParser,
        validate_responses=settings.validate_responses,
        strict_validation=True,
        pythonic_params=True,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs"),
    )
    for exc_class in (ApiError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_class, render_error)
    app.add_middleware(
        BodyLimit,
        MiddlewarePosition.BEFORE_ROUTING,
        max_bytes=settings.max_body_bytes,
        anonymous=anonymous_operations(spec["paths"]),
        max_anonymous_bytes=settings.max_anonymous_body_bytes,
    )
    app.add_middleware(CanonicalRequest, MiddlewarePosition.BEFORE_ROUTING, routes=allowed)
    app.add_middleware(
        SpecDocument,
        MiddlewarePosition.BEFORE_SWAGGER,
        load=lambda: (load_spec(), SPEC_PATH.read_text()),
    )
    app.add_middleware(
        Idempotency,
        MiddlewarePosition.BEFORE_CONTEXT,
        operations=spec_operations(spec["paths"], IDEMPOTENCY_KEY_PARAMETER),
        operation_ids=resolver.spec_operation_ids,
        lifetime=timedelta(hours=settings.idempotency_key_hours),
        lease=timedelta(seconds=settings.idempotency_lease_seconds),
    )
    app.add_middleware(
        RequestLog,
        MiddlewarePosition.BEFORE_EXCEPTION,
        metrics=metrics,
        operation_ids=resolver.spec_operation_ids,
    )
    return app
