"""Backtest throughput on a large file: the bare core (replay), the backtest run, and the
figures, JSON and HTML report put together afterwards. Reports; asserts nothing.

    python bench/backtest_bench.py EVENTS.jsonl [--labels LABELS.json] [--rules DIR] [--json OUT]

Make a file with ``stream-guard generate out/ --users 10000 --days 30 --seed 11``
(1.09M events).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import orjson

from stream_guard.backtest import backtest_json, load_labels, run
from stream_guard.backtest.report import render_report
from stream_guard.core.rules.loader import load_rules
from stream_guard.paths import bundled
from stream_guard.replay import build_detector, replay


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("events", type=Path)
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--rules", type=Path, default=bundled("rules"))
    ap.add_argument("--json", type=Path, help="write the measurements here")
    ap.add_argument("--skip-replay", action="store_true", help="do not time the bare replay first")
    args = ap.parse_args()
    rules = load_rules(args.rules)
    out: dict = {"python": sys.version.split()[0], "machine": platform.machine(), "file": str(args.events)}

    if not args.skip_replay:
        with args.events.open("rb") as f:
            t = time.perf_counter()
            st = replay(f, build_detector(rules), lambda d: None)
            s = time.perf_counter() - t
        out["replay"] = {"events": st.events, "seconds": round(s, 1), "events_per_s": round(st.events / s)}
        print(f"replay (core only):  {st.events:,} events in {s:.1f}s = {st.events / s:,.0f} events/s", flush=True)

    with args.events.open("rb") as f:
        t = time.perf_counter()
        r = run(f, rules, rules_dir=str(args.rules))
        s = time.perf_counter() - t
    n = r.stats.events
    out["backtest_run"] = {"events": n, "decisions": len(r.records), "seconds": round(s, 1), "events_per_s": round(n / s)}
    print(f"backtest run:        {n:,} events, {len(r.records):,} decisions in {s:.1f}s = {n / s:,.0f} events/s", flush=True)

    labels = load_labels(args.labels) if args.labels else None
    t = time.perf_counter()
    doc = backtest_json(r, source=str(args.events), labels=labels)
    figures = time.perf_counter() - t
    t = time.perf_counter()
    html = render_report(doc)
    report = time.perf_counter() - t
    out["figures_seconds"] = round(figures, 2)
    out["report_seconds"] = round(report, 2)
    out["report_bytes"] = len(html.encode())
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    total = s + figures + report
    out["end_to_end_events_per_s"] = round(n / total)
    print(f"figures{' + labels' if labels else ''}: {figures:.2f}s; HTML report: {report:.2f}s ({len(html) / 1e6:.1f} MB); "
          f"end to end {n / total:,.0f} events/s; max RSS {out['max_rss_mb']} MB")
    if labels:
        lab = doc["labels"]
        out["labels"] = {k: lab[k] for k in ("recall", "recall_by_kind", "benign_flagged_share", "attacks", "caught")}
        print(f"labels: recall {lab['recall']:.1%}, benign users flagged {lab['benign_flagged_share']:.2%}")
    if args.json:
        args.json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
