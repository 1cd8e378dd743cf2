"""The cost of scoring: per-event time of the core with and without the default models.

Run: python bench/models_bench.py [--users 3000] [--days 14] [--repeat 3]
Reports (never asserts), on the same generated traffic, parsed once up front: the core alone
(the default pack without its model-based rules, no models), the same rules with the default
models on (what the models cost every event: deciding which models see it, learning, the
sampled histogram), the full pack with the models (adding the rules that read scores, which
compute the scores they need), and the bytes the per-user baselines add to a user's stored
state. Each configuration runs ``--repeat`` times, interleaved; the fastest run counts (on a
shared machine the slower runs measure the neighbours).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    traffic = generate(users=args.users, days=args.days, seed=7)
    events = [parse_event(orjson.dumps(e)) for e in traffic.events]
    rules, models = load_pack(bundled("rules"), bundled("models"))
    plain = without_model_rules(rules)
    gc.collect()
    gc.freeze()  # as the worker does (stream/gcpolicy.py): the parsed events are not garbage
    print(f"{len(events):,} events, {args.users:,} users x {args.days} days; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {len(models)} models")
    configs = {"core": (plain, None), "models": (plain, models), "pack": (rules, models)}
    best = dict.fromkeys(configs, float("inf"))
    runner = None
    for _ in range(args.repeat):
        for name, (rs, ms) in configs.items():
            seconds, runner = run(events, build_detector(rs, models=ms))
            best[name] = min(best[name], seconds / len(events) * 1e6)
    core, with_models, pack = best["core"], best["models"], best["pack"]
    print(f"core: pack without model rules, no models  {core:6.2f} µs/event")
    print(f"the same rules, default models on          {with_models:6.2f} µs/event  "
          f"(+{with_models - core:.2f} = {(with_models - core) / core:.0%} of the core)")
    print(f"the full pack, default models on           {pack:6.2f} µs/event  "
          f"(+{pack - core:.2f} = {(pack - core) / core:.0%} of the core)")
    added = [len(orjson.dumps(st.baselines)) for st in runner.users.values()]  # type: ignore[union-attr]
    added.sort()
    print(f"baselines per user: mean {sum(added) / len(added):.0f} B, p50 {added[len(added) // 2]} B, "
          f"p99 {added[int(len(added) * 0.99)]} B, max {added[-1]} B")


if __name__ == "__main__":
    main()
