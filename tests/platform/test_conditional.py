"""tradepost.conditional: entity tags and the RFC 9110 comparisons, without HTTP."""

from __future__ import annotations

import pytest

from tradepost.conditional import (
    UNCONDITIONAL,
    EntityTag,
    etag,
    matches_strongly,
    matches_weakly,
    parse_tags,
    precondition,
)
from tradepost.errors import PreconditionFailed
from tradepost.http.request import not_modified

CURRENT = etag("abc", 3)


def test_tags_are_strong_quoted_and_versioned() -> None:
    assert CURRENT == '"abc-v3"'
    assert etag("abc", 4) != CURRENT


@pytest.mark.parametrize(
    ("header", "tags"),
    [
        ("*", [EntityTag("*")]),
        ('"a"', [EntityTag('"a"')]),
        ('W/"a"', [EntityTag('"a"', weak=True)]),
        ('"a", W/"b" ,"c"', [EntityTag('"a"'), EntityTag('"b"', weak=True), EntityTag('"c"')]),
        ('""', [EntityTag('""')]),
    ],
)
def test_parses_tag_lists(header: str, tags: list[EntityTag]) -> None:
    assert parse_tags(header) == tags


@pytest.mark.parametrize("header", ["", "abc", '"a" "b"', '"a', "W/a", '"a",,x', '"a"b'])
def test_malformed_lists_are_none(header: str) -> None:
    assert parse_tags(header) is None


@pytest.mark.parametrize(
    ("header", "strong", "weak"),
    [
        (CURRENT, True, True),
        ("*", True, True),
        (f'"x", {CURRENT}', True, True),
        (f"W/{CURRENT}", False, True),  # weak tags never match If-Match
        ('"abc-v2"', False, False),
        ("abc-v3", False, False),  # unquoted: malformed, matches nothing
    ],
)
def test_strong_and_weak_comparison(header: str, strong: bool, weak: bool) -> None:
    assert matches_strongly(header, CURRENT) is strong
    assert matches_weakly(header, CURRENT) is weak


def test_a_precondition_refuses_a_stale_tag() -> None:
    precondition(CURRENT).check(CURRENT)
    precondition("*").check(CURRENT)
    UNCONDITIONAL.check(CURRENT)
    assert precondition(None) is UNCONDITIONAL
    with pytest.raises(PreconditionFailed):
        precondition('"abc-v2"').check(CURRENT)


def test_not_modified_answers_304_with_the_tag_and_no_body() -> None:
    assert not_modified(None, CURRENT) is None
    assert not_modified('"abc-v2"', CURRENT) is None
    response = not_modified(f'W/{CURRENT}, "other"', CURRENT)
    assert response is not None
    assert response.status_code == 304
    assert response.headers["etag"] == CURRENT
    assert response.body == b""
