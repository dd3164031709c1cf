"""The ``tradepost`` command: output scripts rely on, and exit codes."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest

from models.common import idempotency
from models.common.tokens import Principal, find_token, hash_token, list_tokens
from models.offsets import catalogue as offset_catalogue
from tradepost.cli import main
from tradepost.db import Database


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TRADEPOST_DATABASE_URL", database_url)
    monkeypatch.setenv("TRADEPOST_AUTO_MIGRATE", "false")

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        out, err = io.StringIO(), io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        monkeypatch.setattr("sys.stderr", err)
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        return code, out.getvalue(), err.getvalue()

    return run


def test_tokens_create_prints_the_token_alone(cli: Any, db: Database) -> None:
    code, out, err = cli("tokens", "create", "--tenant", "TEN123", "--user", "USR456")
    assert code == 0
    token = out.strip()
    assert out == token + "\n"
    with db.read() as session:
        row = find_token(session, hash_token(token))
    assert row is not None
    assert (row.tenant_id, row.user_id, row.kind) == ("TEN123", "USR456", "trades")
    assert token not in row.token_hash
    assert err == f"minted trade API token {row.id} for tenant TEN123, user USR456\n"


@pytest.mark.parametrize(
    ("args", "kind", "user", "said"),
    [
        # the README's commands: a user-bound trade token, a client's carbon-offset key
        (("--tenant", "TEN123", "--user", "USR456"), "trades", "USR456", "trade API token"),
        (("--tenant", "CLIENT1"), "offsets", None, "carbon-offset API key"),
        (("--surface", "trades", "--tenant", "TEN123"), "trades", None, "trade API token"),
        (("--surface", "offsets", "--tenant", "CLIENT1"), "offsets", None, "carbon-offset"),
    ],
)
def test_tokens_create_says_which_kind_it_mints(
    cli: Any, db: Database, args: tuple[str, ...], kind: str, user: str | None, said: str
) -> None:
    """Issue 26, High 2: each token is for one surface; the CLI says which on stderr."""
    code, out, err = cli("tokens", "create", *args)
    assert code == 0
    with db.read() as session:
        row = find_token(session, hash_token(out.strip()))
    assert row is not None
    assert (row.kind, row.user_id) == (kind, user)
    assert said in err


def test_an_offsets_key_belongs_to_no_user(cli: Any, db: Database) -> None:
    code, out, err = cli(
        "tokens", "create", "--surface", "offsets", "--tenant", "CLIENT1", "--user", "u"
    )
    assert (code, out) == (2, "")
    assert "belongs to a client, not to a user" in err
    with db.read() as session:
        assert list_tokens(session) == []


def test_tokens_list_and_revoke(cli: Any) -> None:
    cli("tokens", "create", "--tenant", "TEN123")
    code, out, _ = cli("tokens", "list", "--tenant", "TEN123")
    assert code == 0
    assert out.splitlines()[1].split("\t")[2] == "TEN123"
    assert cli("tokens", "revoke", "1")[0] == 0
    assert cli("tokens", "revoke", "1")[0] == 1  # already revoked
    assert cli("tokens", "revoke", "999")[0] == 1


@pytest.mark.parametrize(
    "args",
    [
        ("tokens", "create"),
        ("tokens", "create", "--tenant", "has space"),
        ("tokens", "revoke", "x"),
        ("serve", "--workers", "0"),
        ("frobnicate",),
        ("customers", "create", "--tenant", "T", "--user", "u", "--email", "not-an-email"),
    ],
)
def test_bad_arguments_exit_2(cli: Any, args: tuple[str, ...]) -> None:
    code, _, err = cli(*args)
    assert code == 2
    assert "error" in err


def test_customers_and_tenants(cli: Any) -> None:
    created = cli(
        "customers",
        "create",
        "--tenant",
        "CUST1",
        "--user",
        "example_user",
        "--email",
        "a@example.com",
        "--password-stdin",
        stdin="long enough\n",
    )
    assert created[0] == 0
    again = cli(
        "customers",
        "create",
        "--tenant",
        "CUST1",
        "--user",
        "other",
        "--email",
        "A@example.com",
        "--password-stdin",
        stdin="long enough\n",
    )
    assert again[0] == 1
    short = cli(
        "customers",
        "create",
        "--tenant",
        "CUST1",
        "--user",
        "x",
        "--email",
        "x@example.com",
        "--password-stdin",
        stdin="short\n",
    )
    assert short[0] == 2
    cli("tokens", "create", "--tenant", "CUST1")
    code, out, _ = cli("tenants", "list")
    assert code == 0
    header, row = out.splitlines()
    assert dict(zip(header.split("\t"), row.split("\t"), strict=True)) == {
        "tenant": "CUST1",
        "api_tokens": "1",
        "customers": "1",
    }


def test_a_customer_with_a_name_and_retailers_and_its_strategies(
    cli: Any, client: Any, tmp_path: Any
) -> None:
    """The documents' flow: the operator creates the customer and its strategies, the
    customer logs in and reads them."""
    created = cli(
        "customers",
        "create",
        "--tenant",
        "CUST1",
        "--user",
        "example_user",
        "--email",
        "customer@example.com",
        "--name",
        "Example Energy",
        "--retailer",
        "123",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert created[0] == 0, created
    code, out, _ = cli("customers", "list")
    assert code == 0
    assert out.splitlines()[1].split("\t")[1:5] == [
        "CUST1",
        "example_user",
        "Example Energy",
        "customer@example.com",
    ]
    definitions = tmp_path / "strategies.json"
    definitions.write_text('[{"id": 1, "name": "Day-ahead first"}]')
    strategies_of = ("strategies", "set", "--tenant", "CUST1", "--user", "example_user")
    stored = cli(*strategies_of, "--retailer", "123", "--file", str(definitions))
    assert stored == (0, "strategies of user example_user for retailer 123: version 1\n", "")
    not_the_users = cli(*strategies_of, "--retailer", "456", stdin="{}")
    assert not_the_users[0] == 1
    not_a_document = cli(*strategies_of, "--retailer", "123", stdin="42")
    assert not_a_document[0] == 2
    membership = ("customers", "add-retailer", "--tenant", "CUST1", "--user", "example_user")
    assert cli(*membership, "--retailer", "456")[0] == 0
    assert cli(*membership, "--retailer", "456")[0] == 1  # already

    login = client.post(
        "/api/v0/auth/login/",
        json={"email": "customer@example.com", "password": "a long password"},
    )
    assert login.json()["customer_name"] == "Example Energy"
    token = {"Authorization": f"Bearer {login.json()['token']}"}
    listed = client.get("/api/v0/strategies/example_user?idretailer=123", headers=token)
    assert listed.json() == [{"id": 1, "name": "Day-ahead first"}]
    other = client.get("/api/v0/strategies/example_user?idretailer=456", headers=token)
    assert other.json() == []


def test_a_customer_without_a_retailer_is_not_configured(cli: Any, client: Any) -> None:
    customer = ("customers", "create", "--tenant", "CUST1", "--user", "u")
    code, _, err = cli(
        *customer, "--email", "u@example.com", "--password-stdin", stdin="a long password\n"
    )
    assert code == 0
    assert "Account not configured" in err
    login = client.post(
        "/api/v0/auth/login/", json={"email": "u@example.com", "password": "a long password"}
    )
    assert login.json() == {"error": "Account not configured. Please contact support."}


def test_db_current_reports_the_head(cli: Any) -> None:
    code, out, _ = cli("db", "current")
    assert code == 0
    assert out.split()[1] == out.split()[3]


def test_every_command_has_help(cli: Any) -> None:
    for command in (
        ("serve",),
        ("db", "upgrade"),
        ("tokens", "create"),
        ("customers", "list"),
        ("customers", "add-retailer"),
        ("strategies", "set"),
        ("tenants", "list"),
        ("idempotency", "purge"),
        ("products", "price"),
    ):
        code, out, _ = cli(*command, "--help")
        assert code == 0
        assert "usage: tradepost" in out


def test_idempotency_purge_deletes_expired_keys(cli: Any, db: Database) -> None:
    with db.write() as session:
        idempotency.claim(
            session,
            principal=Principal(1, "TEN123", "USR456", None),
            key="old",
            fingerprint="f",
            lease=timedelta(seconds=-1),
        )
    code, out, _ = cli("idempotency", "purge")
    assert (code, out.strip()) == (0, "purged 1 expired idempotency keys")


def test_products_manage_the_offset_catalogue(cli: Any, db: Database) -> None:
    assert cli("products", "seed")[1] == "added 2 example products\n"
    assert cli("products", "seed")[1] == "the catalogue has products already\n"
    code, out, _ = cli(
        "products",
        "create",
        "--id",
        "product_026c41",
        "--title",
        "Water filters in Guatemala",
        "--description",
        "Clean water without boiling.",
        "--country",
        "GT",
        "--sdg",
        "6",
        "--category",
        "clean_water:Clean Water",
        "--default",
    )
    assert (code, out) == (0, "product_026c41\n")
    assert (
        cli("products", "create", "--id", "product_026c41", "--title", "t", "--description", "d")[0]
        == 1
    )  # the id is taken
    code, out, _ = cli(
        "products", "price", "product_026c41", "--currency", "EUR", "--unit-amount", "1231"
    )
    assert code == 0
    assert out.startswith("price_")
    code, _, err = cli(
        "products", "price", "product_nope", "--currency", "EUR", "--unit-amount", "1"
    )
    assert (code, err) == (1, "No product found with id product_nope.\n")
    ended = ("--valid-from", "2025-02-01", "--valid-until", "2025-01-01")
    assert (
        cli(
            "products", "price", "product_026c41", "--currency", "EUR", "--unit-amount", "9", *ended
        )[0]
        == 1
    )
    assert (
        cli("products", "price", "product_026c41", "--currency", "eur", "--unit-amount", "9")[0]
        == 2
    )
    translated = ("--locale", "de", "--title", "Wasserfilter", "--description", "Sauberes Wasser.")
    assert cli("products", "translate", "product_026c41", *translated)[0] == 0
    code, out, _ = cli("products", "list")
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[1:]}
    assert rows.keys() == {"product_example1", "product_example2", "product_026c41"}
    assert rows["product_026c41"][1] == "yes"  # --default took it from the example
    assert rows["product_example1"][1] == "-"
    assert "EUR 1231/tonne" in rows["product_026c41"][3]
    with db.read() as session:
        product = offset_catalogue.get_product(session, "product_026c41")
    assert product.text("de") == ("Wasserfilter", "Sauberes Wasser.")
    assert product.details["categories"] == [{"code": "clean_water", "title": "Clean Water"}]
    assert cli("products", "remove", "product_example2")[0] == 0
    assert cli("products", "remove", "product_example2")[0] == 1


# --- the command itself: version, help, one-line errors ----------------------------------


def _parsers(parser: Any) -> Any:
    """The parser and every (sub)command's parser below it."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _parsers(child)


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"tradepost {version('tradepost')}"


def test_every_option_of_every_command_has_help_and_shows_its_default() -> None:
    import argparse

    from tradepost.cli import build_parser

    missing = [
        f"{parser.prog} {action.option_strings or action.dest}"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []
    serve = next(p for p in _parsers(build_parser()) if p.prog == "tradepost serve")
    serve_help = serve.format_help()
    assert "(default: 8000)" in serve_help
    assert "(default: 127.0.0.1)" in serve_help


@pytest.mark.parametrize(
    ("environment", "code", "text"),
    [
        # nothing listens on port 1: the connection is refused at once
        ({"TRADEPOST_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/x"}, 1, "database"),
        ({"TRADEPOST_DATABASE_URL": "nosuchdriver://x"}, 2, "database URL"),
        ({"TRADEPOST_POOL_SIZE": "many"}, 2, "TRADEPOST_POOL_SIZE"),
    ],
)
def test_expected_failures_are_one_line_with_the_documented_exit_code(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    environment: dict[str, str],
    code: int,
    text: str,
) -> None:
    monkeypatch.setenv("TRADEPOST_DATABASE_URL", "sqlite:///:memory:")
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert main(["tokens", "list"]) == code
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("tradepost: error: ")
    assert text in captured.err
    assert len(captured.err.strip().splitlines()) == 1  # no traceback


def test_webhooks_failed_resend_and_purge(cli: Any, db: Database) -> None:
    """Issue 26 (14): given-up deliveries can be listed and sent again; retention."""
    from tests.offsets.test_webhooks import outbox_rows, set_rows

    first, second = outbox_rows(db, "CLIENT1", 2)
    set_rows(db, [first, second], state="failed", attempts=12, last_error="HTTP 503")
    code, out, _ = cli("webhooks", "failed", "--tenant", "CLIENT1")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("id\tevent\twebhook\ttenant")
    assert [line.split("\t")[0] for line in lines[1:]] == [str(first), str(second)]
    assert lines[1].split("\t")[-1] == "HTTP 503"
    assert cli("webhooks", "resend", str(first)) == (0, "queued 1 for delivery\n", "")
    assert cli("webhooks", "resend", str(first))[0] == 1  # no longer given up
    assert cli("webhooks", "resend")[0] == 2
    assert cli("webhooks", "resend", "--all", "--tenant", "CLIENT1")[1] == "queued 1 for delivery\n"
    assert cli("webhooks", "failed")[1].count("\n") == 1  # the header alone
    assert cli("webhooks", "purge") == (0, "purged 0\n", "")


@pytest.mark.parametrize("hours", ["0", "-1", "0.0", "nan", "inf", "1e300"])
def test_tokens_create_refuses_an_expiry_that_is_not_in_the_future(
    cli: Any, db: Database, hours: str
) -> None:
    """Issue 26 (16): ``--expires-in-hours 0`` minted a token that never expires."""
    code, out, err = cli("tokens", "create", "--tenant", "TEN123", "--expires-in-hours", hours)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "--expires-in-hours" in err
    assert cli("tokens", "list")[1].count("\n") == 1  # the header alone: nothing minted
