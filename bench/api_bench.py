"""API benchmark: the latency of a freeze-status read through HTTP (``GET
/api/v1/users/{user}/freezes`` on a real ``stream-guard api``), next to the same read straight
from Redis; and the queue listing. Reports, never asserts.

    python bench/api_bench.py [--reads 3000] [--json OUT]

Redis: REDIS_URL, else 127.0.0.1:6379, else a redis-server it starts; everything it writes is
under its own key prefix, deleted at the end. One keep-alive HTTP connection, requests one
after another (the latency a withdrawal service sees, not throughput under load).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import redis
import yaml

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.server import find_redis, free_port
from stream_guard.actions.store import ActionsStore
from stream_guard.api.tokens import hash_token, new_token


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def summary(ms: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(ms), 3), "p90": round(pct(ms, 90), 3), "p99": round(pct(ms, 99), 3),
            "max": round(max(ms), 3), "n": len(ms)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reads", type=int, default=3000)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    found = find_redis()
    prefix = f"sgb-{uuid.uuid4().hex[:8]}"
    cfg = ActionsConfig(key_prefix=prefix)
    tmp = Path(tempfile.mkdtemp(prefix="sg-api-bench-"))
    token = new_token()
    (tmp / "tokens.yaml").write_text(yaml.safe_dump({"tokens": [{
        "id": token.split("_")[1], "subject": "bench", "role": "analyst", "hash": hash_token(token)}]}))

    async def seed() -> None:
        client = connect(found.url)
        reg = FreezeRegistry(ActionsStore(client, cfg))
        await reg.place("u-frozen", scope="withdrawals", reason="bench", by="bench", duration=86400)
        await reg.place("u-frozen", scope="login", reason="bench", by="bench")
        await client.aclose()

    asyncio.run(seed())
    port = free_port()
    env = {**os.environ, "STREAM_GUARD_ACTIONS__KEY_PREFIX": prefix}
    proc = subprocess.Popen([sys.executable, "-m", "stream_guard", "api", "--port", str(port), "--redis", found.url,
                             "--tokens", str(tmp / "tokens.yaml")], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(100):
            try:
                conn.request("GET", "/health/live")
                conn.getresponse().read()
                break
            except OSError:
                conn.close()
                time.sleep(0.1)
        headers = {"Authorization": f"Bearer {token}"}

        def timed(path: str, n: int) -> tuple[list[float], bytes]:
            ms, body = [], b""
            for _ in range(n):
                t0 = time.perf_counter()
                conn.request("GET", path, headers=headers)
                res = conn.getresponse()
                body = res.read()
                ms.append((time.perf_counter() - t0) * 1000)
                assert res.status == 200, body
            return ms, body

        timed("/api/v1/users/u-frozen/freezes", 200)  # warm-up (the first call hashes the token)
        http_ms, body = timed("/api/v1/users/u-frozen/freezes", args.reads)
        assert orjson.loads(body)["withdrawals_frozen"] is True
        queue_ms, _ = timed("/api/v1/tasks", min(args.reads, 1000))

        r = redis.Redis.from_url(found.url, decode_responses=True)
        key = f"{prefix}:u:{{u-frozen}}:freezes"
        direct = []
        for _ in range(args.reads):
            t0 = time.perf_counter()
            r.hgetall(key)
            direct.append((time.perf_counter() - t0) * 1000)
        for k in r.scan_iter(match=f"{prefix}:*"):
            r.delete(k)
        r.close()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        found.close()

    report = {"freeze_status_http_ms": summary(http_ms), "freeze_status_redis_hgetall_ms": summary(direct),
              "queue_list_http_ms": summary(queue_ms)}
    for name, s in report.items():
        print(f"{name:34} p50 {s['p50']:.3f}  p90 {s['p90']:.3f}  p99 {s['p99']:.3f}  max {s['max']:.3f} ms  (n={s['n']})")
    if args.json:
        args.json.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
