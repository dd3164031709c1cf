"""The PDF documents of an offset purchase: a confirmation and a certificate.

Rendered with fpdf2's core Helvetica font, which covers Latin-1: characters outside it
print as ``?`` on the PDF (the JSON keeps them exactly).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol


class DocumentedPurchase(Protocol):
    """What a document prints of a purchase (``models.offsets.purchases.OffsetPurchase``
    has it; this module does not import the table, which renders documents itself)."""

    id: str
    carbon_quantity: Decimal
    carbon_unit: str
    total: int
    currency: str
    created_at: datetime


TITLES = {
    "confirmation_document": "Purchase confirmation",
    "certificate_document": "Carbon offset certificate",
}


def _latin1(text: Any) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _address_lines(address: dict[str, Any] | None) -> list[str]:
    if not address:
        return []
    city = " ".join(str(address[k]) for k in ("postal_code", "city") if address.get(k))
    parts = [address.get("line1"), address.get("line2"), city, address.get("state")]
    return [str(part) for part in [*parts, address.get("country")] if part]


def document_lines(
    purpose: str, purchase: DocumentedPurchase, details: dict[str, Any]
) -> list[str]:
    """What the document says, line by line (tested without parsing the PDF)."""
    lines = [
        f"Purchase: {purchase.id}",
        f"Carbon offset: {purchase.carbon_quantity} {purchase.carbon_unit}",
        f"Total: {purchase.total / 100:.2f} {purchase.currency}",
        f"Date: {purchase.created_at:%Y-%m-%d}",
    ]
    if details.get("full_name"):
        lines += ["", f"Issued to: {details['full_name']}", *_address_lines(details.get("address"))]
    behalf = details.get("on_behalf_of") or {}
    if behalf.get("full_name"):
        lines += [
            "",
            f"On behalf of: {behalf['full_name']}",
            *_address_lines(behalf.get("address")),
        ]
    if "with_attribution" in (details.get("flags") or []):
        lines += ["", "This certificate attributes the offset to the party named above."]
    return lines


def warm_up() -> None:
    """Import fpdf ahead of the first document (the service does it in a thread after
    start-up), so that no write transaction waits for the import."""
    import fpdf  # noqa: F401


def render_document(purpose: str, purchase: DocumentedPurchase, details: dict[str, Any]) -> bytes:
    from fpdf import FPDF  # 0.4 s to import: off every process's start (``warm_up``)

    pdf = FPDF(format="A4")
    pdf.set_title(TITLES[purpose])
    pdf.set_creation_date(purchase.created_at)
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=18)
    pdf.cell(text=TITLES[purpose], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", size=11)
    for line in document_lines(purpose, purchase, details):
        pdf.multi_cell(w=0, h=6, text=_latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
