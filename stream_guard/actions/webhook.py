"""POST alerts to the exchange's notification webhook, with retries and exponential backoff.

The contract (docs/actions.md): one alert per request, ``POST`` with the alert's JSON — the
same object as on ``stream-guard.alerts`` — and the headers ``Content-Type:
application/json``, ``Idempotency-Key: <alert_id>`` (a retried request repeats it: the
receiver drops what it has seen) and, when a secret is configured,
``X-Stream-Guard-Signature: sha256=<hex HMAC-SHA256 of the body>``. A 2xx answer delivers
it. 408, 429, 5xx, timeouts and connection errors are retried after 0.5 s, 1 s, 2 s …
(``webhook_backoff`` doubling, at most ``webhook_max_backoff``, ±20 % jitter; a 429's or 503's
``Retry-After`` in seconds is honoured within the same cap) up to ``webhook_attempts`` tries;
any other answer is final. An alert that fails for good is logged and counted
(``webhook_failed``) and the next one goes: Kafka stays the channel of record.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
from dataclasses import dataclass

import aiohttp

from stream_guard.actions.config import ActionsConfig

log = logging.getLogger("stream_guard.actions")

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


@dataclass
class Delivery:
    ok: bool
    attempts: int
    status: int | None = None  # the last HTTP status, None if no answer came
    error: str | None = None


class WebhookSender:
    """One HTTP session for the webhook URL of ``config``; ``await close()`` when done."""

    def __init__(self, config: ActionsConfig, *, sleep=asyncio.sleep):
        if not config.webhook_url:
            raise ValueError("no webhook_url configured")
        self.url = config.webhook_url
        self.secret = config.webhook_secret.encode() if config.webhook_secret else None
        self.attempts = config.webhook_attempts
        self.backoff = config.webhook_backoff
        self.max_backoff = config.webhook_max_backoff
        self.timeout = aiohttp.ClientTimeout(total=config.webhook_timeout)
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    def headers(self, body: bytes, alert_id: str) -> dict[str, str]:
        h = {
            "Content-Type": "application/json",
            "Idempotency-Key": alert_id,
            "User-Agent": "stream-guard-actions",
        }
        if self.secret is not None:
            h["X-Stream-Guard-Signature"] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return h

    async def post(self, body: bytes, alert_id: str) -> Delivery:
        """Deliver one alert (see the module docstring for when it retries)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = self.headers(body, alert_id)
        delay = self.backoff
        status: int | None = None
        error: str | None = None
        for attempt in range(1, self.attempts + 1):
            retry_after: float | None = None
            try:
                async with self._session.post(self.url, data=body, headers=headers) as resp:
                    status = resp.status
                    await resp.read()
                    if 200 <= status < 300:
                        return Delivery(True, attempt, status)
                    if status not in RETRY_STATUS:
                        return Delivery(False, attempt, status, f"HTTP {status}")
                    error = f"HTTP {status}"
                    ra = resp.headers.get("Retry-After", "")
                    retry_after = float(ra) if ra.replace(".", "", 1).isdigit() else None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                status, error = None, f"{type(exc).__name__}: {exc}"
            if attempt == self.attempts:
                break
            wait = min(retry_after if retry_after is not None else delay * random.uniform(0.8, 1.2), self.max_backoff)
            await self._sleep(wait)
            delay = min(delay * 2, self.max_backoff)
        log.warning("stream-guard actions: webhook gave up on alert %s after %d tries: %s", alert_id, self.attempts, error)
        return Delivery(False, self.attempts, status, error)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
