"""Credentials never reach the logs or the database, on SQLite and on PostgreSQL.

A real server with JSON logs serves requests that carry an API token, a Strategies login
password and the login token it returns, through successes and failures (wrong password,
wrong tenant, bad body, the token misplaced in a query string). Afterwards neither the
server's captured output nor any column of any table contains any of them.

How they are stored: passwords as Argon2id hashes (a slow, salted hash); tokens as the
SHA-256 digest of 32 random bytes, found by ``WHERE token_hash = digest``. Looking a token
up by its digest compares digests, not tokens, so timing reveals nothing usable about a
token (an attacker would have to find SHA-256 preimages); a slow hash is unnecessary for
256 bits of entropy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import SQLModel

from models.common.tokens import ApiToken, mint_token
from models.strategies.customers import Customer, create_customer, hash_password
from tests.servers import running_server
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

PASSWORD = "s3cret-passphrase-never-logged"
WRONG_PASSWORD = "wr0ng-passphrase-never-logged"
NEW_PASSWORD = "n3w-passphrase-never-logged"


def every_stored_value(db: Database) -> list[str]:
    values = []
    with db.read() as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(select(table)):
                values += [str(value) for value in row if value is not None]
    return values


@pytest.mark.slow
def test_tokens_and_passwords_are_never_logged_or_stored(
    server_database: str, tmp_path: Path
) -> None:
    env = {"TRADEPOST_LOG_JSON": "true", "TRADEPOST_TOKEN_CACHE_SECONDS": "0"}
    with running_server(server_database, tmp_path, env=env) as server:
        db = Database(create_db_engine(Settings(database_url=server_database)))
        with db.write() as session:
            api_token, _ = mint_token(session, kind="trades", tenant_id="TEN123", user_id="USR456")
            create_customer(
                session,
                tenant_id="CUST1",
                username="alice",
                email="alice@example.com",
                password_hash=hash_password(PASSWORD),
                retailer_ids=("123",),
            )
        secrets = [api_token, api_token.removeprefix("tp_"), PASSWORD, WRONG_PASSWORD]
        secrets += [NEW_PASSWORD]
        base = server.url
        trade_headers = {
            "Authorization": f"Bearer {api_token}",
            "tenantId": "TEN123",
            "userId": "USR456",
            "countryCode": "US",
        }
        trade = {
            "productId": "p",
            "quantity": 1,
            "indicativeUnitPrice": 2,
            "productUnitType": "Units",
        }
        statuses: list[int] = []

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            response = httpx.request(method, base + path, **kwargs)
            statuses.append(response.status_code)
            return response

        wrong = call(
            "POST",
            "/api/v0/auth/login/",
            json={"email": "alice@example.com", "password": WRONG_PASSWORD},
        )
        assert wrong.status_code == 401
        login = call(
            "POST", "/api/v0/auth/login/", json={"email": "alice@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        login_token = login.json()["token"]
        secrets += [login_token, login_token.removeprefix("tp_")]
        customer = {"Authorization": f"Bearer {login_token}"}

        created = call("POST", "/api/v1/trades", json=trade, headers=trade_headers)
        assert created.status_code == 201
        trade_id = created.json()["tradeId"]
        call("PATCH", f"/api/v1/trades/{trade_id}", json={"quantity": 3}, headers=trade_headers)
        call("GET", "/api/v1/trades", headers={**trade_headers, "tenantId": "OTHER"})  # 403
        call("PATCH", f"/api/v1/trades/{trade_id}", json={"quantity": -1}, headers=trade_headers)
        call("GET", f"/api/v1/trades?access_token={api_token}", headers=trade_headers)  # 400
        call(
            "GET",
            "/api/v1/trades",
            headers={**trade_headers, "Authorization": f"Bearer {api_token}x"},
        )
        call("GET", "/api/v1/trades", headers={**trade_headers, "Authorization": api_token})
        submitted = call(
            "POST",
            "/api/v0/user/alice/submit-purchase?retailer_id=123",
            json={"purchase": [{"datetime": "2025-01-15 00:00", "purchase": 1}]},
            headers=customer,
        )
        purchase_id = submitted.json()["id"]
        call(
            "PUT",
            f"/api/v0/user/alice/purchase/{purchase_id}/update",
            json={"outputs": {"a": 1}},
            headers=customer,
        )
        call("GET", f"/api/v0/user/bob/purchase/{purchase_id}/get", headers=customer)  # 404
        call(
            "PUT",
            f"/api/v0/user/alice/purchase/{purchase_id}/update",
            content=b"{",
            headers={**customer, "Content-Type": "application/json"},
        )
        password_change = {
            "old_password": WRONG_PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_confirmation": NEW_PASSWORD,
        }
        call("POST", "/api/v0/auth/password/", json=password_change, headers=customer)  # 400
        password_change["old_password"] = PASSWORD
        changed = call("POST", "/api/v0/auth/password/", json=password_change, headers=customer)
        assert changed.status_code == 204
        assert {200, 201, 204, 400, 401, 403, 404} <= set(statuses), statuses

        stored = every_stored_value(db)
        with db.read() as session:
            password_hashes = session.execute(select(Customer.password_hash)).scalars().all()
            digests = set(session.execute(select(ApiToken.token_hash)).scalars())
        db.dispose()
    log = server.log.read_text()

    access_lines = [
        json.loads(line)
        for line in log.splitlines()
        if '"tradepost.access"' in line and '"/healthz"' not in line
    ]
    assert len(access_lines) == len(statuses)
    assert [line["status"] for line in access_lines] == statuses
    for secret in secrets:
        assert secret not in log
        assert not any(secret in value for value in stored)

    assert [h[:10] for h in password_hashes] == ["$argon2id$"]
    for token in (api_token, login_token):
        assert hashlib.sha256(token.encode()).hexdigest() in digests
