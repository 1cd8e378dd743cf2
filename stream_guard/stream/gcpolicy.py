"""When the worker lets Python's cyclic garbage collector run a full collection.

A full (generation 2) collection walks every tracked object in the process, and a worker
holds many: Faust, aiokafka, pydantic and the rules make a few hundred thousand at start,
and every decoded user state adds some. Python starts one whenever the objects that
survived younger collections grow by a quarter, so as the worker's cache fills it paused
the event loop every couple of seconds, for 50 to 120 ms each (measured at 5,000 events/s
on the benchmark machine; each collection found nothing to free) — the largest part of the
decision latency's tail. With hundreds of thousands of cached users it is seconds.

So the worker (1) moves everything that exists once it is set up into the permanent
generation (``gc.freeze()``: never walked again; refcounting still frees what it can),
(2) keeps the young generations' collections, which are cheap and catch short-lived cycles,
and (3) runs the full collection itself, every ``interval`` seconds, counted and timed in
the worker's stats. Little is lost by waiting: the worker's long-lived objects (states,
windows) hold no reference cycles, so they are freed by refcounting when evicted.
"""

from __future__ import annotations

import gc
import time

#: Young-generation thresholds: Python's defaults (700 allocations, 10 generation-0 runs).
_YOUNG = (700, 10)
#: Generation-1 collections before Python would consider a full one: never, in practice.
_NEVER = 2**30


class GcPolicy:
    """Full collections on a schedule instead of whenever the heap grows by a quarter."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.collections = 0
        self.seconds_total = 0.0
        self.seconds_max = 0.0
        self._last = time.monotonic()
        self._saved: tuple[int, int, int] | None = None
        self.frozen = 0  # objects frozen at start (gc.get_freeze_count() walks them: not per second)

    def start(self) -> None:
        """Freeze what the set-up made and take full collections out of Python's hands."""
        if self.interval <= 0:
            return  # Python's own policy
        self._saved = gc.get_threshold()
        # No collection first: it would block the loop for a while just as the partitions
        # are assigned, and Faust skips messages if its streams are not iterated promptly
        # then (see OffsetGuard). What the set-up left as garbage is mostly freed by
        # refcounting anyway.
        gc.freeze()
        self.frozen = gc.get_freeze_count()
        gc.set_threshold(*_YOUNG, _NEVER)
        self._last = time.monotonic()

    def stop(self) -> None:
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            gc.unfreeze()
            self._saved = None

    def due(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self._saved is not None and now - self._last >= self.interval

    def collect(self) -> float:
        """A full collection of everything not frozen; returns how long it took."""
        started = time.monotonic()
        gc.collect()
        took = time.monotonic() - started
        self._last = started + took
        self.collections += 1
        self.seconds_total += took
        self.seconds_max = max(self.seconds_max, took)
        return took

    def stats(self) -> dict[str, float | int]:
        return {
            "gc_full_collections": self.collections,
            "gc_full_seconds_total": round(self.seconds_total, 4),
            "gc_full_seconds_max": round(self.seconds_max, 4),
            "gc_frozen_objects": self.frozen,
        }
