"""Schemathesis against the app in-process, over every operation, with every check.

Runs on both backends through the ``app`` fixture; credentials are real tokens.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from tests.conftest import TokenFactory
from tradepost.app import SPEC_PATH

TENANT, USER = "TEN123", "USR456"


@pytest.fixture
def api_schema(app: Any) -> Any:
    """As the README's fuzzing command runs it: the tenancy headers set the way ``-H``
    sets them (Schemathesis then leaves them out of negative cases)."""
    loaded = schemathesis.openapi.from_path(SPEC_PATH)
    loaded.config.update(headers={"tenantId": TENANT, "userId": USER})
    loaded.app = app
    return loaded


@pytest.fixture
def credentials(make_token: TokenFactory) -> dict[str, str]:
    """A real token; Schemathesis's ``ignored_auth`` check also sends it spoiled or not."""
    return {"Authorization": f"Bearer {make_token(TENANT, USER)}"}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: Any, credentials: dict[str, str]) -> None:
    case.call_and_validate(headers=credentials)
