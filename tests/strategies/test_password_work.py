"""Password checks hold no transaction and never run on the event loop (issue 26, High 1).

Every Argon2 call the service makes (login with an unknown email, a wrong or the right
password; the password change's verify and hash) goes through a hasher that records, at
the moment it runs, whether its thread runs an event loop and whether the service's
database pools have a connection checked out (a transaction open). Before the fix the
verify ran inside ``run_write``: on a database thread holding SQLite's write lock, on
PostgreSQL in the greenlet on the loop's thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from argon2 import PasswordHasher

import tradepost.app
from models.strategies import customers
from tests.factories import make_customer
from tradepost.db import Database
from tradepost.http.services import Services

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a much longer passphrase"


@dataclass
class Spy:
    services: list[Services] = field(default_factory=list)
    calls: list[tuple[str, str, bool, int]] = field(default_factory=list)

    def checked_out(self) -> int:
        return sum(s.db.serving_engine.pool.checkedout() for s in self.services)  # type: ignore[attr-defined]

    def record(self, what: str) -> None:
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        self.calls.append((what, threading.current_thread().name, on_loop, self.checked_out()))


class SpyingHasher(PasswordHasher):
    spy: Spy

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.spy.record("verify")
        return super().verify(hash, password)

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.spy.record("hash")
        return super().hash(password, salt=salt)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    found = Spy()
    build = tradepost.app.build_services

    def capture(*args: Any, **kwargs: Any) -> Services:
        services = build(*args, **kwargs)
        found.services.append(services)
        return services

    hasher = SpyingHasher()
    hasher.spy = found
    monkeypatch.setattr(tradepost.app, "build_services", capture)
    monkeypatch.setattr(customers, "_hasher", hasher)
    return found


def test_no_argon2_call_on_the_loop_or_inside_a_transaction(
    spy: Spy, db: Database, settings: Any
) -> None:
    make_customer(db, password=PASSWORD)
    spy.calls.clear()  # the factory hashed in its own (test) transaction
    with tradepost.app.create_app(settings).test_client() as client:
        for email, password, status in [
            ("nobody@example.com", PASSWORD, 401),  # the dummy hash: same cost
            ("customer@example.com", "wrong", 401),
            ("customer@example.com", PASSWORD, 200),
        ]:
            response = client.post(
                "/api/v0/auth/login/", json={"email": email, "password": password}
            )
            assert response.status_code == status, response.text
        token = response.json()["token"]
        changed = client.post(
            "/api/v0/auth/password/",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "old_password": PASSWORD,
                "new_password": NEW_PASSWORD,
                "new_password_confirmation": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 204, changed.text
    assert [what for what, *_ in spy.calls] == ["verify"] * 4 + ["hash"]
    for what, thread, on_loop, checked_out in spy.calls:
        assert not on_loop, (what, thread, "ran on the event loop's thread")
        assert checked_out == 0, (what, thread, "ran while a transaction was open")
        assert thread.startswith("tradepost-password"), (what, thread)
