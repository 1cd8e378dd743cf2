"""Getting freeze changes and alerts out of Redis: to Kafka, to the webhook, and expiring
freezes on time.

Each user's audit trail and alerts are streams in the user's slot, and ``sg:u:{U}:relay``
says how far each has been published (``audit``, ``alerts``) and posted (``webhook``). A
change wakes the user in the outbox index (``sg:{outbox}:kafka``, with a generation per
user); :meth:`Relay.publish_due` publishes every user due — awaiting Kafka's acknowledgement
— moves the cursors, and takes the user out of the index only if no change came meanwhile
(same generation). Delivery is at least once: a crash between Kafka's acknowledgement and
the cursor's move sends those records again, with the same ``change_id`` / ``alert_id``.

:meth:`Relay.sweep` is the safety net for the rare crash between a user's change and its
index update: it scans the per-user keys and puts back what the indexes miss.

The relay also keeps the number of active freezes per scope (``sg:{stats}:freezes``, the
``stream_guard_freezes_active`` metric): every freeze change passes through it in order,
whoever made it (a decision, an analyst, a call's outcome, the clock), so it adds +1 for a
``freeze`` and -1 for a ``lift`` or ``expire`` as it publishes them — one ``HINCRBY`` in a
slot of its own, cheap and Cluster-safe. A relay dying between moving a user's cursor and
adding to the counters loses those changes from the count; the sweep (at start and every
``sweep_interval``) recounts exactly — each user's freezes as of the relay's cursor, by
:file:`lua/freeze_census.lua` — and sets the counters. A timed freeze counts until its
expiry is recorded (the relay does that within ``relay_interval`` of its time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from stream_guard.actions.audit import AuditEntry, freeze_message
from stream_guard.actions.connection import UNAVAILABLE
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.webhook import WebhookSender

log = logging.getLogger("stream_guard.actions")

#: Records of one user published per round (a user with more is visited again at once).
CHUNK = 500

#: ``await send(topic, key, value)`` hands a record to the producer and returns what to await
#: for Kafka's acknowledgement (or None when it is already acknowledged).
Send = Callable[[str, bytes, bytes], Awaitable[Awaitable[Any] | None]]


class Relay:
    """Publishes through ``send`` (see :data:`Send`): records of a user are handed over in
    order, so a freeze and its lift reach the partition in that order."""

    def __init__(
        self,
        store: ActionsStore,
        send: Send,
        *,
        freezes_topic: str = "stream-guard.freezes",
        alerts_topic: str = "stream-guard.alerts",
        webhook: WebhookSender | None = None,
    ):
        self.store = store
        self.send = send
        self.freezes_topic = freezes_topic
        self.alerts_topic = alerts_topic
        self.webhook = webhook
        self.token = uuid.uuid4().hex  # this relay's name in the lease
        self.published = {"freezes": 0, "alerts": 0, "webhook_delivered": 0, "webhook_failed": 0, "expired": 0,
                          "webhook_retries": 0}
        #: rounds that failed: Redis away (``redis``), anything else — Kafka, a bug (``other``)
        self.errors = {"redis": 0, "other": 0}
        self.leading = False  # whether this relay held the lease at its last look

    # -- Kafka --------------------------------------------------------------------------
    async def publish_due(self, limit: int = 100) -> int:
        """Publish what every due user has waiting; the number of records sent."""
        s = self.store
        index, gen = s.keys.outbox("kafka")
        flat = await s.scripts.call("outbox", [index, gen], ["peek", s.now_ms(), limit])
        sent = 0
        for user, seen in zip(flat[::2], flat[1::2], strict=True):
            n, more = await self._publish_user(user)
            sent += n
            await s.scripts.call("outbox", [index, gen], ["done", user, seen, s.now_ms() if more else ""])
        return sent

    async def _publish_user(self, user: str) -> tuple[int, bool]:
        s, k = self.store, self.store.keys
        audit_at, alerts_at = await s.client.hmget(k.relay(user), "audit", "alerts")
        pipe = s.client.pipeline(transaction=False)
        pipe.xrange(k.audit(user), f"({audit_at or '0-0'}", "+", count=CHUNK)
        pipe.xrange(k.alerts(user), f"({alerts_at or '0-0'}", "+", count=CHUNK)
        audit, alerts = await pipe.execute()
        key = user.encode()
        records = [(self.freezes_topic, freeze_message(AuditEntry.from_stream(user, eid, f))) for eid, f in audit]
        records += [(self.alerts_topic, f["payload"].encode()) for _, f in alerts]
        pending = []
        for topic, value in records:  # handed over one by one, in order; then all awaited
            delivery = await self.send(topic, key, value)
            if delivery is not None:
                pending.append(delivery)
        if pending:
            await asyncio.gather(*pending)
        if audit:
            await s.scripts.call("relay_advance", [k.relay(user)], ["audit", audit[-1][0]])
            await s.count_freezes(_freeze_deltas(f for _, f in audit))
        if alerts:
            await s.scripts.call("relay_advance", [k.relay(user)], ["alerts", alerts[-1][0]])
        self.published["freezes"] += len(audit)
        self.published["alerts"] += len(alerts)
        return len(records), len(audit) == CHUNK or len(alerts) == CHUNK

    # -- the webhook ------------------------------------------------------------------------
    async def post_due(self, limit: int = 20) -> int:
        """POST the alerts of every due user (users in parallel, each user's in order)."""
        if self.webhook is None:
            return 0
        s = self.store
        index, gen = s.keys.outbox("webhook")
        flat = await s.scripts.call("outbox", [index, gen], ["peek", s.now_ms(), limit])
        pairs = list(zip(flat[::2], flat[1::2], strict=True))

        async def one(user: str, seen: str) -> int:
            n, more = await self._post_user(user)
            await s.scripts.call("outbox", [index, gen], ["done", user, seen, s.now_ms() if more else ""])
            return n

        return sum(await asyncio.gather(*(one(u, g) for u, g in pairs)))

    async def _post_user(self, user: str) -> tuple[int, bool]:
        assert self.webhook is not None
        s, k = self.store, self.store.keys
        at = await s.client.hget(k.relay(user), "webhook")
        rows = await s.client.xrange(k.alerts(user), f"({at or '0-0'}", "+", count=CHUNK)
        for eid, f in rows:
            d = await self.webhook.post(f["payload"].encode(), f["alert_id"])
            self.published["webhook_delivered" if d.ok else "webhook_failed"] += 1
            self.published["webhook_retries"] += d.attempts - 1
            await s.count(**{"webhook_delivered" if d.ok else "webhook_failed": 1})
            await s.scripts.call("relay_advance", [k.relay(user)], ["webhook", eid])
        return len(rows), len(rows) == CHUNK

    # -- freezes that run out -----------------------------------------------------------------
    async def expire_due(self, limit: int = 100) -> int:
        """Expire the freezes whose time has come (audit, Kafka); the number expired."""
        s, k = self.store, self.store.keys
        index, gen = k.expiry
        flat = await s.scripts.call("outbox", [index, gen], ["peek", s.now_ms(), limit])
        expired = 0
        for user, seen in zip(flat[::2], flat[1::2], strict=True):
            keys = [k.freezes(user), k.audit(user), k.relay(user), k.alerts(user)]
            r = await s.scripts.json("freeze_change", keys, [s.now_ms(), "expire", "{}"])
            await s.follow_up(user, r, schedule=False)
            changed = r["changed"] if isinstance(r["changed"], list) else []
            expired += len(changed)
            await s.count(freezes_expired=len(changed))
            await s.scripts.call("outbox", [index, gen], ["done", user, seen, r.get("next_expiry") or ""])
        self.published["expired"] += expired
        return expired

    # -- the safety net ------------------------------------------------------------------------
    async def sweep(self) -> dict[str, int]:
        """Scan every user's relay cursors, open task and freezes; put back into the
        indexes whatever they miss. Cheap enough every few minutes (SCAN, no KEYS)."""
        s, k = self.store, self.store.keys
        found = {"pending": 0, "tasks": 0, "expiries": 0}
        users: set[str] = set()
        frozen_ever: set[str] = set()
        for name in ("audit", "alerts"):  # every user who ever had something to publish
            async for key in s.client.scan_iter(match=k.user_pattern(name), count=1000):
                users.add(k.user_of(key))
                if name == "audit":
                    frozen_ever.add(k.user_of(key))
        census: dict[str, int] = {}
        for user in sorted(frozen_ever):  # the active freezes as published so far
            by_scope = await s.scripts.json("freeze_census", [k.freezes(user), k.audit(user), k.relay(user)], [])
            for scope, n in (by_scope or {}).items():
                census[scope] = census.get(scope, 0) + int(n)
        for user in sorted(users):
            pipe = s.client.pipeline(transaction=False)
            pipe.hmget(k.relay(user), "audit", "alerts", "webhook")
            pipe.xrevrange(k.audit(user), "+", "-", count=1)
            pipe.xrevrange(k.alerts(user), "+", "-", count=1)
            (a_at, l_at, w_at), last_a, last_l = await pipe.execute()
            if (last_a and _later(last_a[0][0], a_at)) or (last_l and _later(last_l[0][0], l_at)):
                await s.notify("kafka", user)
                found["pending"] += 1
            if s.webhook and last_l and _later(last_l[0][0], w_at):
                await s.notify("webhook", user)
        async for key in s.client.scan_iter(match=k.user_pattern("task"), count=1000):
            user = k.user_of(key)
            tid = await s.client.hget(key, "id")
            if tid:
                r = await s.scripts.json("task_update", [k.task(user), k.task_log(user)], [s.now_ms(), tid, "", "peek", 0])
                if r.get("ok"):
                    await s.place(r["placement"])
                    found["tasks"] += 1
        async for key in s.client.scan_iter(match=k.user_pattern("freezes"), count=1000):
            user = k.user_of(key)
            soonest = None
            for raw in (await s.client.hvals(key)):
                exp = orjson.loads(raw).get("expires_at")
                if exp is not None and (soonest is None or exp < soonest):
                    soonest = exp
            if soonest is not None:
                await s.schedule_expiry(user, int(soonest))
                found["expiries"] += 1
        # The counters the relay keeps as it publishes (publish_due) are set to the census —
        # unless another relay took the lease meanwhile (it may have published since).
        if (await s.client.get(k.relay_lease)) in (None, self.token):
            pipe = s.client.pipeline(transaction=False)
            pipe.delete(k.freeze_counts)
            if census:
                pipe.hset(k.freeze_counts, mapping=census)
            await pipe.execute()
        found["freezes"] = sum(census.values())
        return found

    # -- running ------------------------------------------------------------------------------
    async def lead(self, ttl: float = 10.0) -> bool:
        """Take or renew the relay lease: with several actions processes, one relays at a
        time (the others take over within ``ttl`` seconds if it dies)."""
        k = self.store.keys
        self.leading = bool(await self.store.scripts.call("lease", [k.relay_lease], [self.token, int(ttl * 1000)]))
        return self.leading

    async def run(self, stop: asyncio.Event, *, interval: float | None = None, sweep_every: float | None = None) -> None:
        """Publish, post and expire every ``interval`` seconds until ``stop`` is set; sweep
        at the start and every ``sweep_every`` seconds — while this relay holds the lease
        (:meth:`lead`). Redis or Kafka being away is waited out (logged), never fatal."""
        c = self.store.config
        interval = interval or c.relay_interval
        sweep_every = sweep_every or c.sweep_interval
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()
        webhook_task = asyncio.create_task(self._webhook_loop(stop, interval)) if self.webhook else None
        delay = interval
        try:
            while not stop.is_set():
                try:
                    if not await self.lead():
                        await _wait(stop, 1.0)  # another process relays
                        continue
                    if loop.time() >= next_sweep:
                        await self.sweep()
                        next_sweep = loop.time() + sweep_every
                    busy = await self.publish_due() + await self.expire_due()
                    delay = interval
                except UNAVAILABLE as exc:
                    self.errors["redis"] += 1
                    log.warning("stream-guard actions: relay waits for Redis: %s", exc)
                    delay, busy = min(delay * 2, c.redis_backoff_max), 0
                except Exception:  # Kafka away, or a bug: never lose the relay
                    self.errors["other"] += 1
                    log.exception("stream-guard actions: relay round failed; retrying")
                    delay, busy = min(delay * 2, c.redis_backoff_max), 0
                if not busy:
                    await _wait(stop, delay)
        finally:
            if webhook_task is not None:
                webhook_task.cancel()
                await asyncio.gather(webhook_task, return_exceptions=True)

    async def _webhook_loop(self, stop: asyncio.Event, interval: float) -> None:
        delay = interval
        while not stop.is_set():
            try:
                busy = await self.post_due() if await self.lead() else 0
                delay = interval
            except Exception as exc:
                self.errors["redis" if isinstance(exc, UNAVAILABLE) else "other"] += 1
                log.warning("stream-guard actions: webhook round failed (%s); retrying", exc)
                busy, delay = 0, min(delay * 2, self.store.config.redis_backoff_max)
            if not busy:
                await _wait(stop, delay)


def _freeze_deltas(entries: Any) -> dict[str, int]:
    """How audit entries change the active freezes per scope (a ``keep`` changes none)."""
    out: dict[str, int] = {}
    for f in entries:
        step = {"freeze": 1, "lift": -1, "expire": -1}.get(f.get("action", ""), 0)
        scope = f.get("scope")
        if step and scope:
            out[scope] = out.get(scope, 0) + step
    return out


def _later(entry_id: str, cursor: Any) -> bool:
    a = tuple(int(x) for x in entry_id.split("-"))
    b = tuple(int(x) for x in (cursor or "0-0").split("-"))
    return a > b


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
