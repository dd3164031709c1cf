"""The garbage collector of the suite's own processes (pytest's workers and the live
fuzz's Schemathesis CLI) set for throughput rather than for a small heap.

Each test builds apps, engines and Hypothesis strategies that outlive it in SQLAlchemy's
bounded caches, so a worker's heap grows to about a million objects, and with Python's
default thresholds each full collection walks all of it: measured on 426 tests in one
process, 20 s of 113 CPU-s went to the collector (51 full collections), and a trade lane
of the live fuzz's CLI spent 46 CPU-s where it spends 41 with these settings (the same
6,012 cases). What exists once collection is done (modules, the parsed spec, the ORM) is moved
out of the collector's sight, and collections run less often. The service under test
keeps its own settings (``freeze_heap``); only the test processes change.
"""

from __future__ import annotations

import gc

THRESHOLDS = (20_000, 50, 1_000)  # Python's defaults: (700, 10, 10)


def tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
