"""Every place the service works around or plugs into Connexion 3.3, in one package.

Only the app factory (``tradepost.app``) imports it (an import-linter contract in
pyproject.toml keeps it so); handlers, models and the rest of ``tradepost`` see none of
it. Each workaround, why it exists, and the test that pins it:

``validation``
    Request validation compiled once per operation with jsonschema-rs, plugged in as
    ``validator_map`` (a ``MediaTypeDict``: a plain dict silently disables body checks).
    Connexion builds a Draft4 validator per request (3 ms per 50-item body) and parses a
    body twice; here it is read, parsed (strict JSON, ``tradepost.jsonio``) and checked
    once, and handed to the handler in the request context. Every error names its field.
    Pinned by tests/platform/test_hostile.py, tests/platform/test_jsonio.py and
    tests/platform/test_schemathesis.py.
``validation.StrictURIParser``
    Connexion turns path and query numbers into numbers with ``int``/``float``, which take
    `` 42``, ``1_000``, fullwidth digits and ``NaN``; here only JSON numbers are numbers.
    Pinned by tests/platform/test_hostile.py (JSON-number parameter rows).
``operations.DecoratedOnceApp`` and ``validation_once.RequestValidationOnce``
    Connexion builds, on every request, the handler's decorators (three
    ``functools.wraps``, an ``inspect`` of the handler), two or three URI parsers, a
    parameter validator, a media-type table and a body validator, none of which depends
    on the request; here each is built once per operation (issue 17, issue 30). Pinned by
    tests/platform/test_spec.py (nothing is built per request; refusals unchanged).
``canonical.CanonicalRequest``
    Non-UTF-8 percent-escapes in the target are 400 naming the parameter (the server
    would pass U+FFFD on); the ``Content-Type`` media type is lower-cased (Connexion
    matches it case-sensitively and skipped validation). Pinned by tests/platform/test_hostile.py
    and tests/platform/test_sharp_edges.py.
``errors.from_exception``
    Connexion's ``ProblemException`` and Starlette's ``HTTPException`` become the
    service's ``ApiError`` so that each surface renders every error in its own format.
    Pinned by tests/strategies/test_strategies.py (its two 401 texts) and the error-format rows of
    tests/platform/test_sharp_edges.py.
``routing.HandlerResolver`` and ``routing.precompute_signature``
    operationId -> ``handlers.<surface>.<snake_case>``; the handlers' and the bearer
    hook's PEP 362 ``__signature__`` precomputed, because Connexion calls
    ``inspect.signature`` on them on every request (1.14x req/s, bench/NOTES.md).
    Pinned by tests/platform/test_spec.py (every operationId resolves to a handler).
``spec.validate_each_spec_once`` and ``spec.load_each_spec_once``
    Connexion validates the whole spec against the OpenAPI meta-schema on every
    ``add_api`` (0.25 s) and resolves it again (0.06 s); here once per distinct document
    per process, so the suite's hundreds of apps do not pay it each time. Pinned by
    tests/platform/test_spec.py (an invalid document still raises, a valid one is checked
    and resolved once).
``routing.AllowedMethods``
    A Starlette 405 lists one route's methods in ``Allow``; this lists every method the
    spec defines for the path. Pinned by Schemathesis's ``unsupported_method`` check.

One more lives in the handlers, by necessity: a handler that reads a query value as sent
(``tradepost.http.request.query_param``, e.g. an exact decimal) takes ``**_`` for the parameter
Connexion also passes it, already converted to a float.
"""
