"""The cost of scoring: per-event time of the core with and without the default models.

Run: python bench/models_bench.py [--users 3000] [--days 14] [--repeat 3]
Reports (never asserts), on the same generated traffic, parsed once up front: the detector
alone (the default pack without its model-based rules, no models), the detector with the
models and the full pack, the scorer's own share (score + learn, timed apart), and the bytes
the per-user baselines add to a user's stored state.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import time

import orjson

from stream_guard.backtest.evaluate import without_model_rules
from stream_guard.core.detector import LocalRunner
from stream_guard.core.events import parse_event
from stream_guard.generator import generate
from stream_guard.paths import bundled
from stream_guard.replay import build_detector, load_pack


def run(events, detector) -> tuple[float, LocalRunner]:
    runner = LocalRunner(detector)
    start = time.perf_counter()
    for e in events:
        runner.feed(e)
    return time.perf_counter() - start, runner


class Timed:
    """Wraps a scorer and times its calls (the wrapping itself adds ~0.2 µs a call)."""

    def __init__(self, scorer) -> None:
        self.scorer, self.seconds = scorer, 0.0

    def __bool__(self) -> bool:
        return True

    def _timed(self, fn, *a):
        t = time.perf_counter()
        try:
            return fn(*a)
        finally:
            self.seconds += time.perf_counter() - t

    def score(self, *a):
        return self._timed(self.scorer.score, *a)

    def learn(self, *a):
        return self._timed(self.scorer.learn, *a)

    def explain(self, *a):
        return self.scorer.explain(*a)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    traffic = generate(users=args.users, days=args.days, seed=7)
    events = [parse_event(orjson.dumps(e)) for e in traffic.events]
    rules, models = load_pack(bundled("rules"), bundled("models"))
    plain = without_model_rules(rules)
    gc.collect()
    gc.freeze()  # as the worker does (stream/gcpolicy.py): the parsed events are not garbage
    print(f"{len(events):,} events, {args.users:,} users x {args.days} days; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {len(models)} models")
    base, full, share = [], [], []
    runner = None
    for _ in range(args.repeat):
        base.append(run(events, build_detector(plain))[0])
        det = build_detector(rules, models=models)
        timed = Timed(det.scorer)
        det.scorer = timed
        seconds, runner = run(events, det)
        full.append(seconds)
        share.append(timed.seconds)
    n = len(events)
    b, f, s = (statistics.median(x) / n * 1e6 for x in (base, full, share))
    print(f"detector without models       {b:6.2f} µs/event")
    print(f"detector with the models      {f:6.2f} µs/event  (+{f - b:.2f})")
    print(f"  of which scoring (timed)    {s:6.2f} µs/event  = {s / b:.0%} of the detector's own cost")
    added = [len(orjson.dumps(st.baselines)) for st in runner.users.values()]  # type: ignore[union-attr]
    added.sort()
    print(f"baselines per user: mean {sum(added) / len(added):.0f} B, p50 {added[len(added) // 2]} B, "
          f"p99 {added[int(len(added) * 0.99)]} B, max {added[-1]} B")


if __name__ == "__main__":
    main()
