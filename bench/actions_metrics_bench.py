"""What the actions agent's metrics cost: the counting per decision (the hot path), one
scrape, and the background read of the queue and freezes (every 15 s). Reports, never asserts.

    python bench/actions_metrics_bench.py [--tasks 2000] [--json OUT]

The counting and the scrape need nothing; the background read runs against a Redis
(REDIS_URL, else 127.0.0.1:6379, else a redis-server it starts) holding --tasks open tasks
and as many freezes, under a key prefix of its own that is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import timeit
import types
import uuid
from pathlib import Path

import orjson
import redis

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.effects import Applied, Effects
from stream_guard.actions.outbox import Relay
from stream_guard.actions.server import find_redis
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.templates import Catalog
from stream_guard.metrics import ActionsCounts, actions_metrics, exposition, registry_for

DECISION = {"mode": "enforce", "actions": [
    {"kind": "freeze", "scope": "withdrawals", "duration": 86400.0},
    {"kind": "callback", "priority": "high", "reason": "call"},
    {"kind": "alert", "template": "large_withdrawal"}, {"kind": "remind", "topic": "enable_2fa"}]}
APPLIED = Applied(decision_id="d-1", user_id="u-1", new=True, created=True, freezes=["f-1-0"], alerts=["a-1-2"],
                  suppressed=[{"alert_id": "a-1-3", "why": "cooldown"}],
                  alert_kinds={"a-1-2": "alert", "a-1-3": "security_reminder"})


def counting() -> dict:
    m = ActionsCounts()

    def one() -> None:  # what _apply_in_order adds per decision
        m.apply.observe(0.012)
        m.decision("enforce", "applied")
        m.applied(DECISION, APPLIED)

    n = 200_000
    seconds = min(timeit.repeat(one, number=n, repeat=5))
    return {"per_decision_us": round(seconds / n * 1e6, 2)}


def fake_agent(counts: ActionsCounts, queue=None) -> types.SimpleNamespace:
    relay = types.SimpleNamespace(published={"freezes": 10, "alerts": 20, "webhook_delivered": 5, "webhook_failed": 0,
                                             "expired": 1, "webhook_retries": 2}, errors={"redis": 0, "other": 0}, leading=True)
    a = types.SimpleNamespace(metrics=counts, relay=relay, guard=types.SimpleNamespace(gaps=0),
                              settings=types.SimpleNamespace(decisions_topic="stream-guard.decisions"))
    a.consumer_lag = lambda: {p: 0 for p in range(12)}
    a.assigned = lambda: 6
    a.ready_now = lambda: True
    return a


def scrape(queue) -> dict:
    m = ActionsCounts()
    for _ in range(1000):
        m.decision("enforce", "applied")
        m.applied(DECISION, APPLIED)
    m.queue, m.freezes, m.refreshed_at = queue, {"withdrawals": 100, "login": 3, "all": 1}, time.time()
    registry = registry_for(lambda: actions_metrics(fake_agent(m)))
    body, _ = exposition(registry)
    seconds = min(timeit.repeat(lambda: exposition(registry), number=200, repeat=5))
    return {"scrape_ms": round(seconds / 200 * 1000, 3), "bytes": len(body)}


async def background(url: str, prefix: str, tasks: int) -> dict:
    client = connect(url)
    store = ActionsStore(client, ActionsConfig(key_prefix=prefix))
    fx = Effects(store, Catalog.load())
    limit = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with limit:
            await fx.apply({"decision_id": f"d-mb-{i}", "rule_id": "bench", "user_id": f"u-{i}", "mode": "enforce",
                            "severity": "high", "actions": DECISION["actions"][:2], "context": {"locale": "ko"}})

    await asyncio.gather(*(one(i) for i in range(tasks)))
    await Relay(store, _nothing).publish_due(limit=tasks)
    q = TaskQueue(store)
    lat = []
    for _ in range(20):
        t0 = time.perf_counter()
        counts = await q.counts()
        await q.tally_breaches()
        freezes = await store.active_freezes()
        lat.append((time.perf_counter() - t0) * 1000)
    await client.aclose()
    return {"open_tasks": counts.open, "freezes": sum(freezes.values()), "refresh_ms_p50": round(statistics.median(lat), 2),
            "refresh_ms_max": round(max(lat), 2), "queue": counts}


async def _nothing(topic, key, value):
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out: dict = {"counting": counting()}
    print(f"counting: {out['counting']['per_decision_us']} µs per decision", file=sys.stderr)
    found = find_redis()
    prefix = f"sgb-{uuid.uuid4().hex[:8]}"
    try:
        bg = asyncio.run(background(found.url, prefix, args.tasks))
        out["scrape"] = scrape(bg.pop("queue"))
        out["background"] = bg
    finally:
        r = redis.Redis.from_url(found.url)
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i:i + 500])
        r.close()
        found.close()
    print(f"scrape: {out['scrape']}", file=sys.stderr)
    print(f"background read: {out['background']}", file=sys.stderr)
    if args.json:
        args.json.write_bytes(orjson.dumps(out, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
