"""Strategies API v0, as its public documents give it (shared/api-docs/000_... for the update,
strategies-real-api.md for health, login, change password, list strategies, submit and read).

Each documented example request is sent verbatim; each documented error body is compared
exactly, since clients match these texts.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.common.caller import Caller
from models.common.types import utcnow
from models.strategies import customers
from models.strategies.configs import set_strategies
from models.strategies.customers import Customer
from tests.conftest import TokenFactory
from tests.factories import (
    RETAILER,
    add_retailer,
    load_strategy_purchase,
    make_customer,
    make_strategy_purchase,
)
from tradepost.app import create_app
from tradepost.db import Database
from tradepost.settings import Settings

ZERO_ID = "00000000-0000-0000-0000-000000000000"

# The document's curl example, byte for byte after the shell's quoting.
CURL_BODY = '{ "outputs": { "result": "ok", "detail": { "score": 0.95 } } }'

TABLE_BODY = {
    "status": "completed",
    "error": "",
    "outputs": [
        {
            "idmodel": 1,
            "value": {
                "MD": [
                    {
                        "datetime": "2025-01-15 00:00",
                        "purchase_percentage": 1.0,
                        "sale_percentage": 0.0,
                    }
                ],
                "MID1": [
                    {
                        "datetime": "2025-01-15 00:15",
                        "purchase_percentage": 0.5,
                        "sale_percentage": 0.25,
                    }
                ],
                "MID2": [],
                "MID3": [],
            },
        },
        {"idmodel": 2, "value": {"MD": [], "MID1": []}},
    ],
}


PASSWORD = "correct horse battery staple"
NO_CREDENTIALS = {"detail": "Authentication credentials were not provided."}
NO_PERMISSION = {"detail": "You do not have permission to perform this action."}
SUBMIT_URL = "/api/v0/user/example_user/submit-purchase"

# The submit page's example rows (``"YYYY-MM-DD HH:MM"``, MW).
DOC_ROWS = [
    {"datetime": "2024-01-15 14:30", "purchase": 12.0},
    {"datetime": "2024-01-15 14:45", "purchase": 10.5},
]


@pytest.fixture
def customer(db: Database) -> Customer:
    """CUST1's example_user: "Example Energy", customer@example.com, retailer 123."""
    return make_customer(db)


@pytest.fixture
def token(customer: Customer, make_token: TokenFactory) -> str:
    """The customer's token, as its login mints it (without the Argon2 cost)."""
    return make_token("CUST1", "example_user", kind="strategies")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def update_url(purchase_id: str, user: str = "example_user") -> str:
    return f"/api/v0/user/{user}/purchase/{purchase_id}/update"


def get_url(purchase_id: str, user: str = "example_user") -> str:
    return f"/api/v0/user/{user}/purchase/{purchase_id}/get"


def assert_error(response: Any, status: int, body: dict[str, str]) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == body


def login(client: Any, email: str = "customer@example.com", password: str = PASSWORD) -> Any:
    return client.post("/api/v0/auth/login/", json={"email": email, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    message: str = body["error"]
    return message


class TestHealth:
    def test_health_needs_no_token(self, client: Any) -> None:
        response = client.get("/health/")
        assert response.status_code == 200
        assert response.json() == {"status": "healthy"}


class TestLogin:
    def test_a_large_body_is_refused_before_it_is_read(self, client: Any) -> None:
        """Issue 26 (9): login takes no token, so nothing refused a large body before it
        was read and parsed (bodies up to 64 MiB). Now anonymous operations are limited
        to 64 KiB (``TRADEPOST_MAX_ANONYMOUS_BODY_BYTES``), before parsing: declared or
        streamed (no Content-Length), a larger body is 413."""
        padded = b'{"email": "customer@example.com", "password": "x"}' + b" " * 1024 * 1024
        declared = client.post(
            "/api/v0/auth/login/", content=padded, headers={"Content-Type": "application/json"}
        )
        assert declared.status_code == 413, declared.text
        assert "65536 bytes" in declared.text

        def stream() -> Any:
            for start in range(0, len(padded), 4096):
                yield padded[start : start + 4096]

        streamed = client.post(
            "/api/v0/auth/login/", content=stream(), headers={"Content-Type": "application/json"}
        )
        assert streamed.status_code == 413, streamed.text
        # A body within the limit is taken as before.
        small = client.post(
            "/api/v0/auth/login", json={"email": "nobody@example.com", "password": "x" * 12}
        )
        assert small.status_code != 413

    def test_the_documented_login(self, client: Any, customer: Customer, db: Database) -> None:
        response = client.post(
            "/api/v0/auth/login/",
            content='{"email": "customer@example.com", "password": "correct horse battery staple"}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"token", "expires_at", "customer_name", "customer_email"}
        assert body["customer_name"] == "Example Energy"
        assert body["customer_email"] == "customer@example.com"
        assert body["expires_at"].endswith("Z")
        expiry = datetime.fromisoformat(body["expires_at"])
        assert timedelta(hours=23) < expiry - datetime.now(UTC) <= timedelta(hours=24)
        purchase = make_strategy_purchase(db)
        read = client.get(get_url(purchase.id), headers=bearer(body["token"]))
        assert read.status_code == 200, read.text

    def test_the_email_is_compared_case_insensitively(
        self, client: Any, customer: Customer
    ) -> None:
        response = login(client, email="Customer@Example.com")
        assert response.status_code == 200, response.text
        assert response.json()["customer_email"] == "customer@example.com"

    @pytest.mark.parametrize(
        "credentials",
        [
            {"email": "customer@example.com"},
            {"password": PASSWORD},
            {},
            {"email": "", "password": PASSWORD},
            {"email": "customer@example.com", "password": ""},
        ],
    )
    def test_both_fields_are_required(
        self, client: Any, customer: Customer, credentials: dict[str, str]
    ) -> None:
        response = client.post("/api/v0/auth/login/", json=credentials)
        assert_error(response, 400, {"error": "Both 'email' and 'password' are required."})

    @pytest.mark.parametrize(
        ("credentials", "message"),
        [
            (
                {"email": "customer@example.com", "password": "s3cret" * 200},
                'Invalid value for "password": is longer than 1024 characters.',
            ),
            (
                {"email": "customer@example.com", "password": 123456789},
                'Invalid value for "password": is not a string.',
            ),
        ],
    )
    def test_a_malformed_password_is_not_echoed(
        self, client: Any, customer: Customer, credentials: dict[str, Any], message: str
    ) -> None:
        response = client.post("/api/v0/auth/login/", json=credentials)
        assert_error(response, 400, {"error": message})

    def test_unknown_email(self, client: Any, customer: Customer) -> None:
        response = login(client, email="nobody@example.com")
        assert_error(response, 401, {"error": "Invalid credentials; email not found."})
        not_an_address = login(client, email="not an address")
        assert_error(not_an_address, 401, {"error": "Invalid credentials; email not found."})

    def test_an_unknown_email_costs_the_same_argon2_verification(self) -> None:
        """The dummy hash verified for an unknown email has the hasher's own parameters, so
        both answers take one verification of the same cost."""
        assert not customers._hasher.check_needs_rehash(customers.DUMMY_HASH)

    def test_wrong_password(self, client: Any, customer: Customer) -> None:
        response = login(client, password="wrong")
        assert_error(response, 401, {"error": "Invalid credentials; incorrect password."})

    def test_an_account_without_a_retailer_is_not_configured(
        self, client: Any, db: Database
    ) -> None:
        make_customer(db, retailers=())
        response = login(client)
        assert_error(response, 401, {"error": "Account not configured. Please contact support."})
        wrong = login(client, password="wrong")  # told only to who knows the password
        assert_error(wrong, 401, {"error": "Invalid credentials; incorrect password."})
        add_retailer(db)
        assert login(client).status_code == 200

    def test_an_expired_login_token_stops_working(
        self, client: Any, db: Database, customer: Customer, settings: Settings
    ) -> None:
        short = Settings(**{**settings.model_dump(), "login_token_hours": 1 / 3600_000})
        with create_app(short).test_client() as other:
            token = login(other).json()["token"]
        purchase = make_strategy_purchase(db)
        response = client.get(get_url(purchase.id), headers=bearer(token))
        assert_error(response, 401, {"detail": "Token has expired."})


class TestAuthentication:
    def test_no_credentials(self, client: Any) -> None:
        response = client.put(update_url(ZERO_ID), json={"outputs": {}})
        assert_error(response, 401, {"detail": "Authentication credentials were not provided."})

    def test_invalid_token(self, client: Any) -> None:
        response = client.put(
            update_url(ZERO_ID), json={"outputs": {}}, headers={"Authorization": "Bearer nope"}
        )
        assert_error(response, 401, {"detail": "Invalid token."})

    def test_expired_token(
        self, client: Any, db: Database, customer: Customer, make_token: TokenFactory
    ) -> None:
        purchase = make_strategy_purchase(db)
        expired = make_token(
            "CUST1", "example_user", kind="strategies", expires_at=utcnow() - timedelta(seconds=1)
        )
        response = client.put(
            update_url(purchase.id),
            json={"outputs": {}},
            headers={"Authorization": f"Bearer {expired}"},
        )
        assert_error(response, 401, {"detail": "Token has expired."})
        assert load_strategy_purchase(db, purchase.id).version == 1


NEW_PASSWORD = "a much longer passphrase"


def change(client: Any, token: str, **fields: str) -> Any:
    body = {
        "old_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_confirmation": NEW_PASSWORD,
    }
    body.update(fields)
    body = {key: value for key, value in body.items() if value is not None}
    return client.post("/api/v0/auth/password/", json=body, headers=bearer(token))


class TestChangePassword:
    def test_changes_it_and_every_login_token_stops_working_at_once(
        self, client: Any, db: Database, customer: Customer, settings: Settings
    ) -> None:
        purchase = make_strategy_purchase(db)
        first, second = login(client).json()["token"], login(client).json()["token"]
        # Another process: its own app, its own token cache, the same database.
        with create_app(settings).test_client() as elsewhere:
            assert elsewhere.get(get_url(purchase.id), headers=bearer(second)).status_code == 200
            response = change(client, first)
            assert response.status_code == 204, response.text
            assert response.content == b""
            for token in (first, second):
                for where in (client, elsewhere):
                    refused = where.get(get_url(purchase.id), headers=bearer(token))
                    assert_error(refused, 401, {"detail": "Invalid token."})
        assert_error(login(client), 401, {"error": "Invalid credentials; incorrect password."})
        renewed = login(client, password=NEW_PASSWORD)
        assert renewed.status_code == 200
        ok = client.get(get_url(purchase.id), headers=bearer(renewed.json()["token"]))
        assert ok.status_code == 200

    def test_tokens_of_the_other_apis_are_refused(
        self, client: Any, db: Database, customer: Customer, make_token: TokenFactory
    ) -> None:
        """Issue 26, High 2: only a customer's login token acts on this API; a trade API
        token or a carbon-offset key of the same tenant and user is an invalid token here."""
        purchase = make_strategy_purchase(db)
        for other in (
            make_token("CUST1", "example_user", kind="trades"),
            make_token("CUST1"),  # a carbon-offset API key of the same id
        ):
            refused = client.get(get_url(purchase.id), headers=bearer(other))
            assert_error(refused, 401, {"detail": "Invalid token."})
            assert_error(change(client, other), 401, {"detail": "Invalid token."})
        assert login(client).status_code == 200  # the password is unchanged

    @pytest.mark.parametrize(
        "missing", ["old_password", "new_password", "new_password_confirmation"]
    )
    def test_a_missing_field(
        self, client: Any, customer: Customer, token: str, missing: str
    ) -> None:
        response = change(client, token, **{missing: None})  # type: ignore[arg-type]
        assert_error(response, 400, {missing: ["This field is required."]})

    def test_every_missing_field_is_named(
        self, client: Any, customer: Customer, token: str
    ) -> None:
        response = client.post("/api/v0/auth/password/", json={}, headers=bearer(token))
        assert_error(
            response,
            400,
            {
                "old_password": ["This field is required."],
                "new_password": ["This field is required."],
                "new_password_confirmation": ["This field is required."],
            },
        )

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"old_password": "wrong"}, {"old_password": ["Old password is incorrect."]}),
            (
                {"new_password_confirmation": "something else entirely"},
                {
                    "new_password_confirmation": [
                        "Password confirmation does not match new password."
                    ]
                },
            ),
            (
                {"new_password": "short", "new_password_confirmation": "short"},
                {
                    "new_password": [
                        "This password is too short. It must contain at least 8 characters."
                    ]
                },
            ),
            (
                {"new_password": "password123", "new_password_confirmation": "password123"},
                {"new_password": ["This password is too common."]},
            ),
            (
                {"new_password": "123456", "new_password_confirmation": "123456"},
                {
                    "new_password": [
                        "This password is too short. It must contain at least 8 characters.",
                        "This password is too common.",
                        "This password is entirely numeric.",
                    ]
                },
            ),
            (
                {
                    "new_password": "customer@example",
                    "new_password_confirmation": "customer@example",
                },
                {"new_password": ["The password is too similar to the email address."]},
            ),
            ({"new_password": ""}, {"new_password": ["This field may not be blank."]}),
            # issue 26, Low 17: a listed word with digits, one repeated character, the
            # current password
            (
                {"new_password": "password1234", "new_password_confirmation": "password1234"},
                {"new_password": ["This password is too common."]},
            ),
            (
                {"new_password": "aaaaaaaaaaaa", "new_password_confirmation": "aaaaaaaaaaaa"},
                {"new_password": ["This password is too common."]},
            ),
            (
                {"new_password": PASSWORD, "new_password_confirmation": PASSWORD},
                {"new_password": [customers.SAME_PASSWORD]},
            ),
        ],
    )
    def test_refusals_change_nothing(
        self,
        client: Any,
        db: Database,
        customer: Customer,
        token: str,
        fields: dict[str, str],
        expected: dict[str, list[str]],
    ) -> None:
        session_token = login(client).json()["token"]
        assert_error(change(client, token, **fields), 400, expected)
        assert login(client).status_code == 200  # the password is unchanged
        purchase = make_strategy_purchase(db)
        kept = client.get(get_url(purchase.id), headers=bearer(session_token))
        assert kept.status_code == 200  # and no token was revoked

    def test_needs_a_token(self, client: Any, customer: Customer) -> None:
        response = client.post("/api/v0/auth/password/", json={})
        assert_error(response, 401, NO_CREDENTIALS)

    def test_a_token_without_a_customer_account_may_not(
        self, client: Any, customer: Customer, make_token: TokenFactory
    ) -> None:
        no_account = make_token("CUST1", "no_account", kind="strategies")
        assert_error(change(client, no_account), 403, NO_PERMISSION)


def strategies_url(user: str = "example_user", query: str = "?idretailer=123") -> str:
    return f"/api/v0/strategies/{user}{query}"


DEFINITIONS = {
    "strategies": [
        {"id": 1, "name": "Day-ahead first", "markets": ["MD", "MID1"]},
        {"id": 2, "name": "Intraday only", "markets": ["MID1", "MID2", "MID3"]},
    ]
}


def configure(db: Database, definitions: Any, user: str = "example_user") -> None:
    with db.write() as session:
        set_strategies(
            session,
            Caller.for_tenant("CUST1"),
            user_id=user,
            retailer_id=RETAILER,
            definitions=definitions,
        )


class TestListStrategies:
    def test_the_authentication_guides_curl(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        configure(db, DEFINITIONS)
        response = client.get("/api/v0/strategies/example_user?idretailer=123", headers=auth)
        assert response.status_code == 200, response.text
        assert response.json() == DEFINITIONS

    def test_retailer_id_names_the_retailer_too(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        configure(db, [{"id": 1}])
        response = client.get(strategies_url(query="?retailer_id=123"), headers=auth)
        assert response.json() == [{"id": 1}]
        both = client.get(strategies_url(query="?idretailer=123&retailer_id=123"), headers=auth)
        assert both.json() == [{"id": 1}]
        differ = client.get(strategies_url(query="?idretailer=123&retailer_id=9"), headers=auth)
        assert '"retailer_id"' in error_of(differ, 400)

    def test_nothing_configured_is_an_empty_list(self, client: Any, auth: dict[str, str]) -> None:
        response = client.get(strategies_url(), headers=auth)
        assert response.status_code == 200
        assert response.json() == []

    def test_the_retailer_is_required(self, client: Any, auth: dict[str, str]) -> None:
        response = client.get(strategies_url(query=""), headers=auth)
        assert_error(response, 400, {"error": "Missing 'retailer_id' parameter in query string."})

    def test_replaced_definitions_have_a_new_etag(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        configure(db, DEFINITIONS)
        first = client.get(strategies_url(), headers=auth)
        tag = first.headers["etag"]
        unchanged = client.get(strategies_url(), headers={**auth, "If-None-Match": tag})
        assert unchanged.status_code == 304
        configure(db, {"strategies": []})
        changed = client.get(strategies_url(), headers={**auth, "If-None-Match": tag})
        assert changed.status_code == 200
        assert changed.json() == {"strategies": []}

    def test_only_the_users_own_retailers(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        configure(db, DEFINITIONS)
        add_retailer(db, user="colleague", retailer="456")
        for url in (
            strategies_url(user="colleague"),
            strategies_url(query="?idretailer=456"),
            strategies_url(query="?idretailer=999"),
        ):
            assert_error(client.get(url, headers=auth), 403, NO_PERMISSION)

    def test_needs_a_token(self, client: Any) -> None:
        assert_error(client.get(strategies_url()), 401, NO_CREDENTIALS)

    def test_an_unexpected_failure_is_the_documented_500(
        self, client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("database on fire")

        monkeypatch.setattr("models.strategies.configs.list_strategies", broken)
        response = client.get(strategies_url(), headers=auth)
        assert_error(response, 500, {"error": "Internal server error while retrieving strategies."})


class TestSubmit:
    def test_the_documented_request_with_retailer_id_in_the_query(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        response = client.post(
            f"{SUBMIT_URL}?retailer_id=123",
            content=json.dumps({"purchase": DOC_ROWS}),
            headers={**auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "status", "created_at", "rows_uploaded", "error", "message"}
        assert body["status"] == "pending"
        assert body["rows_uploaded"] == 2
        assert body["error"] == ""
        assert body["created_at"].endswith("Z")
        assert body["message"] == (
            f"CustomerPurchase created successfully with ID: {body['id']} "
            "for user: example_user and retailer: 123"
        )
        stored = client.get(get_url(body["id"]), headers=auth).json()
        assert stored["purchase"] == DOC_ROWS
        assert stored["retailer_id"] == "123"
        assert stored["strategy_output"] == []

    def test_the_path_form(self, client: Any, auth: dict[str, str]) -> None:
        response = client.post(f"{SUBMIT_URL}/123", json={"purchase": DOC_ROWS}, headers=auth)
        assert response.status_code == 201, response.text
        assert response.json()["message"].endswith("for user: example_user and retailer: 123")
        stored = client.get(get_url(response.json()["id"]), headers=auth).json()
        assert stored["retailer_id"] == "123"

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({}, 'Missing required field "purchase".'),
            ({"purchase": "12.0"}, 'Field "purchase" must be an array of objects.'),
            (
                {"purchase": {"datetime": "2024-01-15 14:30"}},
                'Field "purchase" must be an array of objects.',
            ),
            ({"purchase": [12.0]}, 'Field "purchase" must be an array of objects.'),
            (
                {"purchase": [{"purchase": 12.0}]},
                'Purchase item at index 0 is missing required field "datetime".',
            ),
            (
                {"purchase": [{"datetime": "2024-01-15T14:30", "purchase": 12.0}]},
                "Purchase item at index 0: invalid datetime format. "
                'Expected "YYYY-MM-DD HH:MM" (e.g., "2024-01-15 14:30").',
            ),
            (
                {"purchase": [DOC_ROWS[0], {"datetime": "2024-13-01 00:00", "purchase": 1}]},
                "Purchase item at index 1: invalid datetime format. "
                'Expected "YYYY-MM-DD HH:MM" (e.g., "2024-01-15 14:30").',
            ),
            (
                {"purchase": [{"datetime": "2024-01-15 14:30", "purchase": "12.0"}]},
                'Purchase item at index 0: field "purchase" must be a number (in MW unit).',
            ),
            (
                {"purchase": [DOC_ROWS[0], {"datetime": "2024-01-15 14:45"}]},
                'Purchase item at index 1 is missing required field "purchase".',
            ),
        ],
    )
    def test_the_documented_body_errors(
        self, client: Any, db: Database, auth: dict[str, str], body: Any, message: str
    ) -> None:
        response = client.post(f"{SUBMIT_URL}?retailer_id=123", json=body, headers=auth)
        assert_error(response, 400, {"error": message})

    def test_the_retailer_is_required(self, client: Any, auth: dict[str, str]) -> None:
        response = client.post(SUBMIT_URL, json={"purchase": DOC_ROWS}, headers=auth)
        assert_error(response, 400, {"error": "Missing 'retailer_id' parameter in query string."})

    def test_needs_a_token(self, client: Any) -> None:
        response = client.post(f"{SUBMIT_URL}?retailer_id=123", json={"purchase": DOC_ROWS})
        assert_error(response, 401, NO_CREDENTIALS)

    @pytest.mark.parametrize(
        "url",
        [
            "/api/v0/user/someone_else/submit-purchase?retailer_id=123",
            f"{SUBMIT_URL}?retailer_id=456",  # a colleague's retailer
            f"{SUBMIT_URL}?retailer_id=999",  # no such retailer
            f"{SUBMIT_URL}/456",
        ],
    )
    def test_only_for_the_users_own_retailers(
        self, client: Any, db: Database, auth: dict[str, str], url: str
    ) -> None:
        add_retailer(db, user="colleague", retailer="456")
        response = client.post(url, json={"purchase": DOC_ROWS}, headers=auth)
        assert_error(response, 403, NO_PERMISSION)

    def test_a_retried_key_for_another_retailer_is_another_request(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        add_retailer(db, retailer="456")
        keyed = {**auth, "Idempotency-Key": "submit-1"}
        body = {"purchase": DOC_ROWS}
        first = client.post(f"{SUBMIT_URL}?retailer_id=123", json=body, headers=keyed)
        assert first.status_code == 201
        again = client.post(f"{SUBMIT_URL}?retailer_id=123", json=body, headers=keyed)
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["idempotent-replayed"] == "true"
        other = client.post(f"{SUBMIT_URL}?retailer_id=456", json=body, headers=keyed)
        assert other.status_code == 422

    def test_an_unexpected_failure_is_the_documented_500(
        self, client: Any, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broken(*_args: Any, **_kwargs: Any) -> Any:
            raise RuntimeError("disk full")

        monkeypatch.setattr("models.strategies.purchases.submit_purchase", broken)
        response = client.post(
            f"{SUBMIT_URL}?retailer_id=123", json={"purchase": DOC_ROWS}, headers=auth
        )
        assert_error(response, 500, {"error": "Internal server error while creating purchase."})


class TestRead:
    def test_the_documented_read(self, client: Any, db: Database, auth: dict[str, str]) -> None:
        purchase = make_strategy_purchase(db)
        client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth)
        response = client.get(get_url(purchase.id), headers=auth)
        assert response.status_code == 200
        body = response.json()
        assert {"id", "status", "error", "created_at", "strategy_output"} <= set(body)
        assert body["strategy_output"] == TABLE_BODY["outputs"]
        assert (body["id"], body["status"], body["error"]) == (purchase.id, "completed", "")

    def test_idmodel_selects_one_model_object(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth)
        for idmodel, entry in (("1", 0), ("2", 1)):
            response = client.get(get_url(purchase.id) + f"?idmodel={idmodel}", headers=auth)
            assert response.json()["strategy_output"] == TABLE_BODY["outputs"][entry]

    def test_an_unknown_idmodel_is_the_documented_error_object(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth)
        response = client.get(get_url(purchase.id) + "?idmodel=123", headers=auth)
        assert response.status_code == 200
        assert response.json()["strategy_output"] == {
            "error": "idmodel 123 not found in strategy_output"
        }
        before_any_update = make_strategy_purchase(db)
        response = client.get(get_url(before_any_update.id) + "?idmodel=1", headers=auth)
        assert response.json()["strategy_output"] == {
            "error": "idmodel 1 not found in strategy_output"
        }

    def test_idmodel_on_free_form_outputs(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        client.put(
            update_url(purchase.id),
            content=CURL_BODY,
            headers={**auth, "Content-Type": "application/json"},
        )
        whole = client.get(get_url(purchase.id), headers=auth).json()
        assert whole["strategy_output"] == {"result": "ok", "detail": {"score": 0.95}}
        one = client.get(get_url(purchase.id) + "?idmodel=1", headers=auth).json()
        assert one["strategy_output"] == {"error": "idmodel 1 not found in strategy_output"}
        single = {"idmodel": 7, "value": {"MD": []}}
        client.put(update_url(purchase.id), json={"outputs": single}, headers=auth)
        found = client.get(get_url(purchase.id) + "?idmodel=7", headers=auth).json()
        assert found["strategy_output"] == single

    def test_another_customers_purchase_is_not_found(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        theirs = make_strategy_purchase(db, tenant="CUST2", user="example_user")
        assert_error(
            client.get(get_url(theirs.id), headers=auth), 404, {"error": "Purchase not found."}
        )
        colleague = make_strategy_purchase(db, tenant="CUST1", user="colleague")
        response = client.get(get_url(colleague.id, user="colleague"), headers=auth)
        assert_error(response, 404, {"error": "Purchase not found."})

    def test_needs_a_token(self, client: Any) -> None:
        assert_error(client.get(get_url(ZERO_ID)), 401, NO_CREDENTIALS)

    def test_malformed_purchase_id(self, client: Any, auth: dict[str, str]) -> None:
        message = error_of(client.get(get_url("not-a-uuid"), headers=auth), 400)
        assert '"purchase_id"' in message


class TestUpdate:
    def test_the_documented_curl_example_works_verbatim(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        response = client.put(
            update_url(purchase.id),
            content=CURL_BODY,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"id", "status", "error", "outputs", "updated_at", "message"}
        assert body["id"] == purchase.id
        assert body["outputs"] == {"result": "ok", "detail": {"score": 0.95}}
        assert body["status"] == "pending"  # not sent, so unchanged
        assert body["message"] == f"CustomerPurchase {purchase.id} updated successfully"
        assert (
            json.loads(load_strategy_purchase(db, purchase.id).outputs_json or "")
            == body["outputs"]
        )

    def test_the_parameter_tables_full_body(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        response = client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "completed"
        assert body["error"] == ""
        assert body["outputs"] == TABLE_BODY["outputs"]
        assert datetime.fromisoformat(body["updated_at"]) >= datetime.fromisoformat(
            client.get(get_url(purchase.id), headers=auth).json()["created_at"]
        )

    def test_missing_outputs(self, client: Any, db: Database, auth: dict[str, str]) -> None:
        purchase = make_strategy_purchase(db)
        response = client.put(
            update_url(purchase.id), json={"status": "completed", "error": ""}, headers=auth
        )
        assert_error(response, 400, {"error": 'Missing required field "outputs".'})
        assert load_strategy_purchase(db, purchase.id).status == "pending"

    @pytest.mark.parametrize(
        ("entry", "field"),
        [
            (
                {"datetime": "2025-01-15 24:00", "purchase_percentage": 1, "sale_percentage": 0},
                "datetime",
            ),
            (
                {"datetime": "2025-01-15 00:00", "purchase_percentage": 1.5, "sale_percentage": 0},
                "purchase_percentage",
            ),
            (
                {"datetime": "2025-01-15 00:00", "purchase_percentage": "1", "sale_percentage": 0},
                "purchase_percentage",
            ),
            ({"datetime": "2025-01-15 00:00", "purchase_percentage": 1}, "sale_percentage"),
            (
                {
                    "datetime": "2025-01-15 00:00",
                    "purchase_percentage": 1,
                    "sale_percentage": 0,
                    "x": 1,
                },
                "x",
            ),
        ],
    )
    def test_structured_outputs_are_validated_field_by_field(
        self, client: Any, db: Database, auth: dict[str, str], entry: dict[str, Any], field: str
    ) -> None:
        purchase = make_strategy_purchase(db)
        body = {"outputs": [{"idmodel": 1, "value": {"MID2": [entry]}}]}
        message = error_of(client.put(update_url(purchase.id), json=body, headers=auth), 400)
        assert f'"outputs[0].value.MID2[0].{field}"' in message
        assert load_strategy_purchase(db, purchase.id).version == 1

    def test_unknown_markets_are_refused(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        body = {"outputs": [{"idmodel": 1, "value": {"MID4": []}}]}
        message = error_of(client.put(update_url(purchase.id), json=body, headers=auth), 400)
        assert '"outputs[0].value.MID4"' in message

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            (b'{"outputs": {"score": NaN}}', "not valid JSON"),
            (b'{"outputs": {"score": 1e999}}', '"outputs"'),
            (
                b'{"outputs": [{"idmodel": 1, "value": {"MD": [{"datetime": "2025-01-15 00:00",'
                b' "purchase_percentage": 1e999, "sale_percentage": 0}]}}]}',
                '"outputs[0].value.MD[0].purchase_percentage"',
            ),
        ],
    )
    def test_non_finite_numbers_are_refused(
        self, client: Any, db: Database, auth: dict[str, str], raw: bytes, expected: str
    ) -> None:
        purchase = make_strategy_purchase(db)
        response = client.put(
            update_url(purchase.id),
            content=raw,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert expected in error_of(response, 400)
        assert load_strategy_purchase(db, purchase.id).outputs_json is None

    def test_free_form_outputs_cannot_nest_without_bound(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        deep: Any = {}
        for _ in range(300):
            deep = {"a": deep}
        response = client.put(update_url(purchase.id), json={"outputs": deep}, headers=auth)
        assert '"outputs"' in error_of(response, 400)
        assert load_strategy_purchase(db, purchase.id).outputs_json is None

    def test_a_completed_purchase_stays_completed(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        assert client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth).status_code == 200
        restated = client.put(
            update_url(purchase.id), json={**TABLE_BODY, "outputs": {"v": 2}}, headers=auth
        )
        assert restated.status_code == 200
        reopened = client.put(
            update_url(purchase.id), json={"status": "pending", "outputs": {}}, headers=auth
        )
        assert error_of(reopened, 409) == "A completed purchase cannot become 'pending'."
        assert load_strategy_purchase(db, purchase.id).status == "completed"

    def test_failed_then_retried(self, client: Any, db: Database, auth: dict[str, str]) -> None:
        purchase = make_strategy_purchase(db)
        failed = {"status": "failed", "error": "solver timed out", "outputs": {}}
        assert (
            client.put(update_url(purchase.id), json=failed, headers=auth).json()["error"]
            == "solver timed out"
        )
        retried = client.put(
            update_url(purchase.id), json={"status": "in_progress", "outputs": {}}, headers=auth
        )
        assert retried.json()["status"] == "in_progress"
        assert retried.json()["error"] == "solver timed out"  # omitted, so kept

    def test_another_customers_purchase_is_not_found(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        theirs = make_strategy_purchase(db, tenant="CUST2")
        response = client.put(update_url(theirs.id), json={"outputs": {}}, headers=auth)
        assert_error(response, 404, {"error": "Purchase not found."})
        assert load_strategy_purchase(db, theirs.id).outputs_json is None

    def test_unknown_purchase(self, client: Any, auth: dict[str, str]) -> None:
        response = client.put(update_url(ZERO_ID), json={"outputs": {}}, headers=auth)
        assert_error(response, 404, {"error": "Purchase not found."})

    def test_body_must_be_json(self, client: Any, db: Database, auth: dict[str, str]) -> None:
        purchase = make_strategy_purchase(db)
        as_text = client.put(
            update_url(purchase.id),
            content=CURL_BODY,
            headers={**auth, "Content-Type": "text/plain"},
        )
        assert as_text.status_code == 415
        assert set(as_text.json()) == {"detail"}
        broken = client.put(
            update_url(purchase.id),
            content=b"{",
            headers={**auth, "Content-Type": "application/json"},
        )
        assert "not valid JSON" in error_of(broken, 400)
        assert load_strategy_purchase(db, purchase.id).version == 1

    def test_a_day_of_quarter_hours_round_trips(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        day = [
            {
                "datetime": f"2025-01-15 {q // 4:02d}:{q % 4 * 15:02d}",
                "purchase_percentage": q / 96,
                "sale_percentage": 0.0,
            }
            for q in range(96)
        ]
        outputs = [
            {"idmodel": m, "value": {k: day for k in ("MD", "MID1", "MID2", "MID3")}}
            for m in (1, 2)
        ]
        response = client.put(update_url(purchase.id), json={"outputs": outputs}, headers=auth)
        assert response.status_code == 200
        stored = client.get(get_url(purchase.id), headers=auth).json()
        assert stored["strategy_output"] == outputs
