"""The three API surfaces: which paths each owns, its request-id header, its error format.

Each surface renders every ``ApiError`` in the format its public document gives, so a
client written against that document can read our errors too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from connexion.lifecycle import ConnexionResponse

from tradepost.errors import ApiError
from tradepost.surfaces import offsets, strategies, trades

Renderer = Callable[[ApiError, str], ConnexionResponse]


@dataclass(frozen=True, slots=True)
class Surface:
    name: str
    prefixes: tuple[str, ...]
    request_id_header: str
    render_error: Renderer


TRADES = Surface("trades", ("/api/v1/", "/api/trade-requests"), "X-Request-Id", trades.render_error)
STRATEGIES = Surface(
    "strategies", ("/api/v0/", "/health/"), "X-Request-Id", strategies.render_error
)
OFFSETS = Surface("offsets", ("/v2/",), "SQUAKE-Request-Id", offsets.render_error)
SERVICE = Surface("service", ("/",), "X-Request-Id", trades.render_error)

_ORDER = (TRADES, STRATEGIES, OFFSETS)


def surface_for(path: str) -> Surface:
    for surface in _ORDER:
        if path.startswith(surface.prefixes):
            return surface
    return SERVICE
