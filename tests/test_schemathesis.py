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
def api_schema(app: Any, make_token: TokenFactory, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TRADEPOST_FUZZ_TOKEN", make_token(TENANT, USER))
    monkeypatch.setenv("TRADEPOST_FUZZ_TENANT", TENANT)
    monkeypatch.setenv("TRADEPOST_FUZZ_USER", USER)
    loaded = schemathesis.openapi.from_path(SPEC_PATH)
    loaded.app = app
    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_keeps_the_contract(case: Any) -> None:
    case.call_and_validate()
