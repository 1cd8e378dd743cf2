"""The cost of scoring: per-event time of the core with and without the default models.

Run: python bench/models_bench.py [--users 2000] [--days 14] [--repeat 3] [--chunk 1000]
Reports (never asserts), on the same generated traffic, parsed once up front:

- the core alone (the default pack without its model-based rules, no models);
- the same rules with the default models on — what the models cost every event: deciding
  which models see it, learning, the sampled histogram;
- where that goes: the same with no model learning at all, and with each set of models
  that see an event (the four login baselines, ...) not learning while the others do;
- the full pack with the models (adding the rules that read scores, which compute the
  scores they need);
- the bytes the per-user baselines add to a user's stored state.

All configurations run side by side: each has its own detector, and the events are fed in
chunks of ``--chunk`` to one configuration after the other, so that the machine's speed,
which moves by ±40% within a minute on a shared VM, weighs on all of them alike (separate
runs of each, even interleaved, compared the neighbours' load as much as the code).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from typing import Any

import orjson

from stream_guard.backtest.evaluate import without_model_rules
from stream_guard.core.detector import LocalRunner
from stream_guard.core.events import parse_event
from stream_guard.generator import generate
from stream_guard.paths import bundled
from stream_guard.replay import build_detector, load_pack


def _no_learning(*_: Any) -> None:
    pass


def model_sets(events, rules, models) -> list[tuple[str, ...]]:
    """The sets of models that see an event in this traffic (one generated learner each)."""
    detector = build_detector(rules, models=models)
    runner = LocalRunner(detector)
    for e in events:
        runner.feed(e)
    return [seen for seen in detector.scorer._learners if seen]


def configurations(events, rules, plain, models) -> dict[str, Any]:
    """name -> a function building that configuration's detector."""
    def with_models(learning_off: tuple[str, ...] | None = None, pack=plain):
        def build():
            detector = build_detector(pack, models=models)
            if learning_off == ():
                detector.scorer.learn = _no_learning  # no model learns
            elif learning_off:
                detector.scorer._learners[learning_off] = _no_learning  # this set does not learn
            return detector
        return build

    configs = {"core": lambda: build_detector(plain, models=None), "models": with_models()}
    configs["models, no learning"] = with_models(())
    for seen in model_sets(events, plain, models):
        configs[f"models, {' + '.join(seen)} not learning"] = with_models(seen)
    configs["pack"] = with_models(pack=rules)
    return configs


def measure(events, configs: dict[str, Any], repeat: int, chunk: int) -> dict[str, float]:
    """µs/event of each configuration, fed side by side in chunks."""
    total = dict.fromkeys(configs, 0.0)
    clock = time.perf_counter
    for _ in range(repeat):
        feeds = {name: LocalRunner(build()).feed for name, build in configs.items()}
        for i in range(0, len(events), chunk):
            part = events[i : i + chunk]
            for name, feed in feeds.items():
                start = clock()
                for e in part:
                    feed(e)
                total[name] += clock() - start
    return {name: seconds / (len(events) * repeat) * 1e6 for name, seconds in total.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=1000, help="events fed to a configuration at a time")
    args = ap.parse_args()
    traffic = generate(users=args.users, days=args.days, seed=7)
    events = [parse_event(orjson.dumps(e)) for e in traffic.events]
    rules, models = load_pack(bundled("rules"), bundled("models"))
    plain = without_model_rules(rules)
    configs = configurations(events, rules, plain, models)
    gc.collect()
    gc.freeze()  # as the worker does (stream/gcpolicy.py): the parsed events are not garbage
    print(f"{len(events):,} events, {args.users:,} users x {args.days} days; {platform.python_version()}, "
          f"{os.cpu_count()} CPUs; {len(models)} models; {len(configs)} configurations side by side, "
          f"x{args.repeat}")
    us = measure(events, configs, args.repeat, args.chunk)
    core, with_models = us["core"], us["models"]

    def line(label: str, value: float | None, added: float | None = None) -> None:
        total = f"{value:7.2f} µs/event" if value is not None else " " * 16
        extra = f"{added:+6.2f} = {added / core:+4.0%} of the core" if added is not None else ""
        print(f"{total}  {extra:26s}  {label}")

    line("core: the pack without its model rules, no models", core)
    line("the same rules, default models on", with_models, with_models - core)
    line("  of which: which models see the event, no learning", None, us["models, no learning"] - core)
    for name, v in us.items():
        if name.endswith(" not learning"):
            line("  learning: " + name.removeprefix("models, ").removesuffix(" not learning"), None, with_models - v)
    line("the full pack, default models on", us["pack"], us["pack"] - core)
    runner = LocalRunner(build_detector(plain, models=models))
    for e in events:
        runner.feed(e)
    added = sorted(len(orjson.dumps(st.baselines)) for st in runner.users.values())
    print(f"baselines per user: mean {sum(added) / len(added):.0f} B, p50 {added[len(added) // 2]} B, "
          f"p99 {added[int(len(added) * 0.99)]} B, max {added[-1]} B")


if __name__ == "__main__":
    main()
