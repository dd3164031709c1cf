"""Carbon-offset purchases API v2, as documented in "Update a Purchase" (api-docs/003_...)."""

from __future__ import annotations

import io
import re
import zlib
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, update
from sqlmodel import select

from models.common.merge_patch import merge_patch
from models.common.types import utcnow
from models.offsets.catalogue import add_price
from models.offsets.purchases import OffsetFile, OffsetPurchase
from models.offsets.quotes import OffsetQuote
from tests.conftest import TokenFactory
from tests.factories import (
    TEST_PRODUCT,
    load_offset_purchase,
    make_offset_purchase,
    make_product,
    make_quote,
)
from tradepost.db import Database

# The document's request example, byte for byte.
DOCUMENT_EXAMPLE_BODY = (
    '{"confirmation_document":{"full_name":"string","address":{"city":"string","country":"DE",'
    '"line1":"string","line2":"string","postal_code":"string","state":"string"},'
    '"email":"hello@example.com","on_behalf_of":{"full_name":"string","address":{"city":"string",'
    '"country":"DE","line1":"string","line2":"string","postal_code":"string","state":"string"}},'
    '"locale":"en"},"certificate_document":{"full_name":"string","address":{"city":"string",'
    '"country":"DE","line1":"string","line2":"string","postal_code":"string","state":"string"},'
    '"email":"hello@example.com","flags":["with_attribution"],"locale":"en"},"expand":["files"],'
    '"metadata":{},"external_reference":"string"}'
)
DOCUMENTED_FIELDS = {
    "id",
    "files",
    "payment_method",
    "state",
    "metadata",
    "checkout_page",
    "carbon_quantity",
    "carbon_unit",
    "total",
    "currency",
    "external_reference",
    "cancellable_until",
}
REQUEST_ID = re.compile(r"^req_[0-9a-f-]{36}$")


@pytest.fixture
def token(make_token: TokenFactory) -> str:
    return make_token("CLIENT1")


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def catalogue(db: Database) -> None:
    """The default product, at 15.00 EUR and 16.50 USD per tonne."""
    make_product(db)


@pytest.fixture
def other_auth(make_token: TokenFactory) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token('CLIENT2')}"}


def assert_error(response: Any, status: int, code: str, attribute: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert REQUEST_ID.match(response.headers["squake-request-id"])
    [error] = response.json()
    assert error["code"] == code
    assert set(error["source"]) == {"id", "attribute", "model"}
    assert error["detail"]
    if attribute is not None:
        assert error["source"]["attribute"] == attribute


def count(db: Database, table: Any) -> int:
    with db.read() as session:
        return session.exec(select(func.count()).select_from(table)).one()


# The documented PATCH


def test_document_example_works_verbatim(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        content=DOCUMENT_EXAMPLE_BODY,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert REQUEST_ID.match(response.headers["squake-request-id"])
    body = response.json()
    assert body.keys() >= DOCUMENTED_FIELDS
    assert body["external_reference"] == "string"
    assert body["state"] == "reserved"
    assert {f["purpose"] for f in body["files"]} == {
        "confirmation_document",
        "certificate_document",
    }
    for file in body["files"]:
        assert file["id"].startswith("file_")
        assert file["type"] == "pdf"
        assert file["notification"] is None
        assert file["download_url"].endswith(f"/v2/files/{file['id']}/content")
    stored = load_offset_purchase(db, purchase.id)
    assert stored.document("certificate_document")["flags"] == ["with_attribution"]  # type: ignore[index]
    assert stored.document("confirmation_document")["on_behalf_of"]["address"]["country"] == "DE"  # type: ignore[index]


def test_merge_patch_media_type_is_accepted(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db, metadata={"a": "1"})
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        content=b'{"metadata": {"b": "2"}}',
        headers={**auth, "Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"a": "1", "b": "2"}


def test_omitted_keys_leave_data_untouched(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(
        db,
        external_reference="order-1",
        metadata={"k": "v"},
        confirmation_document={"full_name": "Ada"},
    )
    response = client.patch(f"/v2/purchases/{purchase.id}", json={}, headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert body["external_reference"] == "order-1"
    assert body["metadata"] == {"k": "v"}
    assert body["confirmation_document"] == {"full_name": "Ada"}
    assert len(body["files"]) == 1


def test_null_removes_and_objects_merge_key_by_key(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(
        db,
        external_reference="order-2",
        metadata={"keep": "1", "drop": "2"},
        confirmation_document={
            "full_name": "Ada",
            "address": {"city": "Berlin", "line2": "c/o Babbage", "country": "DE"},
        },
        certificate_document={"full_name": "Ada"},
    )
    patch = {
        "metadata": {"drop": None, "new": "3"},
        "confirmation_document": {"address": {"line2": None, "city": "Hamburg"}},
        "certificate_document": None,
        "external_reference": None,
    }
    response = client.patch(f"/v2/purchases/{purchase.id}", json=patch, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["metadata"] == {"keep": "1", "new": "3"}
    assert body["confirmation_document"] == {
        "full_name": "Ada",
        "address": {"city": "Hamburg", "country": "DE"},
    }
    assert body["certificate_document"] is None
    assert body["external_reference"] is None
    with db.read() as session:
        purposes = session.exec(
            select(OffsetFile.purpose).where(OffsetFile.purchase_id == purchase.id)
        ).all()
    assert purposes == ["confirmation_document"]


def test_metadata_null_clears_all_keys(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db, metadata={"a": "1"})
    response = client.patch(f"/v2/purchases/{purchase.id}", json={"metadata": None}, headers=auth)
    assert response.status_code == 200
    assert response.json()["metadata"] == {}


@pytest.mark.parametrize(
    ("target", "patch", "expected"),
    [  # RFC 7396, Appendix A
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ],
)
def test_merge_patch_follows_rfc_7396(target: Any, patch: Any, expected: Any) -> None:
    before = repr(target)
    assert merge_patch(target, patch) == expected
    assert repr(target) == before  # the stored value is never modified in place


@pytest.mark.parametrize(
    "field",
    ["state", "total", "id", "currency", "carbon_quantity", "files", "payment_method", "pricing"],
)
def test_read_only_fields_are_refused_not_applied(
    client: Any, db: Database, auth: dict[str, str], field: str
) -> None:
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={field: "confirmed", "metadata": {"a": "b"}},
        headers=auth,
    )
    assert_error(response, 400, "field_validation_error", attribute=field)
    stored = load_offset_purchase(db, purchase.id)
    assert (stored.state, stored.metadata_dict, stored.version) == ("reserved", {}, 1)


def test_validation_errors_name_nested_fields(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"confirmation_document": {"address": {"country": "Germany"}}},
        headers=auth,
    )
    assert_error(response, 400, "field_validation_error", "confirmation_document.address.country")


def test_documents_keep_additional_properties_as_sent(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    extra = b'{"certificate_document": {"ref": {"n": -7.794850167154067e+106, "k": [1, null]}}}'
    first = client.patch(
        f"/v2/purchases/{purchase.id}",
        content=extra,
        headers={**auth, "Content-Type": "application/json"},
    )
    assert first.status_code == 200, first.text
    again = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"certificate_document": {"full_name": "Ada"}},
        headers=auth,
    )
    assert again.status_code == 200, again.text
    assert again.json()["certificate_document"] == {
        "ref": {"n": -7.794850167154067e106, "k": [1, None]},
        "full_name": "Ada",
    }


@pytest.mark.parametrize("number", ["1e309", "-1e400"])
def test_a_metadata_number_beyond_a_double_is_named_as_such(
    client: Any, db: Database, auth: dict[str, str], number: str
) -> None:
    """Issue 26 (18): it got "null is not of types null, string"."""
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        content=b'{"metadata": {"ok": "x", "a": ' + number.encode() + b"}}",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "field_validation_error", "metadata.a")
    [error] = response.json()
    assert "number out of range" in error["detail"]
    assert "null" not in error["detail"]
    assert load_offset_purchase(db, purchase.id).version == purchase.version


def test_numbers_beyond_a_double_are_refused(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        content=b'{"confirmation_document": {"x": 1e999}}',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert_error(response, 400, "field_validation_error", "confirmation_document")
    assert load_offset_purchase(db, purchase.id).confirmation_json is None


# Lookup by external reference


def test_external_reference_works_as_id(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db, external_reference="my-order-77")
    read = client.get("/v2/purchases/my-order-77", headers=auth)
    assert read.status_code == 200
    assert read.json()["id"] == purchase.id
    patched = client.patch("/v2/purchases/my-order-77", json={"metadata": {"x": "y"}}, headers=auth)
    assert patched.status_code == 200
    assert patched.json()["metadata"] == {"x": "y"}
    cancelled = client.post("/v2/purchases/my-order-77/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "canceled"


def test_external_reference_of_another_purchase_is_refused(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    make_offset_purchase(db, external_reference="taken")
    purchase = make_offset_purchase(db, external_reference="mine")
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"external_reference": "taken", "metadata": {"a": "b"}},
        headers=auth,
    )
    assert_error(response, 409, "external_reference_taken")
    stored = load_offset_purchase(db, purchase.id)
    assert (stored.external_reference, stored.metadata_dict) == ("mine", {})


def test_another_clients_reference_is_free_to_use(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    make_offset_purchase(db, tenant="CLIENT2", external_reference="shared-name")
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}", json={"external_reference": "shared-name"}, headers=auth
    )
    assert response.status_code == 200


# Expand


def test_files_are_ids_unless_expanded(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db, certificate_document={"full_name": "Ada"})
    plain = client.get(f"/v2/purchases/{purchase.id}", headers=auth).json()
    assert len(plain["files"]) == 1
    assert plain["files"][0].startswith("file_")
    expanded = client.get(
        f"/v2/purchases/{purchase.id}", params={"expand[]": "files"}, headers=auth
    ).json()
    assert expanded["files"][0]["id"] == plain["files"][0]
    assert expanded["files"][0]["purpose"] == "certificate_document"
    patched = client.patch(
        f"/v2/purchases/{purchase.id}", json={"expand": ["files"]}, headers=auth
    ).json()
    assert patched["files"][0]["filename"].endswith(".pdf")


# Metadata bounds


@pytest.mark.parametrize(
    ("metadata", "attribute"),
    [
        ({f"k{i}": "v" for i in range(51)}, "metadata"),
        ({"k": "v" * 501}, "metadata.k"),
        ({"k": 5}, "metadata.k"),
    ],
    ids=["51-keys", "long-value", "number-value"],
)
def test_metadata_is_bounded(
    client: Any, db: Database, auth: dict[str, str], metadata: dict[str, Any], attribute: str
) -> None:
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}", json={"metadata": metadata}, headers=auth
    )
    assert_error(response, 400, "field_validation_error", attribute)
    assert load_offset_purchase(db, purchase.id).metadata_dict == {}


@pytest.mark.parametrize("key", ["", "k" * 41, "k" * 1000], ids=["empty", "41", "1000"])
def test_metadata_takes_any_key_the_schema_takes(
    client: Any, db: Database, auth: dict[str, str], key: str
) -> None:
    """OpenAPI 3.0 cannot bound a key, so the service does not either: what the spec
    admits is accepted (a fuzzer's schema-valid request is never refused)."""
    purchase = make_offset_purchase(db)
    response = client.patch(
        f"/v2/purchases/{purchase.id}", json={"metadata": {key: "v"}}, headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {key: "v"}
    assert load_offset_purchase(db, purchase.id).metadata_dict == {key: "v"}


def test_metadata_merge_may_not_exceed_fifty_keys(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db, metadata={f"a{i}": "v" for i in range(30)})
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"metadata": {f"b{i}": "v" for i in range(21)}},
        headers=auth,
    )
    assert_error(response, 409, "metadata_too_large")
    assert len(load_offset_purchase(db, purchase.id).metadata_dict) == 30


# Pricing


@pytest.mark.parametrize(
    ("quantity", "unit", "currency", "total"),
    [
        ("42", "tonne", "EUR", 63000),
        ("1.005", "tonne", "EUR", 1508),  # 1507.5 rounds up, exactly
        ("0.1", "tonne", "USD", 165),
        ("1", "gram", "EUR", 1),  # never for free
        ("2500", "kilogram", "EUR", 3750),
    ],
)
def test_pricing_totals_are_exact_minor_units(
    client: Any,
    auth: dict[str, str],
    catalogue: None,
    quantity: str,
    unit: str,
    currency: str,
    total: int,
) -> None:
    response = client.get(
        "/v2/pricing",
        params={"carbon_quantity": quantity, "carbon_unit": unit, "currency": currency},
        headers=auth,
    )
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["total"] == total
    assert quote["id"].startswith("pricing_")
    assert quote["currency"] == currency
    assert quote["carbon_unit"] == unit
    assert REQUEST_ID.match(response.headers["squake-request-id"])


def test_pricing_rejects_bad_quantities(client: Any, auth: dict[str, str], catalogue: None) -> None:
    for quantity in ("0", "-1", "abc", "1000001"):
        response = client.get("/v2/pricing", params={"carbon_quantity": quantity}, headers=auth)
        assert_error(response, 400, "field_validation_error", "carbon_quantity")


def test_a_currency_without_a_price_is_no_price_found(
    client: Any, auth: dict[str, str], catalogue: None
) -> None:
    response = client.get(
        "/v2/pricing", params={"carbon_quantity": "1", "currency": "GBP"}, headers=auth
    )
    assert_error(response, 400, "no_price_found")


# Create


def test_create_from_a_quote(client: Any, db: Database, auth: dict[str, str]) -> None:
    quote = make_quote(db, quantity="2.5")
    response = client.post(
        "/v2/purchases",
        json={
            "pricing": quote.id,
            "metadata": {"order": "4711"},
            "expand": ["files"],
            "confirmation_document": {"full_name": "Ada Lovelace"},
        },
        headers=auth,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v2/purchases/{body['id']}"
    assert body["state"] == "reserved"
    assert body["payment_method"] == "batch_settlement"
    assert body["total"] == quote.total == 3750
    assert body["currency"] == "EUR"
    assert body["pricing"] == quote.id
    assert body["metadata"] == {"order": "4711"}
    assert body["files"][0]["purpose"] == "confirmation_document"
    created = utcnow()
    until = load_offset_purchase(db, body["id"]).cancellable_until
    assert timedelta(days=13, hours=23) < until - created <= timedelta(days=14)


def test_create_with_stripe_has_a_checkout_page(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    quote = make_quote(db)
    response = client.post(
        "/v2/purchases",
        json={
            "pricing": quote.id,
            "payment_method": "stripe",
            "return_url": "https://shop.example",
        },
        headers=auth,
    )
    body = response.json()
    assert body["state"] == "payment_initiated"
    assert body["checkout_page"]["return_url"] == "https://shop.example"
    assert body["checkout_page"]["url"].endswith(f"?purchase={body['id']}")


def test_quote_rules(client: Any, db: Database, auth: dict[str, str]) -> None:
    unknown = client.post("/v2/purchases", json={"pricing": "pricing_nope"}, headers=auth)
    assert_error(unknown, 404, "not_found")
    foreign = make_quote(db, tenant="CLIENT2")
    assert_error(
        client.post("/v2/purchases", json={"pricing": foreign.id}, headers=auth), 404, "not_found"
    )
    quote = make_quote(db)
    first = client.post("/v2/purchases", json={"pricing": quote.id}, headers=auth)
    again = client.post("/v2/purchases", json={"pricing": quote.id}, headers=auth)
    assert (first.status_code, again.status_code) == (201, 201)  # one quote, two purchases
    assert first.json()["id"] != again.json()["id"]
    with db.write() as session:  # past valid_until, but the price is still current
        session.execute(
            update(OffsetQuote)
            .where(OffsetQuote.id == quote.id)  # type: ignore[arg-type]
            .values(valid_until=utcnow() - timedelta(seconds=1))
        )
    late = client.post("/v2/purchases", json={"pricing": quote.id}, headers=auth)
    assert late.status_code == 201, late.text
    with db.write() as session:  # a new price supersedes the quoted one from today
        add_price(session, product_id=TEST_PRODUCT, currency="EUR", unit_amount=1600)
    assert_error(
        client.post("/v2/purchases", json={"pricing": quote.id}, headers=auth),
        409,
        "pricing_expired",
    )
    assert count(db, OffsetPurchase) == 3
    fresh = make_quote(db)
    assert fresh.total == 42 * 1600
    kept = load_offset_purchase(db, first.json()["id"])  # a purchase keeps its quoted price
    assert (kept.total, kept.price_id) == (63000, quote.price_id)


def test_create_with_an_existing_external_reference_is_idempotent(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    quote = make_quote(db)
    body = {"pricing": quote.id, "external_reference": "order-9"}
    first = client.post("/v2/purchases", json=body, headers=auth)
    again = client.post("/v2/purchases", json=body, headers=auth)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    other_quote = make_quote(db)
    clash = client.post(
        "/v2/purchases",
        json={"pricing": other_quote.id, "external_reference": "order-9"},
        headers=auth,
    )
    assert_error(clash, 409, "external_reference_taken")
    assert count(db, OffsetPurchase) == 1
    other = {"pricing": other_quote.id, "external_reference": "order-10"}
    assert client.post("/v2/purchases", json=other, headers=auth).status_code == 201


# Cancel


def test_cancel_rules(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db)
    response = client.post(f"/v2/purchases/{purchase.id}/cancel", headers=auth)
    assert response.status_code == 200
    assert response.json()["state"] == "canceled"
    assert_error(
        client.post(f"/v2/purchases/{purchase.id}/cancel", headers=auth), 409, "not_cancellable"
    )
    late = make_offset_purchase(db)
    with db.write() as session:
        session.execute(
            update(OffsetPurchase)
            .where(OffsetPurchase.id == late.id)  # type: ignore[arg-type]
            .values(cancellable_until=utcnow() - timedelta(seconds=1))
        )
    assert_error(
        client.post(f"/v2/purchases/{late.id}/cancel", headers=auth), 409, "not_cancellable"
    )
    assert load_offset_purchase(db, late.id).state == "reserved"
    card = make_offset_purchase(db, payment_method="stripe")
    assert_error(
        client.post(f"/v2/purchases/{card.id}/cancel", headers=auth), 409, "not_cancellable"
    )


def test_documents_of_a_cancelled_purchase_are_frozen(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    client.post(f"/v2/purchases/{purchase.id}/cancel", headers=auth)
    frozen = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"certificate_document": {"full_name": "X"}},
        headers=auth,
    )
    assert_error(frozen, 409, "documents_frozen")
    assert load_offset_purchase(db, purchase.id).certificate_json is None
    still = client.patch(
        f"/v2/purchases/{purchase.id}", json={"metadata": {"a": "b"}}, headers=auth
    )
    assert still.status_code == 200


# Files


def pdf_text(content: bytes) -> bytes:
    """Every (inflated) content stream of a PDF, concatenated."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S)
    out = b""
    for stream in streams:
        try:
            out += zlib.decompress(stream)
        except zlib.error:
            out += stream
    return out


def test_file_metadata_and_pdf_download(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(
        db, certificate_document={"full_name": "Ada Lovelace", "flags": ["with_attribution"]}
    )
    [file_id] = client.get(f"/v2/purchases/{purchase.id}", headers=auth).json()["files"]
    file = client.get(f"/v2/files/{file_id}", headers=auth)
    assert file.status_code == 200
    meta = file.json()
    assert meta["purpose"] == "certificate_document"
    assert meta["type"] == "pdf"
    download = client.get(meta["download_url"].removeprefix("http://testserver"), headers=auth)
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/pdf"
    assert meta["filename"] in download.headers["content-disposition"]
    assert download.content.startswith(b"%PDF-")
    assert len(download.content) == meta["size"]
    text = pdf_text(download.content)
    assert b"Ada Lovelace" in text
    assert purchase.id.encode() in text
    assert b"attributes the offset" in text


def test_changing_a_document_renders_its_pdf_again(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db, confirmation_document={"full_name": "Ada"})
    client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"confirmation_document": {"full_name": "Grace Hopper"}},
        headers=auth,
    )
    with db.read() as session:
        file = session.exec(select(OffsetFile).where(OffsetFile.purchase_id == purchase.id)).one()
    assert b"Grace Hopper" in pdf_text(file.content)


def test_a_unicode_name_prints_on_the_pdf(client: Any, db: Database, auth: dict[str, str]) -> None:
    purchase = make_offset_purchase(db, certificate_document={"full_name": "Łukasz"})
    client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"certificate_document": {"full_name": "Łukasz Żółćkiewicz"}},
        headers=auth,
    )
    [file_id] = client.get(f"/v2/purchases/{purchase.id}", headers=auth).json()["files"]
    download = client.get(f"/v2/files/{file_id}/content", headers=auth)
    reader = PdfReader(io.BytesIO(download.content))
    assert "Issued to: Łukasz Żółćkiewicz" in reader.pages[0].extract_text()


# Isolation


def test_another_client_sees_nothing(
    client: Any, db: Database, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(
        db, external_reference="secret-order", certificate_document={"full_name": "Ada"}
    )
    file_id = client.get(f"/v2/purchases/{purchase.id}", headers=auth).json()["files"][0]
    attempts = [
        client.get(f"/v2/purchases/{purchase.id}", headers=other_auth),
        client.get("/v2/purchases/secret-order", headers=other_auth),
        client.patch(
            f"/v2/purchases/{purchase.id}", json={"metadata": {"x": "y"}}, headers=other_auth
        ),
        client.patch(
            "/v2/purchases/secret-order", json={"metadata": {"x": "y"}}, headers=other_auth
        ),
        client.post(f"/v2/purchases/{purchase.id}/cancel", headers=other_auth),
        client.post("/v2/purchases/secret-order/cancel", headers=other_auth),
        client.get(f"/v2/files/{file_id}", headers=other_auth),
        client.get(f"/v2/files/{file_id}/content", headers=other_auth),
        client.get("/v2/purchases", params={"starting_after": purchase.id}, headers=other_auth),
    ]
    for response in attempts:
        assert_error(response, 404, "not_found")
    assert client.get("/v2/purchases", headers=other_auth).json() == {"data": [], "has_more": False}
    stored = load_offset_purchase(db, purchase.id)
    assert (stored.state, stored.metadata_dict, stored.version) == ("reserved", {}, 1)


# List


def test_list_pages_newest_first(client: Any, db: Database, auth: dict[str, str]) -> None:
    ids = [make_offset_purchase(db).id for _ in range(3)]
    first = client.get("/v2/purchases", params={"limit": 2}, headers=auth).json()
    assert [p["id"] for p in first["data"]] == ids[::-1][:2]
    assert first["has_more"]
    rest = client.get(
        "/v2/purchases", params={"limit": 2, "starting_after": ids[1]}, headers=auth
    ).json()
    assert [p["id"] for p in rest["data"]] == [ids[0]]
    assert not rest["has_more"]


# Errors and request ids


def test_every_response_has_a_request_id_and_errors_use_the_documented_shape(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    assert_error(client.get(f"/v2/purchases/{purchase.id}"), 401, "not_authorized")
    assert_error(
        client.get(f"/v2/purchases/{purchase.id}", headers={"Authorization": "Bearer nope"}),
        401,
        "not_authorized",
    )
    assert_error(
        client.patch(
            f"/v2/purchases/{purchase.id}",
            content=b"metadata=1",
            headers={**auth, "Content-Type": "text/plain"},
        ),
        415,
        "unsupported_media_type",
    )
    assert_error(
        client.patch(
            f"/v2/purchases/{purchase.id}",
            content=b'{"metadata": ',
            headers={**auth, "Content-Type": "application/json"},
        ),
        400,
        "field_validation_error",
    )
    assert_error(client.get("/v2/nothing-here", headers=auth), 404, "not_found")
    not_allowed = client.delete(f"/v2/purchases/{purchase.id}", headers=auth)
    assert_error(not_allowed, 405, "method_not_allowed")
    assert set(not_allowed.headers["allow"].split(", ")) == {"GET", "HEAD", "PATCH"}
    assert_error(
        client.get("/v2/purchases", params={"limit": 0}, headers=auth),
        400,
        "field_validation_error",
        "limit",
    )
    ok = client.get(f"/v2/purchases/{purchase.id}", headers=auth)
    assert REQUEST_ID.match(ok.headers["squake-request-id"])


# Safe writes: ETags, idempotency keys, history


def test_etags_guard_updates_and_answer_304(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db)
    read = client.get(f"/v2/purchases/{purchase.id}", headers=auth)
    tag = read.headers["etag"]
    assert tag == f'"{purchase.id}-v1"'
    unchanged = client.get(f"/v2/purchases/{purchase.id}", headers={**auth, "If-None-Match": tag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert REQUEST_ID.match(unchanged.headers["squake-request-id"])

    patched = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"metadata": {"a": "1"}},
        headers={**auth, "If-Match": tag},
    )
    assert patched.status_code == 200
    assert patched.headers["etag"] == f'"{purchase.id}-v2"'
    stale = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={"metadata": {"b": "2"}},
        headers={**auth, "If-Match": tag},
    )
    assert_error(stale, 412, "precondition_failed")
    stale_cancel = client.post(
        f"/v2/purchases/{purchase.id}/cancel", headers={**auth, "If-Match": tag}
    )
    assert_error(stale_cancel, 412, "precondition_failed")
    stored = load_offset_purchase(db, purchase.id)
    assert (stored.metadata_dict, stored.state, stored.version) == ({"a": "1"}, "reserved", 2)


def test_idempotency_key_replays_the_first_create(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    quote = make_quote(db)
    keyed = {**auth, "Idempotency-Key": "order-4711-attempt"}
    first = client.post("/v2/purchases", json={"pricing": quote.id}, headers=keyed)
    retry = client.post("/v2/purchases", json={"pricing": quote.id}, headers=keyed)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    other = client.post("/v2/purchases", json={"pricing": make_quote(db).id}, headers=keyed)
    assert_error(other, 422, "unprocessable")
    assert count(db, OffsetPurchase) == 1


def test_history_records_every_change_with_its_request_id(
    client: Any, db: Database, auth: dict[str, str], other_auth: dict[str, str]
) -> None:
    quote = make_quote(db)
    created = client.post(
        "/v2/purchases", json={"pricing": quote.id, "external_reference": "h-1"}, headers=auth
    )
    patched = client.patch("/v2/purchases/h-1", json={"metadata": {"crm": "42"}}, headers=auth)
    cancelled = client.post("/v2/purchases/h-1/cancel", headers=auth)
    request_ids = [r.headers["squake-request-id"] for r in (created, patched, cancelled)]

    page = client.get("/v2/purchases/h-1/history", params={"limit": 2}, headers=auth).json()
    assert [e["version"] for e in page["data"]] == [1, 2]
    assert page["has_more"]
    rest = client.get(
        "/v2/purchases/h-1/history", params={"starting_after": 2}, headers=auth
    ).json()
    entries = page["data"] + rest["data"]
    assert not rest["has_more"]
    assert [e["action"] for e in entries] == ["create", "update", "update"]
    assert [e["request_id"] for e in entries] == request_ids
    assert entries[0]["before"] is None
    assert entries[0]["after"]["external_reference"] == "h-1"
    assert entries[1]["before"]["metadata"] == {}
    assert entries[1]["after"]["metadata"] == {"crm": "42"}
    assert (entries[2]["before"]["state"], entries[2]["after"]["state"]) == (
        "reserved",
        "canceled",
    )
    assert entries[0]["principal"]["tenant_id"] == "CLIENT1"
    assert_error(client.get("/v2/purchases/h-1/history", headers=other_auth), 404, "not_found")
    assert_error(client.post("/v2/purchases/h-1/history", headers=auth), 405, "method_not_allowed")


def test_a_refused_update_writes_no_history(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    purchase = make_offset_purchase(db, external_reference="taken-1")
    other = make_offset_purchase(db)
    refused = client.patch(
        f"/v2/purchases/{other.id}", json={"external_reference": "taken-1"}, headers=auth
    )
    assert_error(refused, 409, "external_reference_taken")
    history = client.get(f"/v2/purchases/{other.id}/history", headers=auth).json()
    assert [e["action"] for e in history["data"]] == ["create"]
    assert purchase.version == 1


def test_pricing_is_exact_beyond_28_digits(
    client: Any, auth: dict[str, str], catalogue: None
) -> None:
    """Totals were rounded to 28 digits before the ceiling, and quantities echoed rounded."""
    response = client.get(
        "/v2/pricing?carbon_quantity=1.0000000000000000000000000001", headers=auth
    )
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1501  # 1500.00000000000000000000000015 cents, up
    assert '"carbon_quantity":1.0000000000000000000000000001,' in response.text


@pytest.mark.parametrize("quantity", ["%2042", "1_000", "%EF%BC%94%EF%BC%92", "NaN", "0x10"])
def test_quantities_are_json_numbers(
    client: Any, auth: dict[str, str], catalogue: None, quantity: str
) -> None:
    response = client.get(f"/v2/pricing?carbon_quantity={quantity}", headers=auth)
    assert_error(response, 400, "field_validation_error", "carbon_quantity")


def test_a_foreign_request_id_is_not_echoed_as_a_squake_id(
    client: Any, auth: dict[str, str]
) -> None:
    """The trade surface echoes a well-formed X-Request-Id; /v2 ids are always req_<uuid>."""
    foreign = client.get("/v2/purchases", headers={**auth, "X-Request-Id": "client-id-1234"})
    assert REQUEST_ID.match(foreign.headers["squake-request-id"])
    own = "req_0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
    echoed = client.get("/v2/purchases", headers={**auth, "X-Request-Id": own})
    assert echoed.headers["squake-request-id"] == own


def test_a_voided_purchase_reads_as_voided_with_frozen_documents(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    """``voided`` is set outside the API (settlement); the API shows it and respects it."""
    purchase = make_offset_purchase(db, external_reference="void-1")
    with db.write() as session:
        session.execute(
            update(OffsetPurchase)
            .where(OffsetPurchase.id == purchase.id)  # type: ignore[arg-type]
            .values(state="voided")
        )
    assert client.get("/v2/purchases/void-1", headers=auth).json()["state"] == "voided"
    frozen = client.patch(
        "/v2/purchases/void-1", json={"confirmation_document": {"full_name": "X"}}, headers=auth
    )
    assert_error(frozen, 409, "documents_frozen")
    assert_error(client.post("/v2/purchases/void-1/cancel", headers=auth), 409, "not_cancellable")


def test_one_patch_of_documents_metadata_and_reference_is_one_version(
    client: Any, db: Database, auth: dict[str, str]
) -> None:
    """Looking up whether the new external_reference is taken must not flush the patch's
    other changes early: that was a second UPDATE, and a second version, per request."""
    purchase = make_offset_purchase(db, external_reference="first")
    response = client.patch(
        f"/v2/purchases/{purchase.id}",
        json={
            "external_reference": "second",
            "metadata": {"a": "b"},
            "confirmation_document": {"full_name": "Ada"},
        },
        headers=auth,
    )
    assert response.status_code == 200
    assert response.headers["etag"] == f'"{purchase.id}-v2"'
    assert load_offset_purchase(db, purchase.id).version == 2
