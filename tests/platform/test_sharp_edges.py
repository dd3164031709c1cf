"""Connexion's sharp edges (issue 6), per surface, in that surface's own error format.

In-process, for every path and operation of the trade, Strategies and carbon-offset
surfaces (read from openapi.yaml): a 405 lists every method of the path in ``Allow``; header
names are case-insensitive, the auth scheme too. On a real ``tradepost serve`` (uvicorn's
HTTP parser, real chunked transfer encoding), for every write operation: a chunked body
without Content-Length is read and accepted; a non-UTF-8 body is 400; a body without
Content-Type is 415; a declared oversize body is 413 before a byte of it is sent; an
undeclared (chunked) oversize body is 413 long before it ends. The in-process variants of
the body cases, and many more, are in tests/platform/test_hostile.py.
"""

from __future__ import annotations

import json
import select
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import truncate_all
from tests.contract import (
    HTTP_METHODS,
    assert_error_format,
    methods_of,
    operations,
    spec,
)
from tests.servers import Server, running_server
from tests.world import WRITES, World, bearer, build_world, trade_headers
from tradepost.connexion_glue.routing import STATE_CHANGING_GETS
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings
from tradepost.surfaces import OFFSETS, surface_for

COVERED_PATHS = sorted({op.path for op in operations()})


def concrete(path: str) -> str:
    """A request path for a template: every parameter its documented example."""
    for op in operations():
        if op.path == path:
            for parameter in op.parameters:
                if parameter["in"] == "path":
                    path = path.replace("{" + parameter["name"] + "}", str(parameter["example"]))
    assert "{" not in path, path
    return path


def expected_allow(path: str) -> str:
    """The spec's methods, and HEAD with GET unless the GET changes state (the buyer's
    accept link: HEAD there is 405, issue 26)."""
    methods = methods_of(path)
    get = spec()["paths"][path].get("get", {})
    if "GET" in methods and get.get("operationId") not in STATE_CHANGING_GETS:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


@pytest.mark.parametrize("path", COVERED_PATHS)
def test_405_allow_lists_every_method_of_the_path(client: Any, path: str) -> None:
    undefined = [m.upper() for m in HTTP_METHODS if m.upper() not in methods_of(path)]
    assert undefined
    for method in undefined:
        response = client.request(method, concrete(path), headers={"Authorization": "Bearer x"})
        assert_error_format(response, surface_for(path), 405)
        assert response.headers["allow"] == expected_allow(path), method


def _as_trade_owner(w: World) -> dict[str, str]:
    return trade_headers(w, "TENA/alice", "TENA", "alice")


def _as_offset_client(w: World) -> dict[str, str]:
    return bearer(w, "CLIENTA")


# Reads with header parameters, and one read per surface that has none (its bearer token).
READS: dict[str, tuple[str, Callable[[World], str], Callable[[World], dict[str, str]]]] = {
    "getTrade": ("GET", lambda w: f"/api/v1/trades/{w.trade_id}", _as_trade_owner),
    "listTrades": ("GET", lambda w: "/api/v1/trades", _as_trade_owner),
    "getTradeHistory": ("GET", lambda w: f"/api/v1/trades/{w.trade_id}/history", _as_trade_owner),
    "listTradeNegotiations": ("GET", lambda w: "/api/v1/trades/negotiations", _as_trade_owner),
    "getTradeRequest": ("GET", lambda w: f"/api/trade-requests/{w.request_id}", _as_trade_owner),
    "getTradeRequestHistory": (
        "GET",
        lambda w: f"/api/trade-requests/{w.request_id}/history",
        _as_trade_owner,
    ),
    "listTradeTrackings": ("GET", lambda w: "/api/v1/trade-trackings", _as_trade_owner),
    "getTradeTracking": (
        "GET",
        lambda w: f"/api/v1/trade-trackings/{w.tracking_id}",
        _as_trade_owner,
    ),
    "getTradeTrackingHistory": (
        "GET",
        lambda w: f"/api/v1/trade-trackings/{w.tracking_id}/history",
        _as_trade_owner,
    ),
    "getStrategyPurchase": (
        "GET",
        lambda w: f"/api/v0/user/alice/purchase/{w.purchase_id}/get",
        lambda w: bearer(w, "CUSTA/alice"),
    ),
    "listStrategies": (
        "GET",
        lambda w: "/api/v0/strategies/alice?idretailer=123",
        lambda w: bearer(w, "CUSTA/alice"),
    ),
    "getPurchase": ("GET", lambda w: f"/v2/purchases/{w.offset_purchase_id}", _as_offset_client),
    "downloadFile": ("GET", lambda w: f"/v2/files/{w.offset_file_id}/content", _as_offset_client),
    "cancelPurchase": (
        "POST",
        lambda w: f"/v2/purchases/{w.offset_purchase_id}/cancel",
        _as_offset_client,
    ),
    "deleteWebhook": ("DELETE", lambda w: f"/v2/webhooks/{w.webhook_id}", _as_offset_client),
    # Last: the trade is gone afterwards.
    "deleteTrade": ("DELETE", lambda w: f"/api/v1/trades/{w.trade_id}", _as_trade_owner),
}


def shout(headers: dict[str, str]) -> dict[str, str]:
    return {name.upper(): value for name, value in headers.items()}


def whisper(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value.replace("Bearer ", "bearer ") for name, value in headers.items()}


def test_every_operation_with_header_parameters_and_every_surface_is_covered() -> None:
    with_headers = {
        op.operation_id for op in operations() if any(p["in"] == "header" for p in op.parameters)
    }
    assert with_headers <= set(READS) | set(WRITES)
    by_id = {op.operation_id: op for op in operations()}
    assert {by_id[op].surface for op in READS} == {op.surface for op in operations()}


@pytest.mark.parametrize("spelling", [shout, whisper], ids=["UPPER", "lower"])
def test_header_names_and_the_auth_scheme_are_case_insensitive(
    client: Any, db: Database, spelling: Any
) -> None:
    world = build_world(db)
    for operation_id, write in WRITES.items():
        response = client.request(
            write.method,
            write.url(world),
            headers=spelling(write.headers(world)),
            json=write.body(world),
        )
        assert response.status_code < 300, (operation_id, response.text)
    for operation_id, (method, url, headers) in READS.items():
        response = client.request(method, url(world), headers=spelling(headers(world)))
        assert response.status_code in {200, 204}, (operation_id, response.text)


@pytest.mark.parametrize("media_type", ["APPLICATION/JSON", "Application/Json; charset=UTF-8"])
def test_the_media_type_is_case_insensitive(client: Any, db: Database, media_type: str) -> None:
    """RFC 9110: it was matched case-sensitively, skipping body validation (a 500)."""
    world = build_world(db)
    for operation_id, write in WRITES.items():
        response = client.request(
            write.method,
            write.url(world),
            headers={**write.headers(world), "Content-Type": media_type},
            content=json.dumps(write.body(world)).encode(),
        )
        assert response.status_code < 300, (operation_id, response.text)


# --- on a real server -----------------------------------------------------------------------

LIMIT = 64 * 1024


@pytest.fixture(scope="session")
def edge_server(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[Server]:
    """One server per test process for every write's edges: each test empties its
    database and builds the world again (a server start is 1.2-1.5 s of CPU)."""
    directory = tmp_path_factory.mktemp("edges")
    shutil.copy(sqlite_template, directory / "edges.db")
    url = f"sqlite:///{directory / 'edges.db'}"
    with running_server(url, directory, env={"TRADEPOST_MAX_BODY_BYTES": str(LIMIT)}) as server:
        yield server


@pytest.fixture
def live(edge_server: Server) -> tuple[Server, World]:
    url = edge_server.database_url
    truncate_all(url)
    db = Database(create_db_engine(Settings(database_url=url)))
    world = build_world(db)
    db.dispose()
    return edge_server, world


class Raw:
    """One HTTP/1.1 exchange over a plain socket, to control exactly what is sent when."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.received = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.sock.close()

    def send_head(self, method: str, url: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {url} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def answered(self, wait: float = 0) -> bool:
        readable, _, _ = select.select([self.sock], [], [], wait)
        return bool(readable)

    def response(self) -> httpx.Response:
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:  # the server closed with our unread body queued
                break
            if not chunk:
                break
            self.received += chunk
        self.sock.close()
        head, _, body = self.received.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode().split("\r\n")
        headers = [tuple(line.split(": ", 1)) for line in header_lines]
        return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def chunked(*parts: bytes) -> Iterator[bytes]:
    yield from parts


@pytest.mark.slow
@pytest.mark.parametrize("operation_id", sorted(WRITES))
def test_body_edges_on_a_real_server(live: tuple[Server, World], operation_id: str) -> None:
    server, world = live
    write = WRITES[operation_id]
    url, headers = server.url + write.url(world), write.headers(world)
    surface = surface_for(write.url(world))
    body = json.dumps(write.body(world)).encode()
    json_type = {**headers, "Content-Type": "application/json"}

    not_utf8 = httpx.request(write.method, url, headers=json_type, content=b'{"a": "\xff"}')
    assert_error_format(not_utf8, surface, 400)

    untyped = httpx.request(write.method, url, headers=headers, content=body)
    assert_error_format(untyped, surface, 415)

    # Declared too large: answered before a byte of the body is sent.
    with Raw(server) as raw:
        headers = {**json_type, "Content-Length": str(10**9)}
        raw.send_head(write.method, write.url(world), headers)
        assert raw.answered(wait=5), "no answer to a declared oversize body"
        assert_error_format(raw.response(), surface, 413)

    # Undeclared (chunked) too large: answered once the limit is passed, not at the end.
    # A small send buffer keeps the client from running megabytes ahead of a busy server
    # (loopback buffers grow to several MB), so what is sent tracks what the server read.
    with Raw(server) as raw:
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, LIMIT)
        headers = {**json_type, "Transfer-Encoding": "chunked"}
        raw.send_head(write.method, write.url(world), headers)
        piece = b" " * 4096
        sent, planned = 0, 64 * LIMIT
        deadline = time.monotonic() + 30
        while sent < planned and not raw.answered() and time.monotonic() < deadline:
            try:
                raw.sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
        assert raw.answered(wait=5)
        assert sent < planned / 2, f"the server read {sent} bytes of an oversize stream"
        assert_error_format(raw.response(), surface, 413)

    # Last, as it may end what the token can do (a password change revokes the customer's
    # login tokens): the legitimate body, streamed.
    half = len(body) // 2
    streamed = httpx.request(
        write.method, url, headers=json_type, content=chunked(body[:half], body[half:])
    )
    assert streamed.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code < 300, streamed.text


def test_spec_declares_413_and_415_on_every_write() -> None:
    for op in operations():
        if op.request_schema is not None:
            assert {"400", "413", "415"} <= set(op.definition["responses"]), op.operation_id
    assert spec()["paths"]


def test_a_line_break_in_a_path_parameter_is_400_where_404_is_undocumented(client: Any) -> None:
    """``%0A`` in a path segment made the router find no route: a 404 that the Strategies
    operations do not document (Schemathesis, ST103). On the trade and Strategies surfaces
    it is 400 naming the parameter, in the surface's format; on the carbon-offset surface
    (free-text ``{id}``) the documented 404."""
    tried = 0
    for op in operations():
        names = [p["name"] for p in op.parameters if p["in"] == "path"]
        if not names:
            continue
        path = concrete(op.path)
        for parameter in op.parameters:
            if parameter["in"] == "path" and parameter["name"] == names[0]:
                path = path.replace(str(parameter["example"]), "a%0Ab", 1)
        response = client.request(op.method.upper(), path)
        if op.surface is OFFSETS:
            assert response.status_code in (401, 404), (path, response.text)
            continue
        body = assert_error_format(response, op.surface, 400)
        assert names[0] in json.dumps(body), body
        tried += 1
    assert tried > 15
