"""The ``tradepost`` command.

Exit codes: 0 success, 1 the operation failed (e.g. nothing to revoke, the database
unreachable), 2 bad arguments (including an unusable database URL or setting), 3 the
server could not listen, 130 interrupted. Expected failures print one line
(``tradepost: error: ...``) on stderr, never a traceback.
``TRADEPOST_DATABASE_URL`` (or ``--database-url``) selects the database for every command.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from models.common.caller import Caller
from models.common.idempotency import purge_expired
from models.common.tenants import tenant_counts
from models.common.tokens import MINTABLE, OFFSETS, TRADES, list_tokens, mint_token, revoke_token
from models.common.types import utcnow
from models.offsets import catalogue
from models.strategies import configs as strategy_configs
from models.strategies import retailers
from models.strategies.customers import create_customer, hash_password, list_customers
from tradepost import jsonio
from tradepost.db import Database, create_db_engine
from tradepost.errors import ApiError
from tradepost.ops import listener, migrate, supervision
from tradepost.settings import Settings

IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

# The help of options (and positionals) that say nothing themselves: one meaning per name
# across commands, so that every option of every command has help text (tests/platform/test_cli.py).
OPTION_HELP = {
    "--host": "the address to listen on",
    "--port": "the TCP port to listen on",
    "--workers": "uvicorn worker processes, each with its own socket (SO_REUSEPORT)",
    "--tenant": "the tenant id",
    "--user": "the user id within the tenant",
    "--expires-in-hours": "the token expires after this many hours (never, when left out)",
    "--email": "the customer's login email address",
    "--retailer": "the retailer id",
    "--title": "the product's title",
    "--description": "the product's description",
    "--certification": "a certification standard, repeatable",
    "--sdg": "a UN Sustainable Development Goal number, repeatable",
    "--category": "a category as CODE:Title, repeatable",
    "--impact-type": "an impact type as CODE:Title, repeatable",
    "--class": "a class as CODE:Title, repeatable",
    "--currency": "ISO 4217 currency code, e.g. EUR",
    "--carbon-unit": "the unit the price is per",
    "--locale": "the locale of the translation",
    "revision": "the Alembic revision to upgrade to",
    "id": "the token's id (`tokens list` shows it)",
    "product": "the product's id",
}


class _HelpFormatter(argparse.HelpFormatter):
    """Shows each option's default, when it has one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" not in text
            and default not in (None, False, "", [], argparse.SUPPRESS)
            and (action.option_strings or action.nargs in ("?", "*"))
        ):
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser: defaults shown, options without help get ``OPTION_HELP``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if not kwargs.get("help"):
            name = next((a for a in args if a.startswith("--")), args[0] if args else "")
            if name in OPTION_HELP:
                kwargs["help"] = OPTION_HELP[name]
        return super().add_argument(*args, **kwargs)


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

    from tradepost.ops import protocols
    from tradepost.ops.logs import uvicorn_log_config

    settings = Settings()
    if settings.migrate_on_start:
        migrate.upgrade(Database(create_db_engine(settings)).write_engine)
    if args.workers > 1:
        # Each worker writes its metrics here; /metrics in any worker sums them all.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="tradepost-metrics-")
        )
    signal.signal(signal.SIGTERM, _terminated)
    if args.workers > 1:
        supervision.mark_supervisor()  # each worker stops when this process dies
    options: dict[str, Any] = {
        "factory": True,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "loop": settings.event_loop,
        "log_config": uvicorn_log_config(settings),
        "access_log": False,
        "timeout_graceful_shutdown": args.graceful_timeout,
        # uvicorn kills a worker that does not answer its health ping within 5 s by
        # default; on a loaded host a fresh worker's imports take longer, and it is killed
        # in a loop.
        "timeout_worker_healthcheck": 30,
        # Closes a connection whose request headers are not complete within
        # TRADEPOST_HEADER_TIMEOUT_SECONDS; TCP_NODELAY on every connection.
        "http": protocols.protocol_class(),
    }
    if args.workers > 1 and listener.supported():
        return _serve_workers(uvicorn.Config("tradepost.app:create_app", **options))
    uvicorn.run("tradepost.app:create_app", **options)
    return 0


def _serve_workers(config: Any) -> int:
    """uvicorn's worker supervisor, each worker on a socket of its own (tradepost.ops.listener)."""
    from uvicorn.supervisors import Multiprocess

    try:
        sock = listener.bind(config.host, config.port)
    except OSError as exc:
        print(f"cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr)
        return 3  # uvicorn's STARTUP_FAILURE
    host, port = sock.getsockname()[:2]
    logging.getLogger("uvicorn.error").info(
        "Uvicorn running on http://%s:%d with %d workers, one socket each (SO_REUSEPORT)",
        host,
        port,
        config.workers,
    )
    Multiprocess(config, sockets=[sock]).run()
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


MAX_TOKEN_HOURS = 24 * 365 * 100
SURFACE_NAMES = {TRADES: "trade API token", OFFSETS: "carbon-offset API key"}


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """A trade API token (``--surface trades``, the default with ``--user``) or a
    carbon-offset API key (``--surface offsets``, the default without). The token alone
    goes to stdout, what was minted to stderr."""
    hours = args.expires_in_hours
    if hours is not None and not (0 < hours <= MAX_TOKEN_HOURS):  # NaN fails too
        # 0 used to mint a token that never expires: leave the option out for that.
        print(
            f"--expires-in-hours must be more than 0 and at most {MAX_TOKEN_HOURS} "
            "(leave it out for a token without expiry)",
            file=sys.stderr,
        )
        return 2
    surface = args.surface or (TRADES if args.user else OFFSETS)
    if surface == OFFSETS and args.user:
        print(
            "a carbon-offset API key belongs to a client, not to a user: drop --user",
            file=sys.stderr,
        )
        return 2
    with _database(args) as db:
        expires = (
            utcnow() + timedelta(hours=args.expires_in_hours) if args.expires_in_hours else None
        )
        with db.write() as session:
            token, row = mint_token(
                session, kind=surface, tenant_id=args.tenant, user_id=args.user, expires_at=expires
            )
    whom = f"tenant {args.tenant}" + (f", user {args.user}" if args.user else " (tenant-wide)")
    if surface == OFFSETS:
        whom = f"client {args.tenant}"
    print(f"minted {SURFACE_NAMES[surface]} {row.id} for {whom}", file=sys.stderr)
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
    password_hash = hash_password(password)  # before the write transaction, not inside it
    with _database(args) as db:
        try:
            with db.write() as session:
                customer = create_customer(
                    session,
                    tenant_id=args.tenant,
                    username=args.user,
                    email=args.email,
                    password_hash=password_hash,
                    name=args.name,
                    retailer_ids=tuple(dict.fromkeys(args.retailer)),
                )
        except IntegrityError:
            print(
                "a customer with this email, or this user in this tenant, exists", file=sys.stderr
            )
            return 1
    print(f"customer {customer.id}: {customer.email} is user {args.user} of tenant {args.tenant}")
    if not args.retailer:
        print("no retailer given: login answers 'Account not configured'", file=sys.stderr)
    return 0


def cmd_customers_add_retailer(args: argparse.Namespace) -> int:
    with _database(args) as db, db.write() as session:
        added = retailers.add_retailer(
            session, tenant_id=args.tenant, user_id=args.user, retailer_id=args.retailer
        )
    if not added:
        print(f"user {args.user} already belongs to retailer {args.retailer}", file=sys.stderr)
        return 1
    print(f"user {args.user} of tenant {args.tenant} belongs to retailer {args.retailer}")
    return 0


def cmd_strategies_set(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        definitions = jsonio.loads(text.encode())
    except jsonio.JSONError as exc:
        print(f"the strategy definitions are not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(definitions, dict | list):
        print("the strategy definitions must be a JSON object or array", file=sys.stderr)
        return 2
    with _database(args) as db, db.write() as session:
        if not retailers.is_member(
            session, tenant_id=args.tenant, user_id=args.user, retailer_id=args.retailer
        ):
            print(f"user {args.user} does not belong to retailer {args.retailer}", file=sys.stderr)
            return 1
        config = strategy_configs.set_strategies(
            session,
            Caller.for_tenant(args.tenant),
            user_id=args.user,
            retailer_id=args.retailer,
            definitions=definitions,
        )
        version = config.version
    print(f"strategies of user {args.user} for retailer {args.retailer}: version {version}")
    return 0


def cmd_customers_list(args: argparse.Namespace) -> int:
    with _database(args) as db, db.read() as session:
        rows = list_customers(session, tenant_id=args.tenant)
    print("id\ttenant\tuser\tname\temail\tcreated")
    for row in rows:
        print(
            f"{row.id}\t{row.tenant_id}\t{row.username}\t{row.name}\t{row.email}\t"
            f"{_when(row.created_at)}"
        )
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


def _code_title(value: str) -> dict[str, str]:
    code, separator, title = value.partition(":")
    if not separator or not code or not title:
        raise argparse.ArgumentTypeError(f"{value!r} is not CODE:Title")
    return {"code": code, "title": title}


def _currency(value: str) -> str:
    if not re.match(r"^[A-Z]{3}$", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 4217 code such as EUR")
    return value


def cmd_products_seed(args: argparse.Namespace) -> int:
    with _database(args) as db, db.write() as session:
        added = catalogue.seed_examples(session)
    print(f"added {added} example products" if added else "the catalogue has products already")
    return 0


def cmd_products_list(args: argparse.Namespace) -> int:
    with _database(args) as db, db.read() as session:
        products = catalogue.list_products(session, items=10**6)
        prices = {p.id: catalogue.all_prices(session, p.id) for p in products}
    print("id\tdefault\ttitle\tprices (id currency amount/unit from..until)")
    for product in products:
        listed = ", ".join(
            f"{p.id} {p.currency} {p.unit_amount}/{p.carbon_unit} "
            f"{p.valid_from}..{p.valid_until or ''}"
            for p in prices[product.id]
        )
        default = "yes" if product.is_default else "-"
        print(f"{product.id}\t{default}\t{product.title}\t{listed or '-'}")
    return 0


def cmd_products_create(args: argparse.Namespace) -> int:
    details = {
        "locations": [{"country": c, "sub_region": None, "region": None} for c in args.country],
        "certifications": args.certification,
        "sdgs": args.sdg,
        "categories": args.category,
        "impact_types": args.impact_type,
        "classes": args.class_,
    }
    with _database(args) as db:
        try:
            with db.write() as session:
                product = catalogue.create_product(
                    session,
                    product_id=args.id,
                    title=args.title,
                    description=args.description,
                    details=details,
                    default=args.default,
                )
        except IntegrityError:
            print(f"a product with id {args.id} exists", file=sys.stderr)
            return 1
    print(product.id)
    return 0


def cmd_products_price(args: argparse.Namespace) -> int:
    with _database(args) as db:
        try:
            with db.write() as session:
                price = catalogue.add_price(
                    session,
                    product_id=args.product,
                    currency=args.currency,
                    unit_amount=args.unit_amount,
                    carbon_unit=args.carbon_unit,
                    valid_from=args.valid_from,
                    valid_until=args.valid_until,
                )
        except ApiError as exc:
            print(exc.message, file=sys.stderr)
            return 1
    print(price.id)
    return 0


def cmd_products_translate(args: argparse.Namespace) -> int:
    with _database(args) as db:
        try:
            with db.write() as session:
                catalogue.translate_product(
                    session,
                    args.product,
                    locale=args.locale,
                    title=args.title,
                    description=args.description,
                )
        except ApiError as exc:
            print(exc.message, file=sys.stderr)
            return 1
    print(f"{args.product} translated to {args.locale}")
    return 0


def cmd_products_remove(args: argparse.Namespace) -> int:
    with _database(args) as db, db.write() as session:
        removed = catalogue.remove_product(session, args.product)
    if not removed:
        print(f"no product with id {args.product}", file=sys.stderr)
        return 1
    print(f"removed {args.product} and its prices (purchases keep what they were quoted)")
    return 0


def _add_products_parser(commands: Any) -> None:
    products = commands.add_parser(
        "products", help="the carbon-offset product catalogue and its prices"
    ).add_subparsers(dest="products_command", required=True)
    products.add_parser(
        "seed", help="add the example products when the catalogue is empty"
    ).set_defaults(func=cmd_products_seed)
    products.add_parser("list", help="every product with all its prices").set_defaults(
        func=cmd_products_list
    )
    create = products.add_parser("create", help="add a product; prints its id")
    create.add_argument("--id", type=_identifier, help="default: product_<random>")
    create.add_argument("--title", required=True)
    create.add_argument("--description", required=True)
    create.add_argument("--country", action="append", default=[], help="ISO code, repeatable")
    create.add_argument("--certification", action="append", default=[])
    create.add_argument("--sdg", action="append", default=[], type=int)
    create.add_argument("--category", action="append", default=[], type=_code_title)
    create.add_argument("--impact-type", action="append", default=[], type=_code_title)
    create.add_argument("--class", dest="class_", action="append", default=[], type=_code_title)
    create.add_argument("--default", action="store_true", help="priced when none is named")
    create.set_defaults(func=cmd_products_create)
    price = products.add_parser(
        "price", help="add a price (supersedes the current one from --valid-from)"
    )
    price.add_argument("product")
    price.add_argument("--currency", required=True, type=_currency)
    price.add_argument("--unit-amount", required=True, type=_positive, help="minor units")
    price.add_argument("--carbon-unit", default="tonne", choices=["tonne", "kilogram", "gram"])
    price.add_argument("--valid-from", type=date.fromisoformat, help="YYYY-MM-DD; today")
    price.add_argument("--valid-until", type=date.fromisoformat, help="exclusive; open-ended")
    price.set_defaults(func=cmd_products_price)
    translate = products.add_parser("translate", help="title and description in a locale")
    translate.add_argument("product")
    translate.add_argument("--locale", required=True, choices=catalogue.LOCALES)
    translate.add_argument("--title", required=True)
    translate.add_argument("--description", required=True)
    translate.set_defaults(func=cmd_products_translate)
    remove = products.add_parser("remove", help="delete a product and its prices")
    remove.add_argument("product")
    remove.set_defaults(func=cmd_products_remove)


def cmd_webhooks_deliver(args: argparse.Namespace) -> int:
    import asyncio

    from tradepost.workers.webhooks import Policy, Worker

    async def deliver(db: Database) -> Worker:
        worker = Worker(db, Policy.from_settings(Settings()), until_idle=args.until_idle)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(worker.stop()))
        worker.start()
        try:
            await worker.wait()
        finally:
            await db.aclose()  # PostgreSQL's pool belongs to this loop
        return worker

    with _database(args) as db:
        worker = asyncio.run(deliver(db))
    print(f"delivered {worker.delivered}, failed attempts {worker.failed}")
    return 0


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tradepost")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def cmd_webhooks_failed(args: argparse.Namespace) -> int:
    from models.offsets import outbox

    with _database(args) as db, db.read() as session:
        rows = outbox.failed_deliveries(session, tenant_id=args.tenant)
        print("id\tevent\twebhook\ttenant\tkind\tattempts\tcreated\tlast_status\tlast_error")
        for row in rows:
            print(
                "\t".join(
                    str(value)
                    for value in (
                        row.pk,
                        row.event_id,
                        row.webhook_id,
                        row.tenant_id,
                        row.kind,
                        row.attempts,
                        _when(row.created_at),
                        "-" if row.last_status is None else row.last_status,
                        row.last_error or "-",
                    )
                )
            )
    return 0


def cmd_webhooks_resend(args: argparse.Namespace) -> int:
    from models.common.types import utcnow
    from models.offsets import outbox

    if bool(args.ids) == args.all:
        print("give delivery ids or --all", file=sys.stderr)
        return 2
    if args.tenant and not args.all:
        print("--tenant goes with --all", file=sys.stderr)
        return 2
    with _database(args) as db, db.write() as session:
        queued = outbox.resend(session, now=utcnow(), pks=args.ids or None, tenant_id=args.tenant)
    print(f"queued {queued} for delivery")
    return 0 if queued or args.all else 1


def cmd_webhooks_purge(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from models.common.types import utcnow
    from models.offsets import outbox

    days = Settings().webhooks_retention_days
    if days <= 0:
        print("TRADEPOST_WEBHOOKS_RETENTION_DAYS is 0: nothing is purged")
        return 0
    with _database(args) as db, db.write() as session:
        purged = outbox.purge(session, before=utcnow() - timedelta(days=days))
    print(f"purged {purged}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tradepost",
        description=__doc__.splitlines()[0],
        epilog="Exit codes: 0 success, 1 the operation failed, 2 bad arguments, "
        "3 the server could not listen, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
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
    create = tokens.add_parser(
        "create",
        help="mint a trade API token or a carbon-offset API key; prints it alone on stdout",
    )
    create.add_argument(
        "--surface",
        choices=MINTABLE,
        help="trades: a trade API token (tenant, optionally --user); offsets: a carbon-offset "
        "API key (the client's, no --user). Default: trades with --user, offsets without. "
        "Strategies tokens come from the Strategies login.",
    )
    create.add_argument("--tenant", required=True, type=_identifier, help="tenant or client")
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
    new_customer.add_argument("--name", default="", help="the customer's name (login shows it)")
    new_customer.add_argument(
        "--retailer",
        action="append",
        default=[],
        type=_identifier,
        help="a retailer the customer belongs to (repeat for several)",
    )
    new_customer.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    new_customer.set_defaults(func=cmd_customers_create)
    listing = customers.add_parser("list", help="list customers (never their passwords)")
    listing.add_argument("--tenant", type=_identifier)
    listing.set_defaults(func=cmd_customers_list)
    membership = customers.add_parser("add-retailer", help="make a user belong to a retailer")
    membership.add_argument("--tenant", required=True, type=_identifier)
    membership.add_argument("--user", required=True, type=_identifier)
    membership.add_argument("--retailer", required=True, type=_identifier)
    membership.set_defaults(func=cmd_customers_add_retailer)

    strategies = commands.add_parser(
        "strategies", help="Strategies API strategy definitions"
    ).add_subparsers(dest="strategies_command", required=True)
    set_strategies = strategies.add_parser(
        "set", help="store a user's strategy definitions for a retailer (a JSON object or array)"
    )
    set_strategies.add_argument("--tenant", required=True, type=_identifier)
    set_strategies.add_argument("--user", required=True, type=_identifier)
    set_strategies.add_argument("--retailer", required=True, type=_identifier)
    set_strategies.add_argument(
        "--file", default="-", help="the JSON document (default: read from stdin)"
    )
    set_strategies.set_defaults(func=cmd_strategies_set)

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
    _add_products_parser(commands)

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
    failed = hooks.add_parser("failed", help="list given-up deliveries")
    failed.add_argument("--tenant", type=_identifier)
    failed.set_defaults(func=cmd_webhooks_failed)
    resend = hooks.add_parser(
        "resend", help="send given-up deliveries again (same event, fresh attempts)"
    )
    resend.add_argument("ids", nargs="*", type=_positive, help="delivery ids (webhooks failed)")
    resend.add_argument("--all", action="store_true", help="every given-up delivery")
    resend.add_argument("--tenant", type=_identifier, help="with --all: only this tenant's")
    resend.set_defaults(func=cmd_webhooks_resend)
    hooks.add_parser(
        "purge", help="delete delivered and given-up rows past TRADEPOST_WEBHOOKS_RETENTION_DAYS"
    ).set_defaults(func=cmd_webhooks_purge)
    return parser


def _fail(message: str, code: int) -> int:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    print(f"tradepost: error: {lines[0] if lines else 'failed'}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.database_url:
        os.environ["TRADEPOST_DATABASE_URL"] = args.database_url
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except ValidationError as exc:  # a TRADEPOST_* setting out of range or malformed
        problem = exc.errors()[0]
        name = "_".join(str(part) for part in problem["loc"]).upper()
        return _fail(f"setting TRADEPOST_{name}: {problem['msg']}", 2)
    except (ArgumentError, NoSuchModuleError) as exc:  # an unusable database URL
        return _fail(f"database URL: {exc}", 2)
    except DBAPIError as exc:  # unreachable database, wrong credentials, missing schema
        return _fail(f"database: {exc.orig or exc}", 1)
    except OSError as exc:  # a --file that cannot be read, a full disk, ...
        return _fail(str(exc), 1)


if __name__ == "__main__":
    sys.exit(main())
