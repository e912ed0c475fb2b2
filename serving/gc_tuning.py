"""Garbage-collector tuning of the serving processes, in one place.

A full (oldest-generation) collection walks every tracked object the process holds. After
startup that is ~120-150k objects (torch, pydantic, BentoML, OpenTelemetry, ...) that live as
long as the process, so each full collection costs tens of milliseconds with the event loop
stopped, whatever the request load. `gc.freeze()` moves them to the permanent generation,
which collections skip; full collections then walk only what was allocated since, a few
thousand objects, in ~2 ms.

Safe for memory: the frozen objects are the process's startup state, alive until it exits
anyway; garbage created later is collected as before (RSS stays flat under load:
docs/performance.md).

The youngest generation is collected after `YOUNG_THRESHOLD` new objects instead of
CPython's 700: a request makes a few hundred (headers, pydantic models, coroutines, futures),
so under load the default ran a collection every request or two, each walking the objects
of the requests in flight; that cost ~3 % of the API process's CPU at 64 clients (15 µs
per request). The objects waiting for a collection stay below a few megabytes.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def tune_gc_after_startup() -> None:
    """Collect the garbage of startup, exempt everything left from future collections, and
    collect the youngest generation less often.

    Call once, at the end of a service's `__init__`.
    """
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, oldest)
