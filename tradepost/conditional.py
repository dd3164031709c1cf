"""Conditional requests (RFC 9110 §13): strong ETags, ``If-Match`` and ``If-None-Match``.

A versioned resource's tag is ``"<id>-v<version>"``: strong, quoted, and changed by every
write because the ``version`` column grows in the same UPDATE. A write goes:

1. the handler reads ``If-Match`` into a ``Precondition`` (``precondition(header)``);
2. the domain function loads the row, calls ``precondition.check(etag(id, version))``
   (412 when the tag is stale) and changes the row;
3. the write is ``UPDATE ... SET version = v + 1 WHERE pk = :pk AND version = :v``, and
   a zero row count is a 412 (``stale()``), so the check-and-write holds even between
   processes. ORM writes get that UPDATE from SQLAlchemy's ``version_id_col`` and call
   ``guarded_flush``; the trade PATCH issues it itself (``models/trades/trades.py``).

Without ``If-Match`` nothing is checked: the last write wins. ``If-Match: *`` matches any
existing resource. Reads answer 304 when ``If-None-Match`` names the current tag
(``tradepost.http.request.read_response``). Tags are compared strongly for ``If-Match``
and weakly for ``If-None-Match``, as the RFC says; a malformed header matches nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session

from tradepost.errors import PreconditionFailed

ANY = "*"
# entity-tag = [ W/ ] DQUOTE *etagc DQUOTE, in a comma-separated list
_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def etag(resource_id: str, version: int) -> str:
    """The strong tag of one version of a resource."""
    return f'"{resource_id}-v{version}"'


def etag_header(resource_id: str, version: int) -> dict[str, str]:
    return {"ETag": etag(resource_id, version)}


@dataclass(frozen=True, slots=True)
class EntityTag:
    value: str  # with its quotes
    weak: bool = False


def parse_tags(header: str) -> list[EntityTag] | None:
    """The tags of an ``If-Match``/``If-None-Match`` list; None when it is malformed."""
    if header.strip() == ANY:
        return [EntityTag(ANY)]
    tags: list[EntityTag] = []
    position = 0
    while position < len(header):
        found = _TAG.match(header, position)
        if found is None or found.end() == position:
            return None
        tags.append(EntityTag(found.group(2), weak=bool(found.group(1))))
        position = found.end()
    return tags or None


def matches_strongly(header: str, current: str) -> bool:
    """``If-Match``: ``*`` or the current tag, compared strongly (weak tags never match)."""
    tags = parse_tags(header) or []
    return any(t.value == ANY or (not t.weak and t.value == current) for t in tags)


def matches_weakly(header: str, current: str) -> bool:
    """``If-None-Match``: ``*`` or the current tag, ignoring ``W/`` prefixes."""
    tags = parse_tags(header) or []
    return any(t.value in (ANY, current) for t in tags)


@dataclass(frozen=True, slots=True)
class Precondition:
    """What an update's ``If-Match`` header demands (``None``: nothing, last write wins)."""

    if_match: str | None = None

    @property
    def names_a_version(self) -> bool:
        """Whether ``If-Match`` names specific tags (not ``*``, not absent): a write that
        finds the version moved since its read is then a 412, not a retry."""
        if self.if_match is None:
            return False
        return not any(tag.value == ANY for tag in parse_tags(self.if_match) or [])

    def check(self, current: str) -> None:
        """412 unless the resource whose tag is ``current`` satisfies ``If-Match``."""
        if self.if_match is not None and not matches_strongly(self.if_match, current):
            raise stale()


UNCONDITIONAL = Precondition()


def precondition(if_match: str | None) -> Precondition:
    return Precondition(if_match) if if_match is not None else UNCONDITIONAL


def stale() -> PreconditionFailed:
    return PreconditionFailed(
        "The resource has changed since the If-Match tag was read; read it again and retry.",
    )


def guarded_flush(session: Session) -> None:
    """Flush versioned rows; a row whose version moved underneath is a 412, not a 500."""
    try:
        session.flush()
    except StaleDataError:
        raise stale() from None
