"""JSON in and out, strictly.

Incoming bodies are parsed once, by the body validator, with rules a lenient parser
would skip: UTF-8 only, no duplicate keys, no lone surrogates, no ``NaN``/``Infinity``
literals, numbers of at most 100 digits. Integers beyond 64 bits become ``Decimal``
(still exact, and writable). Where the spec marks a number ``format: decimal`` fractions
are parsed as ``Decimal`` too (zero or magnitudes 1e-324..1e100, a double's range:
``1e-400`` is refused, naming the field), so money never passes through binary floating
point. A ``Decimal`` longer than 100 digits written out is answered in exponent notation.

Other fractions are parsed as floats, so an overflowing literal such as ``1e999`` becomes
infinity. Schema bounds refuse it wherever a number is bounded; code that stores
free-form JSON calls ``require_finite``. Output goes through orjson; ``Decimal`` is
written digit for digit.

Bytes without ``format: decimal`` numbers take a fast path first: orjson parses them (in C,
about 3x faster than the standard scanner with the hooks above), and its value is kept only
where it is provably the strict parser's own; anything else is parsed again the strict way,
which also writes the error message. orjson already refuses invalid UTF-8, lone surrogates,
``NaN`` and numbers beyond a double. What it would let through is ruled out cheaply:

- integers beyond 64 bits (orjson turns them into floats): any run of 19 digits goes slow;
- duplicate keys (orjson keeps the last): every ``:`` outside a string separates one member,
  so re-serialising the value gives as many ``:`` as the input only if no member was
  dropped. A ``\\u003a`` escape would spoil the count, so such input goes slow.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from decimal import Context, Decimal
from typing import Any

import orjson

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_ESCAPED_COLON = re.compile(rb"\\u003[aA]")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_INT64_DIGITS = 18  # every integer of up to 18 digits fits in 64 bits
_LONG_DIGIT_RUN = b"0" * (_INT64_DIGITS + 1)
_NOT_FAST = object()
MAX_NUMBER_LENGTH = 100
MIN_ADJUSTED_EXPONENT = -324  # the smallest double, 4.9e-324


class JSONError(ValueError):
    """The bytes are not JSON this service accepts; ``path`` names the value at fault
    (keys and list indexes from the top) when there is one."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
        raise JSONError(f"duplicate key {duplicate!r}")
    return obj


def _reject_constant(name: str) -> Any:
    raise JSONError(f"{name} is not a JSON number")


def _integer(text: str) -> int | Decimal:
    if len(text.lstrip("-")) <= _INT64_DIGITS:
        return int(text)
    if len(text) > MAX_NUMBER_LENGTH:
        raise JSONError(f"number {text[:20]}... is too long")
    return Decimal(text)


def _decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_LENGTH:
        raise JSONError(f"number {text[:20]}... is too long")
    return Decimal(text)


def _decimal_in_range(value: Decimal) -> bool:
    """Zero, or a magnitude a double reaches (from 4.9e-324) up to 1e100: ``1e-400`` (402
    digits written out) was taken and answered digit for digit. Every number a client
    can write as a double passes, so nothing the spec admits for it is refused."""
    return value.is_zero() or MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_NUMBER_LENGTH


def decode_utf8(data: bytes | bytearray) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JSONError(f"body is not valid UTF-8 (byte {exc.start})") from None


def loads(data: str | bytes | bytearray, *, exact: bool = False) -> Any:
    """Parse JSON text; ``exact`` parses fractional numbers as ``Decimal``."""
    if not exact and not isinstance(data, str):
        value = _fast_loads(data)
        if value is not _NOT_FAST:
            return value
    text = data if isinstance(data, str) else decode_utf8(data)
    out_of_range: list[Decimal] = []  # exact numbers too long written out, rare

    def exact_number(literal: str) -> Decimal:
        number = _decimal(literal)
        if not _decimal_in_range(number):
            out_of_range.append(number)
        return number

    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_reject_constant,
            parse_int=_integer,
            parse_float=exact_number if exact else float,
        )
    except json.JSONDecodeError as exc:
        raise JSONError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise JSONError("JSON nested too deeply") from None
    if out_of_range:
        culprit = out_of_range[0]
        raise JSONError(
            f"number {culprit} is out of range (zero, or a magnitude from 1e-324 to "
            f"1e{MAX_NUMBER_LENGTH})",
            path_to(value, lambda item: item is culprit) or (),
        )
    if _SURROGATE_ESCAPE.search(text):  # rare: only then walk the value
        _reject_lone_surrogates(value)
    return value


def _fast_loads(data: bytes | bytearray) -> Any:
    """orjson's value where it equals the strict parser's, else ``_NOT_FAST``."""
    if _LONG_DIGIT_RUN in data.translate(_DIGITS_AS_ZERO) or _ESCAPED_COLON.search(data):
        return _NOT_FAST
    try:
        value = orjson.loads(data)
        members_and_string_colons = orjson.dumps(value).count(b":")
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        return _NOT_FAST
    if members_and_string_colons != data.count(b":"):  # a duplicate key was dropped
        return _NOT_FAST
    return value


def path_to(value: Any, wanted: Callable[[Any], bool]) -> tuple[str | int, ...] | None:
    """The keys and indexes leading to the first item ``wanted`` accepts (None: none)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if wanted(item):
            return path
        if isinstance(item, dict):
            stack.extend((inner, (*path, key)) for key, inner in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((inner, (*path, i)) for i, inner in reversed(list(enumerate(item))))
    return None


def is_non_finite(item: Any) -> bool:
    """An infinity: what an overflowing literal (``1e999``) parses to outside exact fields."""
    return isinstance(item, float) and not math.isfinite(item)


def require_finite(value: Any) -> None:
    """Refuse the infinities an overflowing literal (``1e999``) parses to."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise JSONError("number out of range")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _reject_lone_surrogates(value: Any) -> None:
    """Escaped surrogate pairs are fine; a lone one is not text (nor storable)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise JSONError("string contains a lone surrogate escape") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def json_default(value: Any) -> Any:
    """orjson's hook for the types this service adds: ``Decimal``, written digit for digit."""
    if isinstance(value, Decimal):
        return orjson.Fragment(format_decimal(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros: ``82500.10`` -> ``82500.1``, ``1E+3`` -> ``1000``.

    Digit for digit: ``normalize`` in the default context would round to 28 digits.
    """
    exact = Context(prec=max(len(value.as_tuple().digits), 1))
    normal = value.normalize(exact)
    text = format(normal, "f")
    if len(text) > MAX_NUMBER_LENGTH:  # 1e-300 written out: exponent notation instead
        return str(normal)
    return "0" if text in {"-0", "0"} else text


def raw(serialised: str | bytes) -> Any:
    """Already-serialised JSON, embedded as is by ``dumps`` (no re-parsing)."""
    return orjson.Fragment(serialised)


def raw_or_none(serialised: str | bytes | None) -> Any:
    """``raw`` for optional stored JSON: None stays None."""
    return None if serialised is None else raw(serialised)


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=json_default, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError as exc:
        raise JSONError(str(exc)) from None
