"""Core throughput: events/s through parse + detector with the default pack, and with 1,000 rules.

Run: python bench/core_bench.py [--users 5000] [--days 14]
Reports (never asserts): a bare json.loads loop, parse_event alone, the full core with the
default pack, with 10 and 1,000 generated rules, and bytes of state per user.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path

import orjson

from stream_guard.core.detector import Detector, LocalRunner
from stream_guard.core.events import parse_event
from stream_guard.core.rules.loader import load_rules
from stream_guard.generator import generate, write_labelled
from stream_guard.paths import bundled

ASSETS = ("BTC", "ETH", "USDT", "XRP", "SOL", "KRW")
CHANNELS = ("web", "ios", "android", "api")
COUNTRIES = ("KR", "JP", "US", "VN", "TH", "CN", "SG", "DE", "NG", "RU")


def synthetic_rules(n: int, seed: int = 1) -> str:
    """``n`` plausible rules: per-asset and per-channel variants of real checks."""
    rnd = random.Random(seed)
    out = ["rules:"]
    for i in range(n):
        kind = rnd.random()
        if kind < 0.45:
            asset = rnd.choice(ASSETS)
            when = (
                f"event.direction == 'withdrawal' and event.asset == '{asset}' "
                f"and event.value_krw >= {rnd.randrange(1, 500) * 1_000_000} and features.new_address"
            )
            on = "transfer"
        elif kind < 0.55:
            asset = rnd.choice(ASSETS)
            out_agg = f"    aggregate: {{function: sum, field: value_krw, window: {rnd.choice(['1h', '6h', '24h'])}, threshold: {rnd.randrange(10, 900) * 1_000_000}}}"
            out.append(f"  - id: bench_rule_{i}\n    title: bench {i}\n    severity: low\n    on: transfer\n"
                       f"    when: \"event.direction == 'withdrawal' and event.asset == '{asset}'\"\n{out_agg}")
            continue
        elif kind < 0.9:
            ch = rnd.choice(CHANNELS)
            when = (
                f"event.action == 'login' and event.success and event.channel == '{ch}' "
                f"and features.new_device and event.country == '{rnd.choice(COUNTRIES)}'"
            )
            on = "login"
        else:
            ch = rnd.choice(CHANNELS)
            when = f"event.action == 'login' and not event.success and event.channel == '{ch}' and features.failed_login_streak >= {rnd.randrange(3, 30)}"
            on = "login"
        out.append(f"  - id: bench_rule_{i}\n    title: bench {i}\n    severity: low\n    on: {on}\n    when: \"{when}\"")
    return "\n".join(out) + "\n"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_core(lines: list[bytes], rules) -> tuple[float, LocalRunner, int]:
    runner = LocalRunner(Detector(rules))
    n = 0

    def go():
        nonlocal n
        for line in lines:
            n += len(runner.feed(parse_event(line)))

    return timed(go), runner, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=5000)
    ap.add_argument("--days", type=int, default=14)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    traffic = generate(users=args.users, days=args.days, seed=11)
    events_path, _ = write_labelled(traffic, tmp)
    lines = events_path.read_bytes().splitlines()
    n = len(lines)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"events: {n:,} ({events_path.stat().st_size / n:.0f} bytes each), users {args.users}, days {args.days}")

    t_json = timed(lambda: [json.loads(x) for x in lines])
    t_orjson = timed(lambda: [orjson.loads(x) for x in lines])
    t_parse = timed(lambda: [parse_event(x) for x in lines])
    print(f"json.loads loop        {n / t_json:>10,.0f} events/s")
    print(f"orjson.loads loop      {n / t_orjson:>10,.0f} events/s")
    print(f"parse_event (pydantic) {n / t_parse:>10,.0f} events/s")

    pack = load_rules(bundled("rules"))
    t_core, runner, decisions = run_core(lines, pack)
    print(f"core, default pack ({len(pack.rules)} rules): {n / t_core:>10,.0f} events/s "
          f"({t_core / t_json:.1f}x json.loads), {decisions:,} decisions")

    sizes = [len(s.to_bytes()) for s in runner.users.values()]
    prof = [len(s.profile.to_bytes()) for s in runner.users.values()]
    sizes.sort()
    prof.sort()
    print(f"state per user: mean {sum(sizes) / len(sizes):,.0f} B, p50 {sizes[len(sizes) // 2]:,} B, p99 {sizes[int(len(sizes) * .99)]:,} B "
          f"(profile alone: mean {sum(prof) / len(prof):,.0f} B, p99 {prof[int(len(prof) * .99)]:,} B)")

    results = {}
    for count in (10, 1000):
        d = tmp / f"rules{count}"
        d.mkdir()
        (d / "bench.yaml").write_text(synthetic_rules(count))
        rs = load_rules(d)
        t, _, dec = run_core(lines, rs)
        results[count] = t
        print(f"core, {count:>5} generated rules: {n / t:>10,.0f} events/s, {dec:,} decisions")
    print(f"1,000 rules cost {results[1000] / results[10]:.2f}x the time of 10")


if __name__ == "__main__":
    main()
