"""Public ids of the carbon-offset tables (their surrogate keys: models.common.types)."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """``purchase_`` + 16 random letters and digits (95 bits): unguessable, URL-safe."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(16))
