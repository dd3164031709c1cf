"""Schemathesis hooks for the live CLI run (tests/platform/test_live_fuzz.py), loaded through
``SCHEMATHESIS_HOOKS=tests.live_fuzz_hooks``: the fuzzer sends the safe-write headers
the way clients do.

- A valid generated ``Idempotency-Key`` becomes a fresh UUID. Hypothesis draws short
  strings such as ``"0"`` again and again; reused with another body they are 422 by
  design, so nearly no create would succeed and the stateful phase would starve.
- A Strategies path names the customer whose login token the run uses (``example_user``):
  that token acts for its own user only (issue 26), so that creates
  succeed and the stateful phase follows the links.
- A valid generated ``If-Match`` becomes ``*`` (any existing version), so that updates
  reached through links succeed and the links after them are followed.

The module also sets the CLI process's garbage collector as the suite's own
(``tests.gc_tuning``): generation is most of the run's CPU and allocates a lot.

Negative cases and invalid values (empty, too long) are left alone for the negative
checks. The in-process suite (tests/platform/test_schemathesis.py) keeps the raw random values:
there they get 412/422 as documented, and tests/platform/test_safe_writes.py pins both down.
"""

from __future__ import annotations

import uuid
from typing import Any

import schemathesis

from tests import gc_tuning

MAX_KEY = 255
CUSTOMER = "example_user"  # the customer prepare() makes (schemathesis.toml: retailer 123)

gc_tuning.tune()  # the CLI's collector set as pytest's workers' (tests/gc_tuning.py)


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Only positive cases: a negative one (e.g. a removed required header) stays as
    generated, so that the negative checks judge exactly what was sent."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive:
        return
    path = case.path_parameters
    if path and "username" in path:  # the customer's login token acts for its user only
        path["username"] = CUSTOMER
    headers = case.headers
    if not headers:
        return
    for name in list(headers):
        value = headers[name]
        if not isinstance(value, str) or not value:
            continue
        if name.lower() == "idempotency-key" and len(value) <= MAX_KEY:
            headers[name] = f"fuzz-{uuid.uuid4()}"
        elif name.lower() == "if-match" and len(value) <= 2048:
            headers[name] = "*"
