"""Errors of the Strategies API v0, as its documents show them.

- Authentication and permission failures use ``{"detail": ...}`` (the documents' 401),
  except the login's own refusals, which are ``{"error": ...}`` with their documented
  texts.
- The password change's validation errors are Django REST framework's
  ``{"<field>": ["<text>", ...]}``, with DRF's texts for missing, blank, overlong and
  mistyped fields.
- Everything else is ``{"error": ...}``: the documented text where the documents give one
  for the failing field (the purchase rows, the login fields, a missing query
  parameter), else a message naming the field.
"""

from __future__ import annotations

import re

from connexion.lifecycle import ConnexionResponse

from models.strategies.customers import LOGIN_FAILED
from tradepost.errors import ApiError, FieldError
from tradepost.surfaces.render import error_response

_AUTH_DETAIL = {
    "not_authenticated": "Authentication credentials were not provided.",
    "invalid_token": "Invalid token.",
    "token_expired": "Token has expired.",
}
_DETAIL_STATUSES = {401, 403, 405, 415, 429}
PASSWORD_FIELDS = frozenset({"old_password", "new_password", "new_password_confirmation"})
LOGIN_FIELDS = frozenset({"email", "password"})

BOTH_REQUIRED = "Both 'email' and 'password' are required."
NOT_AN_ARRAY = 'Field "purchase" must be an array of objects.'
_ITEM = re.compile(r"^purchase\[(\d+)\](?:\.(.+))?$")
_TYPE = re.compile(r" is not of type ")
_BLANK = re.compile(r" is shorter than 1 character")
_LONGER = re.compile(r" is longer than (\d+) characters?$")


def render_error(error: ApiError, request_id: str) -> ConnexionResponse:
    if error.status == 401:
        if error.error_code == LOGIN_FAILED:
            return error_response(error, {"error": error.message})
        return error_response(error, {"detail": _AUTH_DETAIL.get(error.error_code, error.message)})
    if error.status in _DETAIL_STATUSES:
        return error_response(error, {"detail": error.message})
    if error.status == 400 and _is_password_change(error.fields):
        return error_response(error, _drf_errors(error.fields))
    return error_response(error, {"error": _message(error)})


def _message(error: ApiError) -> str:
    field = error.field
    if field is None or not field.field:
        if field is None or field.message.lower() in error.message.lower():
            return error.message
        return f"{error.message[:-1]}: {field.message}."
    return documented(field) or describe(field)


def documented(field: FieldError) -> str | None:
    """The documents' own text for this failure, where they give one."""
    missing = field.message == "is required"
    if field.location == "query" and missing:
        return f"Missing '{field.field}' parameter in query string."
    if field.location != "body":
        return None
    if field.field in LOGIN_FIELDS:
        if missing or _BLANK.search(field.message):
            return BOTH_REQUIRED
        return f'Invalid value for "{field.field}": {_without_value(field.message)}.'
    if field.field == "purchase" and _TYPE.search(field.message):
        return NOT_AN_ARRAY
    item = _ITEM.match(field.field)
    if item is None:
        return None
    index, name = item.groups()
    if name is None:
        return NOT_AN_ARRAY if _TYPE.search(field.message) else None
    if missing:
        return f'Purchase item at index {index} is missing required field "{name}".'
    if name == "datetime":
        return (
            f"Purchase item at index {index}: invalid datetime format. "
            'Expected "YYYY-MM-DD HH:MM" (e.g., "2024-01-15 14:30").'
        )
    if name == "purchase" and _TYPE.search(field.message):
        return f'Purchase item at index {index}: field "purchase" must be a number (in MW unit).'
    return f'Purchase item at index {index}: field "{name}" {field.message}.'


def describe(field: FieldError) -> str:
    if field.message == "is required":
        kind = "field" if field.location == "body" else f"{field.location} parameter"
        return f'Missing required {kind} "{field.field}".'
    return f'Invalid value for "{field.field}": {field.message}.'


def _without_value(message: str) -> str:
    """What is wrong, without the value (which may be a password)."""
    if longer := _LONGER.search(message):
        return f"is longer than {longer.group(1)} characters"
    return "is not a string" if _TYPE.search(message) else "is not valid"


def _is_password_change(fields: tuple[FieldError, ...]) -> bool:
    return bool(fields) and all(f.location == "body" and f.field in PASSWORD_FIELDS for f in fields)


def _drf_errors(fields: tuple[FieldError, ...]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field in fields:
        errors.setdefault(field.field, []).append(_drf_text(field.message))
    return errors


def _drf_text(message: str) -> str:
    if message == "is required":
        return "This field is required."
    if _BLANK.search(message):
        return "This field may not be blank."
    if longer := _LONGER.search(message):
        return f"Ensure this field has no more than {longer.group(1)} characters."
    if _TYPE.search(message):
        return "Not a valid string."
    return message
