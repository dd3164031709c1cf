"""Schemathesis against the app in-process, over every operation, with every check.

Runs on both backends through the ``app`` fixture; credentials are real tokens.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from schemathesis.config import HttpBearerAuthConfig

from tests.conftest import TokenFactory
from tradepost.app import SPEC_PATH

TENANT, USER = "TEN123", "USR456"
TENANCY = {"tenantId": TENANT, "userId": USER}


@pytest.fixture
def api_schema(app: Any, make_token: TokenFactory) -> Any:
    """The token as the spec's bearer scheme (what ``[auth.openapi.bearerAuth]`` in a
    schemathesis.toml sets), so that the auth checks know it and can spoil or drop it."""
    loaded = schemathesis.openapi.from_path(SPEC_PATH)
    loaded.config.auth.openapi.schemes["bearerAuth"] = HttpBearerAuthConfig(
        bearer=make_token(TENANT, USER)
    )
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
