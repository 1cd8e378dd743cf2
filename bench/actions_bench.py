"""Actions benchmark: decisions/s through Effects and through the actions agent, and the
latency of a freeze-status read. Reports, never asserts.

    python bench/actions_bench.py [--decisions 5000] [--reads 5000] [--skip agent] [--json OUT]

Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server it starts (see
stream_guard.actions.server); everything it writes is under its own key prefix, deleted at
the end. The agent phase starts an embedded Tansu broker and one `stream-guard actions`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

import orjson
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.server import find_redis
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.templates import Catalog

ACTIONS = [
    [{"kind": "alert", "template": "failed_login_attempts"}, {"kind": "remind", "topic": "change_password"}],
    [{"kind": "callback", "priority": "high", "reason": "call"}, {"kind": "alert", "template": "new_device_login"}],
    [{"kind": "freeze", "scope": "withdrawals", "duration": 86400.0, "manual": False},
     {"kind": "callback", "priority": "high", "reason": "call"}, {"kind": "alert", "template": "large_withdrawal"}],
]


def decisions(n: int, users: int) -> list[dict]:
    out = []
    for i in range(n):
        u = f"u-{i % users}"
        out.append({
            "decision_id": f"d-bench-{i}", "rule_id": "bench_rule", "rule_version": 1, "mode": "enforce",
            "severity": "high", "title": "bench", "user_id": u, "event_id": f"e-{i}", "event_type": "transfer",
            "ts": "2026-11-24T09:21:40+09:00", "group": None, "actions": ACTIONS[i % 3], "risk": 10.0,
            "evidence": {}, "reason": "bench", "tags": [],
            "context": {"locale": ("ko", "en", "zh-CN")[i % 3], "asset": "BTC", "amount": 0.5, "value_krw": 70_000_000,
                        "address": "bc1qexampleaddress0000000000000000000", "ip": "203.0.113.7", "country": "KR"},
        })
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def library_phase(url: str, prefix: str, ds: list[dict]) -> dict:
    client = connect(url)
    store = ActionsStore(client, ActionsConfig(key_prefix=prefix))
    fx = Effects(store, Catalog.load())
    by_user: dict[str, list[dict]] = {}
    for d in ds:
        by_user.setdefault(d["user_id"], []).append(d)

    limit = asyncio.Semaphore(32)  # as the agent does

    async def chain(items):
        async with limit:
            for d in items:
                await fx.apply(d)

    t0 = time.perf_counter()
    await asyncio.gather(*(chain(v) for v in by_user.values()))
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    for d in ds[:1000]:
        await fx.apply(d)
    replay = time.perf_counter() - t0
    await client.aclose()
    return {"decisions": len(ds), "seconds": round(elapsed, 3), "decisions_per_s": round(len(ds) / elapsed),
            "replayed_per_s_sequential": round(min(1000, len(ds)) / replay)}


async def read_phase(url: str, prefix: str, reads: int) -> dict:
    client = connect(url)
    store = ActionsStore(client, ActionsConfig(key_prefix=prefix))
    fr = FreezeRegistry(store)
    for u in range(100):
        await fr.place(f"r-{u}", scope="withdrawals", reason="bench", by="bench", duration=3600 if u % 2 else None)
    lat = []
    for i in range(reads):
        t0 = time.perf_counter()
        await fr.status(f"r-{i % 200}")  # half frozen, half not
        lat.append((time.perf_counter() - t0) * 1000)
    await client.aclose()
    sync = redis.Redis.from_url(url, decode_responses=True)
    raw = []
    for i in range(reads):
        t0 = time.perf_counter()
        sync.hgetall(store.keys.freezes(f"r-{i % 200}"))
        raw.append((time.perf_counter() - t0) * 1000)
    sync.close()
    return {
        "reads": reads,
        "status_ms": {"p50": round(statistics.median(lat), 3), "p99": round(pct(lat, 0.99), 3), "max": round(max(lat), 3)},
        "raw_hgetall_ms": {"p50": round(statistics.median(raw), 3), "p99": round(pct(raw, 0.99), 3)},
    }


def agent_phase(url: str, prefix: str, ds: list[dict], workdir: Path) -> dict:
    from streaming_helpers import fresh_settings, produce_raw

    from stream_guard.actions.process import ActionsProcess
    from stream_guard.actions.topics import ensure_topics
    from stream_guard.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        tag = uuid.uuid4().hex[:8]
        s = fresh_settings(broker, redis_url=url, freezes_topic=f"fz-{tag}", alerts_topic=f"al-{tag}",
                           actions=ActionsConfig(key_prefix=prefix + "a"))
        ensure_topics(s)
        produce_raw(s, [(s.decisions_topic, d["user_id"].encode(), orjson.dumps(d)) for d in ds])
        proc = ActionsProcess(s, workdir=workdir, extra_env={"STREAM_GUARD_ACTIONS__KEY_PREFIX": prefix + "a"})
        with proc:
            t0 = time.monotonic()
            st = proc.wait_for(lambda x: x.get("decisions", 0) >= len(ds), 600, "the actions agent")
            st = proc.wait_for(lambda x: x.get("published_alerts", 0) >= x.get("alerts", 0), 120, "the relay")
            wall = time.monotonic() - t0
    span = (st["last_event_at"] or 0) - (st["first_event_at"] or 0)
    return {"decisions": len(ds), "first_to_last_batch_s": round(span, 2),
            "decisions_per_s": round(len(ds) / span) if span > 0 else None,
            "start_to_published_s": round(wall, 2), "freezes_published": st.get("published_freezes"),
            "alerts_published": st.get("published_alerts"), "redis_waits": st.get("redis_waits", 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=int, default=5000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--reads", type=int, default=5000)
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: library, reads, agent")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    found = find_redis()
    prefix = f"sgbench-{uuid.uuid4().hex[:8]}"
    print(f"redis: {found.url} ({found.how}); prefix {prefix}", file=sys.stderr)
    report: dict = {"redis": found.how}
    try:
        ds = decisions(args.decisions, args.users)
        if "library" not in skip:
            report["library"] = asyncio.run(library_phase(found.url, prefix, ds))
            print("library:", report["library"], file=sys.stderr)
        if "reads" not in skip:
            report["reads"] = asyncio.run(read_phase(found.url, prefix, args.reads))
            print("reads:", report["reads"], file=sys.stderr)
        if "agent" not in skip:
            import tempfile

            report["agent"] = agent_phase(found.url, prefix, ds, Path(tempfile.mkdtemp(prefix="sg-actions-bench-")))
            print("agent:", report["agent"], file=sys.stderr)
    finally:
        r = redis.Redis.from_url(found.url)
        keys = list(r.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i : i + 500])
        r.close()
        found.close()
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    if args.json:
        args.json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
