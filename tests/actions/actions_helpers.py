"""Helpers of the actions tests: a clock that moves when told, a test's Redis, decisions."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.store import ActionsStore


class FakeClock:
    """Seconds since the epoch that move only when told to."""

    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


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
