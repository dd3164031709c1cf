"""The PDF documents of an offset purchase: a confirmation and a certificate.

A document whose text is all Latin-1 is set in fpdf2's core Helvetica (nothing embedded:
about a millisecond). Any other text (``Łukasz``, ``Жанна``, ``Ωμέγα``, ...) is set in
Noto Sans, embedded as a subset: the font file ships with the ``fontpkg-noto-sans``
dependency (SIL OFL; the variable font's default instance, Regular), with Debian's DejaVu
Sans as a fallback for the characters Noto Sans lacks when that package is installed
(``fonts-dejavu-core``; Arabic, Hebrew, Armenian, Georgian and more, without right-to-left
shaping). A character that no available font has prints as ``?``; the JSON keeps every
name exactly. The embedded path costs tens of milliseconds per document.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
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


# Fonts used for text beyond Latin-1, first found first: the one a dependency ships, then
# those a Debian system may have.
SYSTEM_FALLBACK_FONTS = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


def _latin1(text: Any) -> str:
    return str(text).encode("latin-1", "replace").decode("latin-1")


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


@cache
def unicode_fonts() -> tuple[str, ...]:
    """The TrueType files for text beyond Latin-1 that this installation has, in order."""
    found: list[str] = []
    try:
        noto = resources.files("fontpkg_noto_sans") / "files" / "NotoSans[wdth,wght].ttf"
        if noto.is_file():
            found.append(str(noto))
    except ModuleNotFoundError:  # pragma: no cover - a declared dependency
        pass
    found += [path for path in SYSTEM_FALLBACK_FONTS if Path(path).is_file()]
    return tuple(found)


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
    from fpdf.fonts import TTFFont

    title, lines = TITLES[purpose], document_lines(purpose, purchase, details)
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creation_date(purchase.created_at)
    pdf.add_page()
    fonts = () if all(_is_latin1(line) for line in lines) else unicode_fonts()
    if fonts:
        families = [f"unicode{index}" for index in range(len(fonts))]
        for family, path in zip(families, fonts, strict=True):
            pdf.add_font(family, "", path)
        pdf.set_fallback_fonts(families[1:])
        loaded = [pdf.fonts[family] for family in families]
        covered = {point for font in loaded if isinstance(font, TTFFont) for point in font.cmap}

        def printable(text: str) -> str:
            return "".join(char if ord(char) in covered else "?" for char in text)

        title_font: tuple[str, str] = (families[0], "")  # Regular: one instance embedded
        body_font = families[0]
    else:
        printable, title_font, body_font = _latin1, ("Helvetica", "B"), "Helvetica"
    pdf.set_font(title_font[0], style=title_font[1], size=18)
    pdf.cell(text=title, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(body_font, size=11)
    for line in lines:
        pdf.multi_cell(w=0, h=6, text=printable(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
