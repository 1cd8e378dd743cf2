"""The replay hot path: parse_event, the detector, and both, in µs per event (best of 3).

Run: python bench/hot_path.py [--users 2000] [--days 14] [--repeat 3]

Reports (never asserts) µs/event for (a) ``parse_event`` over every line, (b) a fresh
``LocalRunner`` fed the pre-parsed events, (c) parse + feed together, and a checksum of
every decision id in order (sha256 of their concatenation) plus one of the decisions' full
JSON (evidence, reasons): an optimisation must leave both unchanged.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time
from pathlib import Path

from stream_guard.core.detector import Detector, LocalRunner
from stream_guard.core.events import parse_event
from stream_guard.core.rules.loader import load_rules
from stream_guard.generator import generate, write_labelled
from stream_guard.paths import bundled


def best_of(repeat: int, fn) -> tuple[float, object]:
    """The shortest of ``repeat`` runs of ``fn`` (the least disturbed), and its last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    traffic = generate(users=args.users, days=args.days, seed=11)
    events_path, _ = write_labelled(traffic, Path(tempfile.mkdtemp()))
    lines = events_path.read_bytes().splitlines()
    n = len(lines)
    rules = load_rules(bundled("rules"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"events: {n:,}, users {args.users}, days {args.days}, rules {len(rules.rules)}")

    def parse_all():
        return [parse_event(line) for line in lines]

    def detect(events):
        feed = LocalRunner(Detector(rules)).feed
        return [d for e in events for d in feed(e)]

    def both():
        feed = LocalRunner(Detector(rules)).feed
        return [d for line in lines for d in feed(parse_event(line))]

    t_parse, events = best_of(args.repeat, parse_all)
    t_detect, decisions = best_of(args.repeat, lambda: detect(events))
    t_both, decisions_both = best_of(args.repeat, both)
    assert decisions == decisions_both, "parse + feed decided differently from feed alone"

    ids = [d.decision_id for d in decisions]
    checksum = hashlib.sha256("".join(ids).encode()).hexdigest()
    # the whole decisions (evidence, reasons, risk...), not only which ones fired
    full = hashlib.sha256(b"\n".join(d.to_json() for d in decisions)).hexdigest()
    us = 1e6 / n
    print(f"(a) parse_event        {t_parse * us:7.2f} µs/event")
    print(f"(b) detector (feed)    {t_detect * us:7.2f} µs/event")
    print(f"(c) parse + feed       {t_both * us:7.2f} µs/event")
    print(f"decisions: {len(ids):,}, decision-id checksum sha256 {checksum}")
    print(f"full-decision checksum sha256 {full}")


if __name__ == "__main__":
    main()
