"""Quotes, purchases and files of the carbon-offset purchases API v2, and their rules.

Rules (also written in openapi.yaml):
- Everything belongs to one API key's tenant; another tenant's records do not exist (404).
- A purchase is bought from a quote (``models/offsets/quotes.py``) and keeps the product,
  price, quantity and total it was quoted, whatever the catalogue says later.
- ``external_reference`` is unique per tenant. Creating with one that exists returns the
  existing purchase when it was made from the same quote (idempotent), else 409.
- A purchase is looked up by its id or, failing that, by its external reference.
- Updates are JSON Merge Patches (RFC 7396). Documents are frozen in ``FROZEN`` states;
  metadata stays within ``MAX_METADATA_KEYS`` after the merge (409 otherwise).
- Only a ``reserved`` purchase can be cancelled, until ``cancellable_until``.
- ``voided`` (set outside this API) freezes documents like the other terminal states.
- Each document that is set has one PDF file, rendered again whenever it changes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    case,
    delete,
    insert,
    or_,
    union_all,
    update,
)
from sqlalchemy import select as sql_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Field, Session, SQLModel, col, select

from models.common import optimistic
from models.common.caller import Caller
from models.common.history import ChangeEntry, entry_values, history_page, record_row_change
from models.common.merge_patch import merge_patch
from models.common.optimistic import Also, Gate, gated, numbered, parameters
from models.common.types import ExactDecimal, UTCDateTime, surrogate_pk, utcnow
from models.offsets import webhooks
from models.offsets.documents import render_document
from models.offsets.ids import new_id
from models.offsets.quotes import OffsetQuote, PriceList, quote_for_purchase
from tradepost import jsonio
from tradepost.conditional import UNCONDITIONAL, Precondition, etag, guarded_flush
from tradepost.errors import Conflict, FieldError, InvalidRequest, NotFound

DOCUMENTS = ("confirmation_document", "certificate_document")
FROZEN = ("canceled", "refunded", "certificates_retired", "voided")
MAX_METADATA_KEYS = 50
CANCELLABLE_FOR = timedelta(days=14)
RESOURCE = "offset_purchase"
__all__ = ["OffsetFile", "OffsetPurchase", "OffsetQuote", "PriceList", "new_id"]


_VERSION = Column("version", Integer, nullable=False)


class OffsetPurchase(SQLModel, table=True):
    __tablename__ = "offset_purchases"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_reference", name="uq_offset_purchases_reference"),
        Index("ix_offset_purchases_tenant_pk", "tenant_id", "pk"),
    )
    __mapper_args__ = {"version_id_col": _VERSION}

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    quote_id: str = Field(max_length=80)
    product_id: str | None = Field(default=None, max_length=80)  # null: bought before products
    price_id: str | None = Field(default=None, max_length=80)
    external_reference: str | None = Field(default=None, max_length=255)
    state: str = Field(max_length=32)
    payment_method: str = Field(max_length=32)
    carbon_quantity: Decimal = Field(sa_column=Column(ExactDecimal, nullable=False))
    carbon_unit: str = Field(max_length=16)
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    metadata_json: str = Field(sa_column=Column(Text, nullable=False))
    confirmation_json: str | None = Field(default=None, sa_column=Column(Text))
    certificate_json: str | None = Field(default=None, sa_column=Column(Text))
    return_url: str | None = Field(default=None, max_length=2000)
    cancellable_until: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    version: int = Field(default=1, sa_column=_VERSION)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))

    @property
    def etag(self) -> str:
        return etag(self.id, self.version)

    def document(self, name: str) -> dict[str, Any] | None:
        stored = self.confirmation_json if name == DOCUMENTS[0] else self.certificate_json
        return None if stored is None else jsonio.loads(stored)

    def set_document(self, name: str, value: dict[str, Any] | None) -> None:
        stored = None if value is None else jsonio.dumps(value).decode()
        if name == DOCUMENTS[0]:
            self.confirmation_json = stored
        else:
            self.certificate_json = stored

    @property
    def metadata_dict(self) -> dict[str, str]:
        return jsonio.loads(self.metadata_json)  # type: ignore[no-any-return]


class OffsetFile(SQLModel, table=True):
    __tablename__ = "offset_files"
    __table_args__ = (
        UniqueConstraint("purchase_id", "purpose", name="uq_offset_files_purchase_purpose"),
    )

    pk: int | None = surrogate_pk()
    id: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    tenant_id: str = Field(max_length=64)
    purchase_id: str = Field(max_length=80)
    purpose: str = Field(max_length=32)
    filename: str = Field(max_length=200)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    size: int
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# What a client can change on a purchase, by its JSON name: the API's rendering and the
# history snapshot both read a purchase's changeable fields from this one table.
CHANGEABLE: dict[str, Callable[[OffsetPurchase], Any]] = {
    "state": lambda purchase: purchase.state,
    "external_reference": lambda purchase: purchase.external_reference,
    "metadata": lambda purchase: jsonio.raw(purchase.metadata_json),
    "confirmation_document": lambda purchase: jsonio.raw_or_none(purchase.confirmation_json),
    "certificate_document": lambda purchase: jsonio.raw_or_none(purchase.certificate_json),
}


def changeable_fields(purchase: OffsetPurchase) -> dict[str, Any]:
    return {name: read(purchase) for name, read in CHANGEABLE.items()}


def history_snapshot(purchase: OffsetPurchase) -> dict[str, Any]:
    """What the change history keeps of a purchase: everything a client can change."""
    return changeable_fields(purchase)


def _record(session: Session, caller: Caller, purchase: OffsetPurchase, before: Any) -> None:
    record_row_change(session, RESOURCE, purchase, caller, before, history_snapshot(purchase))


# Purchases


def create_purchase(
    session: Session,
    caller: Caller,
    values: dict[str, Any],
    prices: PriceList,
) -> tuple[OffsetPurchase, bool]:
    """The new purchase and True, or the existing one with this reference and False."""
    _require_storable_documents(values)
    reference = values.get("external_reference")
    if reference is not None:
        existing = _by_reference(session, caller, reference)
        if existing is not None:
            return _replay(existing, values["pricing"]), False
    quote = quote_for_purchase(session, caller, prices, values["pricing"])
    now = utcnow()
    method = values.get("payment_method") or quote.payment_method
    purchase = OffsetPurchase(
        id=new_id("purchase_"),
        tenant_id=caller.tenant_id,
        quote_id=quote.id,
        product_id=quote.product_id,
        price_id=quote.price_id,
        external_reference=reference,
        state="reserved" if method == "batch_settlement" else "payment_initiated",
        payment_method=method,
        carbon_quantity=quote.carbon_quantity,
        carbon_unit=quote.carbon_unit,
        total=quote.total,
        currency=quote.currency,
        metadata_json=jsonio.dumps(merge_patch({}, values.get("metadata") or {})).decode(),
        return_url=values.get("return_url") or quote.return_url,
        cancellable_until=now + CANCELLABLE_FOR,
        created_at=now,
        updated_at=now,
    )
    for name in DOCUMENTS:
        if values.get(name) is not None:
            purchase.set_document(name, merge_patch({}, values[name]))
    try:
        with session.begin_nested():
            session.add(purchase)
            session.flush()
    except IntegrityError:  # a concurrent create took the reference first
        existing = _by_reference(session, caller, reference) if reference else None
        if existing is None:
            raise
        return _replay(existing, values["pricing"]), False
    files, writes = _document_files(purchase, [], DOCUMENTS)
    for write in writes:
        write.run(session)
    webhooks.emit_order(session, purchase)
    webhooks.emit_documents(session, purchase, files, DOCUMENTS)
    _record(session, caller, purchase, None)
    return purchase, True


def _require_storable_documents(values: dict[str, Any]) -> None:
    """Documents take any JSON beside their known fields, but not numbers beyond a double."""
    for name in DOCUMENTS:
        try:
            jsonio.require_finite(values.get(name))
        except jsonio.JSONError as exc:
            raise InvalidRequest(
                f"{name} cannot be stored: {exc}.",
                fields=[FieldError("body", name, f"cannot be stored: {exc}")],
            ) from None


def _replay(existing: OffsetPurchase, quote_id: str) -> OffsetPurchase:
    if existing.quote_id != quote_id:
        raise Conflict(
            "A purchase with this external_reference exists for another pricing.",
            code="external_reference_taken",
            resource=("purchase", existing.id),
        )
    return existing


def _by_reference(session: Session, caller: Caller, reference: str) -> OffsetPurchase | None:
    return session.exec(
        select(OffsetPurchase).where(
            OffsetPurchase.tenant_id == caller.tenant_id,
            OffsetPurchase.external_reference == reference,
        )
    ).first()


def get_purchase(
    session: Session, caller: Caller, ref: str, *, lock: bool = False
) -> OffsetPurchase:
    """The one scoped getter: by id first, then by external reference (one statement)."""
    statement = select(OffsetPurchase).where(*_named(caller, ref)).order_by(_by_id_first(ref))
    if lock:
        statement = statement.with_for_update()
    purchase = session.exec(statement.limit(1)).first()
    if purchase is None:
        raise _not_found(ref)
    return purchase


def _named(caller: Caller, ref: str) -> tuple[Any, ...]:
    """The caller's purchases that ``ref`` names: by id or by external reference."""
    return (
        OffsetPurchase.tenant_id == caller.tenant_id,
        or_(col(OffsetPurchase.id) == ref, col(OffsetPurchase.external_reference) == ref),
    )


def _by_id_first(ref: str) -> Any:
    """An id names a purchase before an external reference does."""
    return case((col(OffsetPurchase.id) == ref, 0), else_=1)


def _not_found(ref: str) -> NotFound:
    return NotFound(f"No purchase found with id {ref}.", resource=("purchase", ref))


def _with_files(
    session: Session, caller: Caller, ref: str
) -> tuple[OffsetPurchase, list[OffsetFile]]:
    """``get_purchase``'s purchase and its files (without their content) in one statement,
    detached from the session: a write changes them, and writes them itself."""
    found = session.exec(
        select(OffsetPurchase, OffsetFile)
        .outerjoin(OffsetFile, OffsetFile.purchase_id == OffsetPurchase.id)  # type: ignore[arg-type]
        .where(*_named(caller, ref))
        .order_by(_by_id_first(ref), OffsetFile.pk)  # type: ignore[arg-type]
        .options(defer(OffsetFile.content))  # type: ignore[arg-type]
    ).all()
    if not found:
        raise _not_found(ref)
    purchase = found[0][0]
    files = [file for owner, file in found if owner is purchase and file is not None]
    for instance in (purchase, *files):
        session.expunge(instance)
    return purchase, files


def list_purchases(
    session: Session, caller: Caller, *, limit: int, starting_after: str | None
) -> tuple[list[OffsetPurchase], bool]:
    statement = select(OffsetPurchase).where(OffsetPurchase.tenant_id == caller.tenant_id)
    if starting_after is not None:
        anchor = get_purchase(session, caller, starting_after)
        statement = statement.where(OffsetPurchase.pk < anchor.pk)  # type: ignore[operator]
    ordered = statement.order_by(OffsetPurchase.pk.desc()).limit(limit + 1)  # type: ignore[union-attr]
    rows = list(session.exec(ordered))
    return rows[:limit], len(rows) > limit


def update_purchase(
    session: Session,
    caller: Caller,
    ref: str,
    patch: dict[str, Any],
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> tuple[OffsetPurchase, list[OffsetFile]]:
    """The merge patch applied; the purchase and its files as they are now.

    The purchase and its files are read without a lock, then everything the patch changes
    (the purchase, its rendered files, its webhook events, its history entry) is written by
    one statement guarded by the version read (``models.common.optimistic``: two round
    trips on PostgreSQL, in autocommit mode). A taken ``external_reference`` is found by the
    unique constraint (409), which holds across processes.
    """
    _require_storable_documents(patch)
    changed_documents = [name for name in DOCUMENTS if name in patch]

    def attempt() -> tuple[OffsetPurchase, list[OffsetFile]] | None:
        purchase, files = _with_files(session, caller, ref)
        precondition.check(purchase.etag)
        before = history_snapshot(purchase)
        read_version = purchase.version
        if changed_documents and purchase.state in FROZEN:
            raise Conflict(
                f"The documents of a {purchase.state} purchase cannot change.",
                code="documents_frozen",
                resource=("purchase", purchase.id),
            )
        for name in changed_documents:
            document = patch[name]
            merged = None if document is None else merge_patch(purchase.document(name), document)
            purchase.set_document(name, merged)
        if "metadata" in patch:
            purchase.metadata_json = _merged_metadata(purchase, patch["metadata"])
        if "external_reference" in patch:
            purchase.external_reference = patch["external_reference"]
        purchase.updated_at = utcnow()
        purchase.version = read_version + 1
        files, writes = _document_files(purchase, files, changed_documents)
        events = webhooks.document_events(purchase, files, changed_documents)
        entry = entry_values(
            resource_type=RESOURCE,
            resource_id=purchase.id,
            tenant_id=purchase.tenant_id,
            version=purchase.version,
            caller=caller,
            before=before,
            after=history_snapshot(purchase),
        )
        try:
            written = optimistic.apply(
                session,
                _TABLE,
                pk=purchase.pk or 0,
                version=read_version,
                values={name: getattr(purchase, name) for name in _PATCHED},
                entry=entry,
                also=[*writes, *([events] if events is not None else [])],
            )
        except IntegrityError:  # another purchase took the external_reference first
            if "external_reference" not in patch:
                raise
            raise _reference_taken(purchase) from None
        return (purchase, files) if written else None

    return optimistic.retrying(attempt, precondition)


_TABLE = OffsetPurchase.__table__  # type: ignore[attr-defined]
# What the PATCH sets: always the same columns (unchanged ones to their value), so that its
# UPDATE is built once.
_PATCHED = (
    "external_reference",
    "metadata_json",
    "confirmation_json",
    "certificate_json",
    "updated_at",
    "version",
)


def _merged_metadata(purchase: OffsetPurchase, patch: dict[str, Any] | None) -> str:
    merged = {} if patch is None else merge_patch(purchase.metadata_dict, patch)
    if len(merged) > MAX_METADATA_KEYS:
        raise Conflict(
            f"metadata would hold {len(merged)} keys; at most {MAX_METADATA_KEYS} are allowed.",
            code="metadata_too_large",
            resource=("purchase", purchase.id),
        )
    return jsonio.dumps(merged).decode()


def _reference_taken(purchase: OffsetPurchase) -> Conflict:
    return Conflict(
        "Another purchase already has this external_reference.",
        code="external_reference_taken",
        resource=("purchase", purchase.id),
    )


def cancel_purchase(
    session: Session,
    caller: Caller,
    ref: str,
    *,
    precondition: Precondition = UNCONDITIONAL,
) -> OffsetPurchase:
    purchase = get_purchase(session, caller, ref, lock=True)
    precondition.check(purchase.etag)
    before = history_snapshot(purchase)
    now = utcnow()
    if purchase.state != "reserved" or now > purchase.cancellable_until:
        raise Conflict(
            "Only a reserved purchase can be cancelled, until cancellable_until.",
            code="not_cancellable",
            resource=("purchase", purchase.id),
        )
    purchase.state = "canceled"
    purchase.updated_at = now
    session.add(purchase)
    guarded_flush(session)
    webhooks.emit_order(session, purchase)
    _record(session, caller, purchase, before)
    return purchase


def purchase_history(
    session: Session, caller: Caller, ref: str, *, limit: int, starting_after: int | None
) -> tuple[list[ChangeEntry], bool]:
    """The purchase's changes, oldest first; ``starting_after`` is a version."""
    purchase = get_purchase(session, caller, ref)
    entries, _total = history_page(
        session,
        resource_type=RESOURCE,
        resource_id=purchase.id,
        limit=limit + 1,
        after_version=starting_after or 0,
    )
    return entries[:limit], len(entries) > limit


# Files


def files_of(session: Session, purchase: OffsetPurchase) -> list[OffsetFile]:
    statement = select(OffsetFile).where(OffsetFile.purchase_id == purchase.id)
    return list(session.exec(statement.order_by(OffsetFile.pk)))  # type: ignore[arg-type]


def get_file(session: Session, caller: Caller, file_id: str) -> OffsetFile:
    found = session.exec(
        select(OffsetFile).where(OffsetFile.id == file_id, OffsetFile.tenant_id == caller.tenant_id)
    ).first()
    if found is None:
        raise NotFound(f"No file found with id {file_id}.", resource=("file", file_id))
    return found


def _document_files(
    purchase: OffsetPurchase, files: list[OffsetFile], changed: Sequence[str]
) -> tuple[list[OffsetFile], list[Also]]:
    """One file per document that is set, rendered from the purchase as it is now: the
    files once the documents of ``changed`` have changed (and any set document without a
    file has one), and the statements that make them so. ``files`` are the purchase's
    files, oldest first; new ones come after them, in ``DOCUMENTS`` order, as their
    ``pk``s will."""
    now = utcnow()
    kept: list[OffsetFile] = []
    writes: list[Also] = []
    for file in files:
        details = purchase.document(file.purpose)
        if file.purpose not in changed:
            kept.append(file)
        elif details is None:
            writes.append(Also(_delete_file, {"pk": file.pk}))
        else:
            content = render_document(file.purpose, purchase, details)
            file.size, file.updated_at = len(content), now
            writes.append(Also(_update_file, {"pk": file.pk, "content": content, **_sized(file)}))
            kept.append(file)
    have = {file.purpose for file in files}
    new: list[OffsetFile] = []
    for purpose in DOCUMENTS:
        details = purchase.document(purpose)
        if details is None or purpose in have:
            continue
        content = render_document(purpose, purchase, details)
        new.append(
            OffsetFile(
                id=new_id("file_"),
                tenant_id=purchase.tenant_id,
                purchase_id=purchase.id,
                purpose=purpose,
                filename=f"{purpose.removesuffix('_document')}_{purchase.id}.pdf",
                content=content,
                size=len(content),
                created_at=now,
                updated_at=now,
            )
        )
    if new:
        rows = [{name: getattr(file, name) for name in _FILE_COLUMNS} for file in new]
        writes.append(Also(_insert_files(len(new)), numbered(rows)))
    return kept + new, writes


def _sized(file: OffsetFile) -> dict[str, Any]:
    return {"size": file.size, "updated_at": file.updated_at}


_FILES = OffsetFile.__table__  # type: ignore[attr-defined]
_FILE_COLUMNS = (
    "id",
    "tenant_id",
    "purchase_id",
    "purpose",
    "filename",
    "content",
    "size",
    "created_at",
    "updated_at",
)


def _delete_file(gate: Gate, prefix: str) -> UpdateBase:
    return delete(_FILES).where(_FILES.c.pk == bindparam(f"{prefix}pk"), *gated(gate))


def _update_file(gate: Gate, prefix: str) -> UpdateBase:
    changed = ("content", "size", "updated_at")
    return (
        update(_FILES)
        .where(_FILES.c.pk == bindparam(f"{prefix}pk"), *gated(gate))
        .values(dict(zip(changed, parameters(_FILES, changed, prefix), strict=True)))
    )


@functools.cache
def _insert_files(count: int) -> Callable[[Gate, str], UpdateBase]:
    """The statement inserting ``count`` files, in order (made once per count)."""

    def build(gate: Gate, prefix: str) -> UpdateBase:
        rows = [
            sql_select(*parameters(_FILES, _FILE_COLUMNS, f"{prefix}{index}_")).where(*gated(gate))
            for index in range(count)
        ]
        source = rows[0] if count == 1 else union_all(*rows)
        return insert(_FILES).from_select(list(_FILE_COLUMNS), source)

    return build
