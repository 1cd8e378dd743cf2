"""The actions agent: a Faust app of its own that turns decisions into actions.

It consumes ``stream-guard.decisions`` in its own consumer group (``<app_id>-actions``), so
detection never waits for Redis or a webhook; a slow Redis only makes this agent's lag grow.
Each batch is applied — a user's decisions in order, different users concurrently — and
only then acknowledged (Faust commits acknowledged offsets), so a decision is never
committed before its actions are in Redis. While Redis is unreachable, each decision is
retried with exponential backoff (:func:`~stream_guard.actions.connection.retrying`): the
agent pauses, it does not skip. Replays, restarts and rebalances redeliver decisions; their
markers in Redis make a second application a no-op.

Alongside, the relay publishes freeze changes to ``stream-guard.freezes`` and alerts to
``stream-guard.alerts`` (and the webhook), and expires timed freezes; see
:mod:`stream_guard.actions.outbox`.

Its web port serves ``/metrics`` (:func:`stream_guard.metrics.actions_metrics`: counted in
plain Python as decisions are applied; the queue and freeze gauges read from Redis by a
background task every ``actions.metrics_interval`` seconds, never by a scrape), ``/healthz``
(the event loop answers) and ``/readyz`` (Redis answers PING and the agent is in its
consumer group, not rebalancing).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any

import faust
from redis.exceptions import RedisError

from stream_guard.actions.connection import UNAVAILABLE, connect, retrying
from stream_guard.actions.effects import BadDecision, Effects, parse_decision
from stream_guard.actions.outbox import Relay
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.templates import Catalog
from stream_guard.actions.webhook import WebhookSender
from stream_guard.metrics import ActionsCounts, actions_metrics, registry_for
from stream_guard.settings import Settings
from stream_guard.stream.consumer import Consumer, ConsumerThread, FlowControl
from stream_guard.stream.engine import OffsetGuard
from stream_guard.stream.web import WEB_SETTINGS, add_pages, add_status_timers, group_state

log = logging.getLogger("stream_guard.actions")
RAW = {"key_serializer": "raw", "value_serializer": "raw"}
#: Users whose decisions are applied at the same time (each user's in order).
CONCURRENCY = 32
#: Longest the readiness check waits for Redis to answer PING.
PING_TIMEOUT = 2.0


class ActionsAgent:
    """Everything one actions process holds: the Faust app, the store, the relay, counters."""

    def __init__(self, settings: Settings, catalog: Catalog, *, partitions: int):
        self.settings = settings
        self.catalog = catalog
        self.partitions = partitions
        self.app = app = faust.App(
            f"{settings.app_id}-actions",
            broker=settings.broker,
            store="memory://",
            datadir=str(settings.data_dir),
            topic_partitions=partitions,
            web_port=settings.web_port,
            **WEB_SETTINGS,
            broker_session_timeout=settings.session_timeout,
            broker_rebalance_timeout=settings.session_timeout,
            broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            key_serializer="raw",
            value_serializer="raw",
            producer_linger_ms=5,
        )
        ConsumerThread.fetch_max_wait_ms = int(settings.fetch_max_wait * 1000)  # the worker's consumer
        app.transport.Consumer = Consumer
        app.flow_control = FlowControl()
        self.decisions = app.topic(settings.decisions_topic, **RAW)
        self.guard = OffsetGuard()
        self.counts: collections.Counter[str] = collections.Counter()
        self.store: ActionsStore | None = None
        self.relay: Relay | None = None
        self.webhook: WebhookSender | None = None
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.metrics = ActionsCounts()
        self.registry = registry_for(lambda: actions_metrics(self))
        add_pages(app, self.registry, self._ready)
        self._register()

    def _ensure_store(self) -> ActionsStore:
        """The Redis side, made in the running event loop (connects on first use)."""
        if self.store is None:
            s = self.settings
            self.store = ActionsStore(connect(s.redis_url), s.actions)
            self.effects = Effects(self.store, self.catalog)
            if s.actions.webhook_url:
                self.webhook = WebhookSender(s.actions)
            self.relay = Relay(self.store, self._send, freezes_topic=s.freezes_topic,
                               alerts_topic=s.alerts_topic, webhook=self.webhook)
        return self.store

    async def _send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future:
        """Hand one record to the Kafka producer; the future resolves once the broker has it.
        Straight to aiokafka, not Faust's buffer, for the reason stream.app.Worker._send gives."""
        try:
            fut = await self.app.producer.send(topic, key, value, None, None, None)
        except Exception:
            self.metrics.broker_error("publish")
            raise
        fut.add_done_callback(self._delivered)
        return fut

    def _delivered(self, fut: asyncio.Future) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.metrics.broker_error("publish")

    # -- metrics and health ---------------------------------------------------------------
    def consumer_lag(self) -> dict[int, int]:
        """Decisions not yet read per assigned partition (high-water mark minus the next offset)."""
        consumer = self.app.consumer
        topic = self.settings.decisions_topic
        out = {}
        for tp in consumer.assignment():
            if tp.topic != topic:
                continue
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            nxt = self.guard.expected.get((tp.topic, tp.partition))
            if nxt is None:  # nothing read since the assignment: from where the group resumes
                committed = consumer._committed_offset.get(tp)
                nxt = committed + 1 if committed is not None else 0
            out[tp.partition] = max(hw - nxt, 0)
        return out

    def assigned(self) -> int:
        topic = self.settings.decisions_topic
        return sum(1 for tp in self.app.consumer.assignment() if tp.topic == topic)

    def ready_now(self) -> bool:
        """For the ``stream_guard_ready`` gauge: the group state now, Redis as last seen."""
        return group_state(self.app) == "ready" and self.metrics.redis_ok

    async def _ping(self) -> bool:
        store = self._ensure_store()
        try:
            await asyncio.wait_for(store.client.ping(), PING_TIMEOUT)
            return True
        except (TimeoutError, RedisError, *UNAVAILABLE):
            self.metrics.redis_error("ready")
            return False

    async def _ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready: Redis answers PING, and the agent is in its group, not rebalancing."""
        redis_ok = await self._ping()
        self.metrics.redis_ok = redis_ok
        state = group_state(self.app)
        if state == "ready" and not redis_ok:
            state = "redis unreachable"
        parts = sorted(tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.settings.decisions_topic)
        return state == "ready", {"state": state, "redis": "ok" if redis_ok else "unreachable", "partitions": parts}

    async def refresh(self) -> None:
        """Read the shared state the gauges show (the queue, SLA breaches, active freezes)."""
        store = self._ensure_store()
        m = self.metrics
        try:
            q = TaskQueue(store)
            m.queue = await q.counts()
            m.sla_breaches += await q.tally_breaches()
            m.freezes = await store.active_freezes()
            m.refreshed_at = time.time()
            m.redis_ok = True
        except (RedisError, *UNAVAILABLE) as exc:
            m.redis_error("refresh")
            m.redis_ok = not isinstance(exc, UNAVAILABLE)
            log.warning("stream-guard actions: cannot read the queue for the metrics: %s", exc)

    def _register(self) -> None:
        app, s = self.app, self.settings
        stop = asyncio.Event()

        @app.agent(self.decisions, name="stream_guard.actions")
        async def act(stream: Any) -> None:
            self._ensure_store()
            limit = asyncio.Semaphore(CONCURRENCY)
            async for events in stream.noack_take(s.actions.batch_size, within=0.05):
                now = time.time()
                self.first_at = self.first_at or now
                self.last_at = now
                by_user: dict[str, list[tuple[Any, dict[str, Any]]]] = collections.defaultdict(list)
                taken = []
                for ev in events:
                    m = ev.message
                    start = None if (m.topic, m.partition) in self.guard.expected else app.consumer._committed_offset.get(m.tp)
                    if self.guard.check((m.topic, m.partition), m.offset, start=start) == OffsetGuard.DROP:
                        self.counts["redelivered_in_batch"] += 1
                        self.metrics.decision("unknown", "redelivered")
                        continue
                    taken.append(ev)
                    try:
                        d = parse_decision(m.value)
                    except BadDecision as exc:
                        self.counts["invalid"] += 1
                        self.metrics.decision("unknown", "invalid")
                        log.error("stream-guard actions: %s-%s@%s is not a decision (%s): skipped", m.topic, m.partition, m.offset, exc)
                        continue
                    by_user[d["user_id"]].append((ev, d))
                await asyncio.gather(*(self._apply_user(items, limit) for items in by_user.values()))
                for ev in taken:  # only now: a decision is committed once its actions are done
                    await stream.ack(ev)
                self.counts["acked"] += len(taken)

        @app.task
        async def relay() -> None:
            self._ensure_store()
            assert self.relay is not None
            try:
                await self.relay.run(stop)  # cancelled when the app stops
            finally:
                if self.webhook is not None:
                    await self.webhook.close()

        @app.task
        async def refresh_metrics() -> None:
            while True:  # at once, then every metrics_interval (cancelled when the app stops)
                try:
                    await self.refresh()
                except Exception:  # the metrics must never stop the agent
                    self.metrics.redis_error("refresh")
                    log.exception("stream-guard actions: reading the queue for the metrics failed")
                await asyncio.sleep(s.actions.metrics_interval)

        add_status_timers(app, self.status, s.stats_file, log, "stream-guard actions")


    async def _apply_user(self, items: list[tuple[Any, dict[str, Any]]], limit: asyncio.Semaphore) -> None:
        """One user's decisions of a batch, in order; each waits out a Redis outage."""
        async with limit:
            await self._apply_in_order(items)

    async def _apply_in_order(self, items: list[tuple[Any, dict[str, Any]]]) -> None:
        cap = self.settings.actions.redis_backoff_max

        m = self.metrics

        def waiting(attempt: int, delay: float, exc: BaseException) -> None:
            self.counts["redis_waits"] += 1
            m.redis_error("apply")
            m.retry("decision")
            if attempt == 1 or attempt % 10 == 0:
                log.warning("stream-guard actions: Redis unreachable (%s); decision waits, retry %d in %.1fs", exc, attempt, delay)

        for _, d in items:
            mode = "shadow" if d.get("mode") == "shadow" else "enforce"
            started = time.perf_counter()
            try:
                applied = await retrying(lambda d=d: self.effects.apply(d), cap=cap, on_wait=waiting)
            except Exception as exc:
                self.counts["errors"] += 1
                m.decision(mode, "failed")
                m.failed(d)
                if isinstance(exc, RedisError):
                    m.redis_error("apply")
                log.exception("stream-guard actions: decision %s failed: skipped", d.get("decision_id"))
                continue
            m.apply.observe(time.perf_counter() - started)
            m.decision(mode, "applied" if applied.new else "replayed")
            if applied.new:
                m.applied(d, applied)
            self.counts["decisions"] += 1
            self.counts[mode] += 1
            self.counts["applied" if applied.new else "replayed"] += 1
            if applied.new:
                self.counts["tasks_created"] += int(applied.created)
                self.counts["tasks_merged"] += int(applied.merged)
                self.counts["freezes"] += len(applied.freezes)
                self.counts["alerts"] += len(applied.alerts)
                self.counts["suppressed"] += len(applied.suppressed)

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts)
        if self.relay is not None:
            out.update({f"published_{k}": v for k, v in self.relay.published.items()})
        out.update(offset_gaps=self.guard.gaps, first_event_at=self.first_at, last_event_at=self.last_at,
                   written_at=time.time())
        return out


def run_actions(settings: Settings, catalog: Catalog) -> None:
    """Check the topics, then run the agent until SIGINT/SIGTERM (exits the process)."""
    import sys

    from faust.worker import Worker as FaustWorker

    from stream_guard.actions.topics import ensure_topics

    partitions = ensure_topics(settings)
    logging.getLogger("stream_guard").setLevel(settings.log_level.upper().replace("WARN", "WARNING"))
    agent = ActionsAgent(settings, catalog, partitions=partitions)
    print(
        f"stream-guard actions: {settings.broker}, {settings.decisions_topic} ({partitions} partitions) → "
        f"Redis {settings.redis_url} (prefix {settings.actions.key_prefix}), {settings.freezes_topic}, "
        f"{settings.alerts_topic}" + (", webhook " + settings.actions.webhook_url if settings.actions.webhook_url else ""),
        file=sys.stderr, flush=True,
    )
    worker = FaustWorker(agent.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.spinner = None  # see stream.runner: the spinner makes every debug call cost
    worker.execute_from_commandline()
