"""The offset PDFs print any name a client sends, read back from the PDF's own text.

Latin-1 text stays in the core Helvetica font (nothing embedded); other text is set in
the embedded Noto Sans that the ``fontpkg-noto-sans`` dependency ships, with Debian's
DejaVu Sans as a fallback for scripts Noto Sans lacks; a character no font has prints as
``?``. pypdf extracts the text, so what a reader copies out of the PDF is checked, not the
renderer's input.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from models.offsets.documents import SYSTEM_FALLBACK_FONTS, render_document, unicode_fonts


@dataclass
class Purchase:
    id: str = "purchase_4f2a9b"
    carbon_quantity: Decimal = Decimal("1000")
    carbon_unit: str = "kilogram"
    total: int = 1231
    currency: str = "EUR"
    created_at: datetime = datetime(2026, 12, 4, tzinfo=UTC)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def certificate(full_name: str) -> bytes:
    return render_document("certificate_document", Purchase(), {"full_name": full_name})


def test_the_font_comes_from_the_dependency() -> None:
    assert Path(unicode_fonts()[0]).name == "NotoSans[wdth,wght].ttf"
    assert "site-packages" in unicode_fonts()[0] or ".venv" in unicode_fonts()[0]


def test_latin1_names_use_the_core_font() -> None:
    pdf = certificate("Ada Lovelace-Müller")
    assert "Issued to: Ada Lovelace-Müller" in text_of(pdf)
    assert b"/FontFile2" not in pdf  # nothing embedded
    assert b"/Helvetica" in pdf


@pytest.mark.parametrize(
    "name",
    [
        "Łukasz Żółćkiewicz",  # the example: "?ukasz" before
        "Жанна Иванова",
        "Ωμέγα Παπαδοπούλου",
        "Nguyễn Văn Ánh",
        "Ørsted Čapek Ğüneş",
    ],
)
def test_unicode_names_print_exactly(name: str) -> None:
    pdf = certificate(name)
    text = text_of(pdf)
    assert f"Issued to: {name}" in text
    assert "Carbon offset certificate" in text
    assert "Purchase: purchase_4f2a9b" in text
    assert b"/FontFile2" in pdf  # the font is embedded (a subset)
    assert "?" not in text


@pytest.mark.skipif(
    not Path(SYSTEM_FALLBACK_FONTS[0]).is_file(), reason="Debian's fonts-dejavu-core is absent"
)
def test_scripts_noto_sans_lacks_fall_back_to_dejavu() -> None:
    text = text_of(certificate("Արամ Łukasz"))  # Armenian: DejaVu Sans has it
    assert "Issued to: Արամ Łukasz" in text


def test_a_character_no_font_has_prints_as_a_question_mark() -> None:
    text = text_of(certificate("Łukasz 東京"))  # CJK is in neither font
    assert "Issued to: Łukasz ??" in text


def test_the_embedded_font_is_a_subset() -> None:
    assert len(certificate("Łukasz")) < 60_000  # the font file is 2 MB
