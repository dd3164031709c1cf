"""The ``tradepost`` command.

Exit codes: 0 success, 1 the operation failed (e.g. nothing to revoke), 2 bad arguments.
``TRADEPOST_DATABASE_URL`` (or ``--database-url``) selects the database for every command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from models.customers import create_customer, list_customers
from models.idempotency import purge_expired
from models.tenants import tenant_counts
from models.tokens import list_tokens, mint_token, revoke_token
from models.types import utcnow
from tradepost import migrate
from tradepost.db import Database, create_db_engine
from tradepost.settings import Settings

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _identifier(value: str) -> str:
    if not re.match(IDENTIFIER, value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a valid identifier ({IDENTIFIER})")
    return value


def _positive(value: str) -> int:
    number = int(value) if value.isdigit() else 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _email(value: str) -> str:
    if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", value) or len(value) > 254:
        raise argparse.ArgumentTypeError(f"{value!r} is not an email address")
    return value


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[Database]:
    settings = Settings()
    db = Database(create_db_engine(settings))
    try:
        if args.command != "db" and settings.migrate_on_start:
            migrate.upgrade(db.write_engine)
        yield db
    finally:
        db.dispose()


def _terminated(signum: int, _frame: object) -> None:
    """SIGTERM is how a supervisor asks for a stop: once uvicorn has finished the requests in
    flight and re-raises it, end with status 0 (a requested, clean stop), not -SIGTERM."""
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from tradepost.logs import uvicorn_log_config

    settings = Settings()
    if settings.migrate_on_start:
        migrate.upgrade(Database(create_db_engine(settings)).write_engine)
    if args.workers > 1:
        # Each worker writes its metrics here; /metrics in any worker sums them all.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tradepost-metrics-")
        )
    signal.signal(signal.SIGTERM, _terminated)
    uvicorn.run(
        "tradepost.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        loop=settings.event_loop,
        log_config=uvicorn_log_config(settings),
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,
        # uvicorn kills a worker that does not answer its health ping within 5 s by default;
        # on a loaded host a fresh worker's imports take longer, and it is killed in a loop.
        timeout_worker_healthcheck=30,
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    with _database(args) as db:
        migrate.upgrade(db.write_engine, args.revision)
        print(f"database at {migrate.current(db.engine)}")
    return 0


def cmd_db_current(args: argparse.Namespace) -> int:
    with _database(args) as db:
        current, head = migrate.current(db.engine), migrate.head()
    print(f"current {current} head {head}")
    return 0 if current == head else 1


def cmd_tokens_create(args: argparse.Namespace) -> int:
    with _database(args) as db:
        expires = (
            utcnow() + timedelta(hours=args.expires_in_hours) if args.expires_in_hours else None
        )
        with db.write() as session:
            token, _row = mint_token(
                session, tenant_id=args.tenant, user_id=args.user, expires_at=expires
            )
    print(token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    with _database(args) as db, db.read() as session:
        rows = list_tokens(session, tenant_id=args.tenant)
    print("id\tprefix\ttenant\tuser\tkind\tcreated\texpires\trevoked")
    for row in rows:
        print(
            f"{row.id}\t{row.display_prefix}\t{row.tenant_id}\t{row.user_id or '-'}\t{row.kind}\t"
            f"{row.created_at:%Y-%m-%dT%H:%M:%SZ}\t{_when(row.expires_at)}\t{_when(row.revoked_at)}"
        )
    return 0


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%dT%H:%M:%SZ}"


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with _database(args) as db, db.write() as session:
        revoked = revoke_token(session, args.id)
    if not revoked:
        print(f"no active token with id {args.id}", file=sys.stderr)
        return 1
    print(f"revoked token {args.id}")
    return 0


def cmd_customers_create(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
    if len(password) < 8:
        print("the password must have at least 8 characters", file=sys.stderr)
        return 2
    with _database(args) as db:
        try:
            with db.write() as session:
                customer = create_customer(
                    session,
                    tenant_id=args.tenant,
                    username=args.user,
                    email=args.email,
                    password=password,
                )
        except IntegrityError:
            print(
                "a customer with this email, or this user in this tenant, exists", file=sys.stderr
            )
            return 1
    print(f"customer {customer.id}: {customer.email} is user {args.user} of tenant {args.tenant}")
    return 0


def cmd_customers_list(args: argparse.Namespace) -> int:
    with _database(args) as db, db.read() as session:
        rows = list_customers(session, tenant_id=args.tenant)
    print("id\ttenant\tuser\temail\tcreated")
    for row in rows:
        print(f"{row.id}\t{row.tenant_id}\t{row.username}\t{row.email}\t{_when(row.created_at)}")
    return 0


def cmd_tenants_list(args: argparse.Namespace) -> int:
    with _database(args) as db, db.read() as session:
        counts = tenant_counts(session)
    tables = sorted({table for per_tenant in counts.values() for table in per_tenant})
    print("\t".join(["tenant", *tables]))
    for tenant in sorted(counts):
        print("\t".join([tenant, *(str(counts[tenant].get(t, 0)) for t in tables)]))
    return 0


def cmd_idempotency_purge(args: argparse.Namespace) -> int:
    with _database(args) as db, db.write() as session:
        purged = purge_expired(session)
    print(f"purged {purged} expired idempotency keys")
    return 0


def cmd_webhooks_deliver(args: argparse.Namespace) -> int:
    import asyncio

    from tradepost.webhooks import Policy, Worker

    async def deliver(db: Database) -> Worker:
        worker = Worker(db, Policy.from_settings(Settings()), until_idle=args.until_idle)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(worker.stop()))
        worker.start()
        await worker.wait()
        return worker

    with _database(args) as db:
        worker = asyncio.run(deliver(db))
    print(f"delivered {worker.delivered}, failed attempts {worker.failed}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradepost", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="overrides TRADEPOST_DATABASE_URL")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=_positive, default=1)
    serve.add_argument("--graceful-timeout", type=int, default=30, help="seconds")
    serve.set_defaults(func=cmd_serve)

    db = commands.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    upgrade.set_defaults(func=cmd_db_upgrade)
    db.add_parser("current", help="show the schema revision (exit 1 if behind)").set_defaults(
        func=cmd_db_current
    )

    tokens = commands.add_parser("tokens", help="API tokens").add_subparsers(
        dest="tokens_command", required=True
    )
    create = tokens.add_parser("create", help="mint a token; prints it alone on stdout")
    create.add_argument("--tenant", required=True, type=_identifier)
    create.add_argument("--user", type=_identifier)
    create.add_argument("--expires-in-hours", type=float)
    create.set_defaults(func=cmd_tokens_create)
    listing = tokens.add_parser("list", help="list tokens (never their values)")
    listing.add_argument("--tenant", type=_identifier)
    listing.set_defaults(func=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_tokens_revoke)

    customers = commands.add_parser("customers", help="Strategies API customers").add_subparsers(
        dest="customers_command", required=True
    )
    new_customer = customers.add_parser(
        "create", help="create a customer who logs in with email and password"
    )
    new_customer.add_argument("--tenant", required=True, type=_identifier)
    new_customer.add_argument("--user", required=True, type=_identifier, help="the {user} path")
    new_customer.add_argument("--email", required=True, type=_email)
    new_customer.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    new_customer.set_defaults(func=cmd_customers_create)
    listing = customers.add_parser("list", help="list customers (never their passwords)")
    listing.add_argument("--tenant", type=_identifier)
    listing.set_defaults(func=cmd_customers_list)

    tenants = commands.add_parser("tenants", help="tenants and what they hold").add_subparsers(
        dest="tenants_command", required=True
    )
    tenants.add_parser("list", help="every tenant with its row counts per table").set_defaults(
        func=cmd_tenants_list
    )

    keys = commands.add_parser(
        "idempotency", help="stored Idempotency-Key responses"
    ).add_subparsers(dest="idempotency_command", required=True)
    keys.add_parser(
        "purge", help="delete expired keys (the service also does it now and then)"
    ).set_defaults(func=cmd_idempotency_purge)

    hooks = commands.add_parser("webhooks", help="carbon-offset webhooks").add_subparsers(
        dest="webhooks_command", required=True
    )
    deliver = hooks.add_parser(
        "deliver", help="run the delivery worker alone, until SIGTERM/SIGINT"
    )
    deliver.add_argument(
        "--until-idle", action="store_true", help="exit once nothing is due or in flight"
    )
    deliver.set_defaults(func=cmd_webhooks_deliver)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database_url:
        os.environ["TRADEPOST_DATABASE_URL"] = args.database_url
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
