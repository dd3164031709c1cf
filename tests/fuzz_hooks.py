"""Schemathesis hooks for every run: imported by tests/test_schemathesis.py, and by
tests/live_fuzz_hooks.py for the CLI runs.

OpenAPI 3.0 has no ``propertyNames``, so the spec states key rules as
``x-propertyNames`` (enforced by tradepost.validation). Schemathesis ignores ``x-``
keywords and would call a body with a 41-character metadata key "valid"; such bodies are
left out of generation. The service's handling of them is tested in tests/test_offsets.py.
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import schemathesis
import yaml

from tradepost.app import SPEC_PATH


def _key_rules() -> dict[str, Any]:
    """``{property name: key validator}`` for every property whose schema has a key rule."""
    spec = yaml.safe_load(SPEC_PATH.read_text())
    schemas = spec["components"]["schemas"]
    ruled = {
        f"#/components/schemas/{name}": jsonschema_rs.Draft4Validator(
            {"type": "string", **schema["x-propertyNames"]}
        )
        for name, schema in schemas.items()
        if "x-propertyNames" in schema
    }
    return {
        prop: ruled[ref]
        for schema in schemas.values()
        for prop, sub in (schema.get("properties") or {}).items()
        if (ref := sub.get("$ref")) in ruled
    }


KEY_RULES = _key_rules()


def keys_follow_rules(value: Any) -> bool:
    if isinstance(value, list):
        return all(keys_follow_rules(item) for item in value)
    if not isinstance(value, dict):
        return True
    for name, item in value.items():
        rule = KEY_RULES.get(name)
        if rule is not None and isinstance(item, dict) and not all(map(rule.is_valid, item)):
            return False
        if not keys_follow_rules(item):
            return False
    return True


@schemathesis.hook
def filter_body(_ctx: Any, body: Any) -> bool:
    return keys_follow_rules(body)
