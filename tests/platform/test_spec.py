"""openapi.yaml is a valid OpenAPI 3.0 document and every operation has a handler."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import inflection
import jsonschema
import pytest
import yaml
from connexion.decorators.main import BaseDecorator
from connexion.exceptions import InvalidSpecification
from connexion.spec import Specification
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from tests.conftest import TokenFactory
from tradepost import app as app_module
from tradepost.app import SPEC_PATH, create_app, load_spec
from tradepost.connexion_glue import spec as once
from tradepost.connexion_glue.routing import HANDLER_MODULES
from tradepost.connexion_glue.validation import (
    CompiledParameterValidator,
    CompiledSchema,
    JSONBodyValidator,
    StrictURIParser,
)
from tradepost.settings import Settings
from tradepost.surfaces import surface_for


def test_spec_is_valid_openapi() -> None:
    spec, _ = read_from_filename(str(SPEC_PATH))
    validate(spec)


def test_every_operation_resolves_to_a_handler_in_its_surface_package() -> None:
    spec = yaml.safe_load(Path(SPEC_PATH).read_text())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            module_name = HANDLER_MODULES[operation["tags"][0]]
            surface = surface_for(path).name
            assert module_name.startswith(f"handlers.{surface}"), f"{path}: {module_name}"
            module = importlib.import_module(module_name)
            name = inflection.underscore(operation["operationId"])
            assert callable(getattr(module, name, None)), f"{method.upper()} {path} -> {name}"


def test_operation_ids_are_unique_camel_case() -> None:
    spec = yaml.safe_load(Path(SPEC_PATH).read_text())
    ids = [
        op["operationId"]
        for item in spec["paths"].values()
        for m, op in item.items()
        if m != "parameters"
    ]
    assert len(ids) == len(set(ids))
    assert all(i[0].islower() and "_" not in i and "." not in i for i in ids)


def test_no_rule_lives_outside_openapi() -> None:
    """The server enforces only what the spec says in OpenAPI 3.0 terms: an ``x-``
    keyword that narrows what is valid would make a plain Schemathesis run (or any
    generated client) send requests that the spec admits and the server refuses."""
    text = SPEC_PATH.read_text()
    extensions = set(re.findall(r"^\s*(x-[A-Za-z-]+):", text, flags=re.MULTILINE))
    # x-bearerInfoFunc and x-basicInfoFunc name the token checks; x-enum-varnames names
    # enum values for generated clients. None narrows what is valid.
    assert extensions <= {"x-bearerInfoFunc", "x-basicInfoFunc", "x-enum-varnames"}


def test_connexion_still_refuses_an_invalid_spec_and_checks_a_valid_one_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``connexion_glue.spec``: the meta-schema check runs once per distinct document."""
    once.validate_each_spec_once()
    checked: list[int] = []
    original = once._check
    monkeypatch.setattr(once, "_check", lambda cls, s: checked.append(1) or original(cls, s))
    monkeypatch.setattr(once, "_valid", set())

    document = load_spec()
    Specification.from_dict(document)
    Specification.from_dict(document)
    assert checked == [1]

    document["paths"]["/healthz"]["get"]["responses"] = "not a responses object"
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(document)
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(document)  # an invalid document is never remembered


def test_apps_share_one_resolved_spec_and_a_changed_file_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connexion_glue.spec.load_each_spec_once``: the second app reuses the first's
    resolved ``Specification``; a changed openapi.yaml is parsed and resolved anew."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'spec.db'}", freeze_heap=False)
    resolved: list[int] = []
    original = once._original_load
    monkeypatch.setattr(
        once, "_original_load", lambda cls, s, **kw: resolved.append(1) or original(cls, s, **kw)
    )
    monkeypatch.setattr(once, "_loaded", {})
    create_app(settings)
    create_app(settings)
    assert resolved == [1]

    changed = tmp_path / "openapi.yaml"
    changed.write_text(SPEC_PATH.read_text().replace("title: tradepost", "title: tradepost 2"))
    monkeypatch.setattr(app_module, "SPEC_PATH", changed)
    create_app(settings)
    assert resolved == [1, 1]


def test_handlers_are_decorated_once_not_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connexion_glue.operations``: the handler's decoration and its URI parser are
    built once per operation (each request's own values: tests/trades/test_trades.py pages)."""
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'once.db'}", freeze_heap=False)
    built: list[str] = []
    decorate, parser = BaseDecorator.decorate, BaseDecorator.uri_parser

    def counted_decorate(self: BaseDecorator, function: Any) -> Any:
        built.append(f"decorator for {function.__name__}")
        return decorate(self, function)

    def counted_parser(self: BaseDecorator) -> Any:
        built.append("the decorator's URI parser")
        return parser.fget(self)

    with create_app(settings).test_client() as client:
        assert client.get("/healthz").status_code == 200
        monkeypatch.setattr(BaseDecorator, "decorate", counted_decorate)
        monkeypatch.setattr(BaseDecorator, "uri_parser", property(counted_parser))
        answers = [client.get("/healthz").status_code for _ in range(3)]
    assert answers == [200, 200, 200]
    assert built == []


def test_request_validators_are_built_once_not_per_request(
    client: Any, make_token: TokenFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``connexion_glue.validation_once``: an operation's URI parser, parameter and body
    validators are built with it, not per request; what they refuse stays refused."""
    headers = {
        "Authorization": f"Bearer {make_token('TEN123', 'USR456')}",
        "tenantId": "TEN123",
        "userId": "USR456",
        "countryCode": "US",
    }
    path = "/api/v1/trades/00000000-0000-4000-8000-000000000000"  # no such trade
    assert client.patch(path, headers=headers, json={"quantity": 1}).status_code == 404
    built: list[str] = []
    for cls in (StrictURIParser, CompiledParameterValidator, JSONBodyValidator):
        original = cls.__init__

        def counted(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> None:
            built.append(type(self).__name__)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", counted)
    answers = [client.patch(path, headers=headers, json={"quantity": 1}) for _ in range(3)]
    refused = client.patch(path, headers=headers, json={"quantity": "many"})
    missing = client.patch(path, headers={**headers, "tenantId": ""}, json={"quantity": 1})
    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert (refused.status_code, missing.status_code) == (400, 400), missing.text
    assert "quantity" in refused.text
    assert "tenantId" in missing.text
    assert built == []


def patterned_schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every schema in the document with a ``pattern`` and a string ``example``."""
    if isinstance(node, dict):
        if isinstance(node.get("pattern"), str) and isinstance(node.get("example"), str):
            yield node
        for value in node.values():
            yield from patterned_schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from patterned_schemas(value)


# Whitespace and control characters, where regular expression engines disagree on ``\s``
# (Python's takes U+001C-U+001F and U+0085, ECMA-262's U+FEFF), and a few others.
EDGE_CHARACTERS = [
    *map(chr, range(0x00, 0x21)),
    *map(chr, range(0x7F, 0xA1)),
    *"\u1680\u2000\u200b\u2028\u2029\u202f\u205f\u3000\ufeff\U0001f600é/?#@",
]


def test_no_value_the_request_check_takes_is_one_the_response_check_refuses() -> None:
    """Requests are checked with jsonschema-rs (Rust's regular expressions), responses with
    Connexion's jsonschema (Python's ``re``): a value one takes and the other refuses is
    stored, then answered 500 (Schemathesis found a link holding U+001C). Every pattern,
    with an edge character before, inside and after its example."""
    disagreements = []
    for schema in patterned_schemas(load_spec()):
        request = CompiledSchema({"type": "string", "pattern": schema["pattern"]})
        response = jsonschema.Draft4Validator({"type": "string", "pattern": schema["pattern"]})
        example = schema["example"]
        middle = len(example) // 2
        for char in EDGE_CHARACTERS:
            for value in (
                char + example,
                example[:middle] + char + example[middle:],
                example + char,
            ):
                taken = not request.errors(value, location="body")
                if taken and not response.is_valid(value):
                    disagreements.append((schema["pattern"], value))
    assert disagreements == []


def test_a_digest_checked_elsewhere_skips_only_that_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Settings.spec_checked_sha256``: servers started by a process that checked the spec
    skip the meta-schema check for that exact document, and only for it."""
    checked: list[int] = []
    original = once._check
    monkeypatch.setattr(once, "_check", lambda cls, s: checked.append(1) or original(cls, s))
    monkeypatch.setattr(once, "_valid", set())
    document = load_spec()
    once.validate_each_spec_once(once.digest(document))
    Specification.from_dict(document)
    assert checked == []

    document["paths"]["/healthz"]["get"]["responses"] = "not a responses object"
    with pytest.raises(InvalidSpecification):
        Specification.from_dict(document)
    assert checked == [1]
