"""The strict JSON parser, and its orjson fast path, which must never answer differently."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradepost import jsonio

# Text pieces that have tripped a lenient parser or would trip the fast path's checks.
_TRICKY_STRINGS = st.sampled_from(
    ["a", "a:b", "2025-01-15 00:15", "\\u003a", "\\u003A", "\\u0061", "\\ud83d\\ude00", ""]
)
_TRICKY_NUMBERS = st.sampled_from(
    [
        "0",
        "-0",
        "-0.0",
        "1e999",
        "-1E400",
        "1e-400",
        "123456789012345678",
        "1234567890123456789",
        "18446744073709551615",
        "-9223372036854775809",
        "0.1000000000000000055511151231257827021181583404541015625",
        "1" * 101,
    ]
)


_WHITESPACE = st.sampled_from(["", " ", "\t", "\r\n", "\n  "])


@st.composite
def json_texts(draw: st.DrawFn, depth: int = 0) -> str:
    """JSON-ish text, often valid, with duplicate keys, escapes and long numbers mixed in."""
    kind = draw(st.sampled_from(["str", "num", "lit", "arr", "obj"] if depth < 3 else ["str"]))
    if kind == "str":
        return '"' + draw(_TRICKY_STRINGS | st.text(max_size=5).map(_escape)) + '"'
    if kind == "num":
        return draw(_TRICKY_NUMBERS | st.integers().map(str) | st.floats().map(repr))
    if kind == "lit":
        return draw(st.sampled_from(["true", "false", "null", "NaN", "Infinity"]))
    items = draw(st.lists(json_texts(depth + 1), max_size=4))
    ws = draw(_WHITESPACE)
    if kind == "arr":
        return "[" + ws + f"{ws},{ws}".join(items) + ws + "]"
    keys = draw(st.lists(_TRICKY_STRINGS | st.sampled_from(["k", "k:1"]), min_size=len(items)))
    members = (f'"{k}"{ws}:{ws}{v}' for k, v in zip(keys, items, strict=False))
    return "{" + ws + f"{ws},{ws}".join(members) + ws + "}"


def _escape(text: str) -> str:
    return json.dumps(text)[1:-1]


def _strict(text: str) -> Any:
    return jsonio.loads(text)  # text never takes the fast path


def _outcome(parse: Any, data: Any) -> str:
    try:
        return repr(parse(data))  # repr tells 1 from 1.0 from Decimal('1') from -0.0
    except jsonio.JSONError:
        return "refused"


@settings(max_examples=400, deadline=None)
@given(json_texts())
def test_fast_path_answers_exactly_as_the_strict_parser(text: str) -> None:
    assert _outcome(jsonio.loads, text.encode()) == _outcome(_strict, text)


@pytest.mark.parametrize(
    ("body", "fast"),
    [
        (b'{"datetime": "2025-01-15 00:15", "value": [1, 2.5, -0.0]}', True),
        (b'{"a": 1, "a": 2}', False),
        (b'{"a": 1, "\\u0061": 2}', False),
        (b'{"a": "x", "b": {"a": 1, "a": "y:z"}}', False),
        (b'{"a\\u003a": 1}', False),
        (b'{"a": 1, "a": "\\u003a"}', False),
        (b'{ "a" :\t1 ,\r\n "b" : [ ] }', True),
        (b"12345678901234567890123", False),
        (b'"\\ud800"', False),
        (b"[NaN]", False),
    ],
)
def test_fast_path_is_taken_only_when_provably_equal(body: bytes, fast: bool) -> None:
    assert (jsonio._fast_loads(body) is not jsonio._NOT_FAST) is fast


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": 1, "a": 2}',
        b'{"a": 1, "\\u0061": 2}',
        b'{"a": {"b": "c:d", "b": 1}}',
        b'{"a\\u003a": 1, "a:": 2}',
        b'{"a": 1, "a": "\\u003a"}',
        b'"\\udc00"',
        b"[Infinity]",
        b"\xef\xbb\xbf{}",
        b'"\xff"',
        b"1" * 101,
    ],
)
def test_strict_rules_refuse(body: bytes) -> None:
    with pytest.raises(jsonio.JSONError):
        jsonio.loads(body)


def test_big_integers_stay_exact() -> None:
    assert jsonio.loads(b"[123456789012345678901, 7]") == [Decimal("123456789012345678901"), 7]


def test_exact_mode_keeps_decimal_fractions() -> None:
    assert jsonio.loads(b'{"price": 54.10}', exact=True) == {"price": Decimal("54.10")}


@pytest.mark.parametrize("number", ["1e-400", "5e-325", "1e101", "1.5e300"])
def test_exact_numbers_too_long_written_out_are_refused_with_their_path(number: str) -> None:
    """Issue 26 (18): 1e-400 was taken, and answered as a 402-digit number."""
    with pytest.raises(jsonio.JSONError, match="out of range") as refused:
        jsonio.loads(f'{{"a": [1, {{"q": {number}}}]}}', exact=True)
    assert refused.value.path == ("a", 1, "q")
    assert jsonio.loads(b'{"q": 1e-100}', exact=True) == {"q": Decimal("1e-100")}
    assert jsonio.loads(b'{"q": 0e-999}', exact=True) == {"q": Decimal(0)}


def test_a_small_exact_number_is_answered_in_exponent_notation() -> None:
    """A double's smallest magnitudes are taken; written out they are 300+ digits long."""
    tiny = jsonio.loads(b"[1.8255597459164648e-155, 4.9e-324, 0.25]", exact=True)
    assert jsonio.dumps(tiny) == b"[1.8255597459164648E-155,4.9E-324,0.25]"
    assert jsonio.loads(jsonio.dumps(tiny), exact=True) == tiny
