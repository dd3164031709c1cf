"""The ceiling: Starlette on uvicorn parsing the JSON body and answering it back."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def create_app() -> Starlette:
    async def healthz(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse(await request.json())

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "PATCH"]),
        ]
    )
