"""Strategies API v0, as documented in "Update Purchase Endpoint" (shared/api-docs/000_...)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from models.types import utcnow
from tests.conftest import TokenFactory
from tests.factories import load_strategy_purchase, make_customer, make_strategy_purchase
from tradepost.db import Database

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


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    return make_token("CUST1", "example_user")


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


def error_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    message: str = body["error"]
    return message


class TestHealthAndLogin:
    def test_health_needs_no_token(self, client: Any) -> None:
        response = client.get("/health/")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    def test_login_returns_an_expiring_token_for_the_customer(
        self, client: Any, db: Database
    ) -> None:
        make_customer(db)
        response = client.post(
            "/api/v0/auth/login/",
            json={"email": "Customer@Example.com", "password": "correct horse battery staple"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        expiry = datetime.fromisoformat(body["expiry"])
        assert timedelta(hours=23) < expiry - datetime.now(UTC) <= timedelta(hours=24)
        purchase = make_strategy_purchase(db)
        read = client.get(
            get_url(purchase.id), headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert read.status_code == 200, read.text

    @pytest.mark.parametrize(
        "credentials",
        [
            {"email": "customer@example.com", "password": "wrong"},
            {"email": "nobody@example.com", "password": "correct horse battery staple"},
        ],
    )
    def test_bad_credentials(self, client: Any, db: Database, credentials: dict[str, str]) -> None:
        make_customer(db)
        response = client.post("/api/v0/auth/login/", json=credentials)
        assert_error(response, 401, {"detail": "Invalid email or password."})

    def test_login_needs_both_fields(self, client: Any) -> None:
        response = client.post("/api/v0/auth/login/", json={"email": "customer@example.com"})
        assert_error(response, 400, {"error": 'Missing required field "password".'})


class TestAuthentication:
    def test_no_credentials(self, client: Any) -> None:
        response = client.put(update_url(ZERO_ID), json={"outputs": {}})
        assert_error(response, 401, {"detail": "Authentication credentials were not provided."})

    def test_invalid_token(self, client: Any) -> None:
        response = client.put(
            update_url(ZERO_ID), json={"outputs": {}}, headers={"Authorization": "Bearer nope"}
        )
        assert_error(response, 401, {"detail": "Invalid token."})

    def test_expired_token(self, client: Any, db: Database, make_token: TokenFactory) -> None:
        purchase = make_strategy_purchase(db)
        expired = make_token("CUST1", "example_user", expires_at=utcnow() - timedelta(seconds=1))
        response = client.put(
            update_url(purchase.id),
            json={"outputs": {}},
            headers={"Authorization": f"Bearer {expired}"},
        )
        assert_error(response, 401, {"detail": "Token has expired."})
        assert load_strategy_purchase(db, purchase.id).version == 1


class TestSubmit:
    def test_submits_a_pending_purchase(self, client: Any, auth: dict[str, str]) -> None:
        rows = [
            {"datetime": "2025-01-15 00:00", "purchase": 12.5},
            {"datetime": "2025-01-15 00:15", "purchase": 10},
        ]
        response = client.post(
            "/api/v0/user/example_user/submit-purchase", json={"purchase": rows}, headers=auth
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "pending"
        assert body["rows_uploaded"] == 2
        assert body["error"] == ""
        assert body["message"] == "Purchase submitted successfully."
        stored = client.get(get_url(body["id"]), headers=auth).json()
        assert stored["purchase"] == rows
        assert stored["outputs"] == []

    @pytest.mark.parametrize(
        ("row", "field"),
        [
            ({"datetime": "2025-13-01 00:00", "purchase": 1}, "purchase[0].datetime"),
            ({"datetime": "2025-02-30 00:00", "purchase": 1}, "purchase[0].datetime"),
            ({"datetime": "2025-01-15T00:00", "purchase": 1}, "purchase[0].datetime"),
            ({"datetime": "2025-01-15 00:00", "purchase": -1}, "purchase[0].purchase"),
            ({"datetime": "2025-01-15 00:00"}, "purchase[0].purchase"),
        ],
    )
    def test_rows_are_validated(
        self, client: Any, auth: dict[str, str], row: dict[str, Any], field: str
    ) -> None:
        response = client.post(
            "/api/v0/user/example_user/submit-purchase", json={"purchase": [row]}, headers=auth
        )
        assert f'"{field}"' in error_of(response, 400)

    def test_only_for_the_tokens_own_user(self, client: Any, auth: dict[str, str]) -> None:
        rows = [{"datetime": "2025-01-15 00:00", "purchase": 1}]
        response = client.post(
            "/api/v0/user/someone_else/submit-purchase", json={"purchase": rows}, headers=auth
        )
        assert_error(
            response, 403, {"detail": "You do not have permission to perform this action."}
        )


class TestRead:
    def test_idmodel_selects_one_models_outputs(
        self, client: Any, db: Database, auth: dict[str, str]
    ) -> None:
        purchase = make_strategy_purchase(db)
        client.put(update_url(purchase.id), json=TABLE_BODY, headers=auth)
        everything = client.get(get_url(purchase.id), headers=auth).json()
        assert everything["outputs"] == TABLE_BODY["outputs"]
        only_two = client.get(get_url(purchase.id) + "?idmodel=2", headers=auth).json()
        assert only_two["outputs"] == [TABLE_BODY["outputs"][1]]

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
        assert client.get(get_url(purchase.id), headers=auth).json()["outputs"] == outputs
