"""Schemathesis against the app in-process, over every operation, with every check.

Runs on both backends through the ``app`` fixture; credentials are real tokens, each
operation's of its own surface's kind (a surface refuses the others' credentials).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from tests.conftest import TokenFactory
from tradepost.app import SPEC_PATH
from tradepost.surfaces import surface_for

TENANT, USER = "TEN123", "USR456"
TENANCY = {"tenantId": TENANT, "userId": USER}


@pytest.fixture
def api_schema(app: Any, make_token: TokenFactory) -> Any:
    """Each operation gets its surface's credential (a trade API token, the customer's
    login token, a carbon-offset API key) through a custom auth, which the auth checks
    treat as explicit credentials: they still drop and spoil it."""
    tokens = {
        "trades": make_token(TENANT, USER),
        "strategies": make_token(TENANT, USER, kind="strategies"),
        "offsets": make_token(TENANT),
    }
    loaded = schemathesis.openapi.from_path(SPEC_PATH)

    @loaded.auth(refresh_interval=None)
    class SurfaceToken:
        def get(self, case: Any, ctx: Any) -> str | None:
            return tokens.get(surface_for(case.operation.path).name)  # service paths: none

        def set(self, case: Any, data: str | None, ctx: Any) -> None:
            if data is not None:
                case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    loaded.app = app
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: Any) -> None:
    """As the README's fuzzing command: on valid cases, the token's own tenancy headers. A
    negative case keeps what was generated, so the negative checks judge what was sent."""
    headers = {}
    if case.meta is not None and case.meta.generation.mode.is_positive and case.headers:
        headers = {name: value for name, value in TENANCY.items() if name in case.headers}
    case.call_and_validate(headers=headers)
