"""Every Prometheus metric Stream Guard exports, and the collectors that read them.

The hot path never touches prometheus-client. The worker and the actions agent count in
plain Python (ints, dicts, :class:`Buckets`) as they go — per batch where they can — and a
:class:`~prometheus_client.registry.Collector` turns those counts into metric families when
Prometheus scrapes. So a metric costs nothing between scrapes, and the names, help texts and
labels of every metric live here, in one place (docs/operations.md lists them).

Naming follows prometheus.io/docs/practices/naming: a ``stream_guard_`` prefix, base units
(seconds, bytes), ``_total`` on counters; labels have bounded values only (stream, partition,
rule id, severity, mode, error code...), never a user, an address or an IP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from stream_guard.core.histogram import Buckets
from stream_guard.core.models.scoring import SAMPLE_EVERY
from stream_guard.core.models.scoring import SCORE_BUCKETS as MODEL_SCORE_BUCKETS

#: Seconds an event takes in the worker (parse, merge, detect): tens of µs to a few ms.
PROCESSING_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
#: Event-time lag (now - event ts): from a live stream (a second) to a backlog (days).
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
#: Seconds to write a flush (states, end marker) or to apply an action.
WRITE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
#: Model scores are in [0, 1] (the core's scorer counts them in these buckets).
SCORE_BUCKETS = MODEL_SCORE_BUCKETS


def histogram(name: str, doc: str, labels: Mapping[str, Buckets] | Buckets, label: str = "") -> HistogramMetricFamily:
    """A histogram family from :class:`Buckets`: one, or one per value of ``label``."""
    per = {"": labels} if isinstance(labels, Buckets) else labels
    fam = HistogramMetricFamily(name, doc, labels=[label] if label else None)
    for value, b in sorted(per.items()):
        fam.add_metric([value] if label else [], b.cumulative(), b.sum)
    return fam


def counter(name: str, doc: str, labels: list[str], values: Mapping[tuple[str, ...], float] | float) -> CounterMetricFamily:
    """``name`` without ``_total`` (prometheus-client adds it); ``values`` keyed by label values."""
    fam = CounterMetricFamily(name, doc, labels=labels or None)
    if isinstance(values, Mapping):
        for key, v in sorted(values.items()):
            fam.add_metric(list(key), v)
    else:
        fam.add_metric([], values)
    return fam


def gauge(name: str, doc: str, labels: list[str], values: Mapping[tuple[str, ...], float] | float) -> GaugeMetricFamily:
    fam = GaugeMetricFamily(name, doc, labels=labels or None)
    if isinstance(values, Mapping):
        for key, v in sorted(values.items()):
            fam.add_metric(list(key), v)
    else:
        fam.add_metric([], values)
    return fam


class FunctionCollector:
    """A collector that calls ``fn()`` for its metric families at every scrape."""

    def __init__(self, fn: Callable[[], Iterable[Metric]]):
        self.fn = fn

    def collect(self) -> Iterator[Metric]:
        yield from self.fn()


def registry_for(fn: Callable[[], Iterable[Metric]]) -> CollectorRegistry:
    """A registry of its own (not the process-global one) around one collecting function."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FunctionCollector(fn))  # type: ignore[arg-type]
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The text exposition of ``registry`` and its content type."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def now() -> float:
    return time.time()


# -- the detection worker ---------------------------------------------------------------


class WorkerCounts:
    """What the worker counts for its metrics beyond its engines' own counters."""

    def __init__(self) -> None:
        self.processing = Buckets(PROCESSING_BUCKETS)
        self.lag = Buckets(LAG_BUCKETS)
        self.flush = {"users": Buckets(WRITE_BUCKETS), "groups": Buckets(WRITE_BUCKETS)}
        self.matches: dict[tuple[str, str], int] = {}  # (rule id, mode)
        self.decisions: dict[tuple[str, str], int] = {}  # (severity, mode)
        self.evaluated_before: dict[str, int] = {}  # rule id -> evaluations by replaced rule sets
        self.broker_errors: dict[str, int] = {}  # operation -> errors

    def decided(self, decisions: Iterable[Any]) -> None:
        matches, by = self.matches, self.decisions
        for d in decisions:
            k = (d.rule_id, d.mode)
            matches[k] = matches.get(k, 0) + 1
            k = (d.severity, d.mode)
            by[k] = by.get(k, 0) + 1

    def broker_error(self, operation: str) -> None:
        self.broker_errors[operation] = self.broker_errors.get(operation, 0) + 1


def worker_metrics(w: Any) -> Iterator[Metric]:
    """The metric families of a detection worker (:class:`stream_guard.stream.app.Worker`)."""
    s = w.settings
    u, g, m = w.user_engine, w.group_engine, w.counts
    stream_of = {s.logins_topic: "logins", s.transfers_topic: "transfers", s.group_topic: "group_items"}
    yield counter(
        "stream_guard_events",
        "Messages read from the input topics, by stream and what became of them; their sum is every message read.",
        ["stream", "outcome"],
        {(stream_of[t], o): n for t, outcomes in u.outcomes.items() for o, n in outcomes.items()},
    )
    yield counter(
        "stream_guard_dead_letters", "Invalid messages sent to the dead-letter topic, by error code.",
        ["reason"], {(code,): n for code, n in u.dead_letter_codes.items()},
    )
    yield histogram(
        "stream_guard_event_processing_seconds",
        "Seconds of the worker's own work per event (parse, event-time merge, detection), each event of a batch counted at the batch's mean.",
        m.processing,
    )
    yield histogram(
        "stream_guard_event_lag_seconds",
        "Event-time lag when an event is evaluated: wall clock minus the event's ts.",
        m.lag,
    )
    yield gauge(
        "stream_guard_last_event_timestamp_seconds",
        "Event time (Unix seconds) of the last event evaluated, per source partition.",
        ["partition"], {(str(p),): t for p, t in u.released_t.items()},
    )
    yield gauge(
        "stream_guard_consumer_lag_messages",
        "Messages in the log not yet read, per assigned partition (high-water mark minus the next offset).",
        ["stream", "partition"], {(stream_of.get(t, t), str(p)): n for (t, p), n in w.consumer_lag().items()},
    )
    yield gauge(
        "stream_guard_assigned_partitions", "Partitions assigned to this worker, by stream.",
        ["stream"], w.assigned_counts(stream_of),
    )
    evaluated = dict(m.evaluated_before)
    for rule_id, n in u.detector.evaluations().items():
        evaluated[rule_id] = evaluated.get(rule_id, 0) + n
    modes = {r.id: r.mode for r in u.detector.rules.rules}
    yield counter(
        "stream_guard_rule_evaluations",
        "Events each rule was evaluated on (its condition, or its sequence's steps), by rule and mode.",
        ["rule_id", "mode"], {(rid, modes.get(rid, "removed")): n for rid, n in evaluated.items()},
    )
    yield counter(
        "stream_guard_rule_matches", "Decisions made by each rule (risk levels included), by rule and mode.",
        ["rule_id", "mode"], m.matches,
    )
    yield counter(
        "stream_guard_decisions", "Decisions published, by severity and mode.", ["severity", "mode"], m.decisions,
    )
    yield gauge("stream_guard_rules_loaded", "Active rules (enforce and shadow) in the rule set in force.", [],
                sum(1 for r in u.detector.rules.rules if r.mode != "off"))
    yield gauge("stream_guard_rules_version", "Version of the published rule set in force (0: the rules directory).",
                [], w.rules_version or 0)
    yield counter("stream_guard_rule_reload_failures",
                  "Published rule sets that failed to load (the previous set was kept).", [], w.rule_errors)
    yield counter("stream_guard_broker_errors", "Failed broker operations, by operation.", ["operation"],
                  {(op,): n for op, n in m.broker_errors.items()})
    yield gauge("stream_guard_events_held", "Events waiting for the event-time merge of the two input topics.", [],
                u.merger.held())
    yield gauge("stream_guard_group_items_held",
                "Contributions to rules keyed by another value waiting for every source's watermark.", [], g.held())
    yield counter("stream_guard_group_items", "Contributions to rules keyed by another value folded, by outcome.",
                  ["outcome"], {("valid",): g.count.events, ("redelivered",): g.count.duplicates})
    yield counter("stream_guard_group_records_echoed",
                  "Group-topic records this worker had already folded as it sent them (their copy from the topic is only acknowledged).",
                  [], g.echoes)
    yield counter("stream_guard_state_writes", "Changed states written to the changelog, by table.", ["table"],
                  {("users",): u.store.writes, ("group_keys",): g.store.writes})
    yield histogram("stream_guard_state_flush_seconds",
                    "Seconds to write one flush (outputs awaited, states, end marker), by table.",
                    {"users": m.flush["users"], "group_keys": m.flush["groups"]}, label="table")
    if w.scorer is not None:
        yield from model_metrics(w.scorer)
    yield counter("stream_guard_offset_gaps", "Jumps in a partition's offsets seen by the worker (messages the consumer skipped).",
                  [], w.guard.gaps)
    from stream_guard.stream.web import group_state  # (web serves these metrics: imported late)

    yield gauge("stream_guard_ready", "1 when the process is ready (see /readyz), else 0.", [],
                int(group_state(w.app) == "ready"))
    gc = w.gc
    yield counter("stream_guard_gc_full_collections", "Full garbage collections run by the worker's schedule.", [],
                  gc.collections)
    yield counter("stream_guard_gc_full_seconds", "Seconds spent in those collections.", [], gc.seconds_total)


# -- the HTTP API -------------------------------------------------------------------------

#: Seconds an API request takes: a Redis round trip (sub-ms) to a slow scrypt check (~50 ms).
HTTP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class HttpCounts:
    """Requests by route template (never the concrete path: it holds user ids), method, status."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.durations: dict[str, Buckets] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        b = self.durations.get(route)
        if b is None:
            b = self.durations[route] = Buckets(HTTP_BUCKETS)
        b.observe(seconds)


def api_metrics(counts: HttpCounts) -> Iterator[Metric]:
    yield counter("stream_guard_http_requests", "HTTP requests answered by the API, by route template, method and status.",
                  ["route", "method", "status"], counts.requests)
    yield histogram("stream_guard_http_request_duration_seconds", "Seconds to answer an API request, by route template.",
                    counts.durations, label="route")


# -- the actions agent ------------------------------------------------------------------

#: A decision's action kinds as the metrics name them (a callback, or a freeze without one, opens a task).
ACTION_KIND = {"callback": "task", "freeze": "freeze", "alert": "alert", "remind": "remind"}
#: Task priorities and freeze scopes: always exported, at 0 when there is none.
TASK_PRIORITIES = ("critical", "high", "medium", "low")
FREEZE_SCOPES = ("withdrawals", "login", "all")


class ActionsCounts:
    """What the actions agent counts as it applies decisions (plain Python), and the state
    of the shared queue and freezes that its background refresh last read from Redis."""

    def __init__(self) -> None:
        self.decisions: dict[tuple[str, str], int] = {}  # (mode, outcome)
        self.actions: dict[tuple[str, str], int] = {}  # (kind, result)
        self.retries: dict[str, int] = {}  # what was retried -> retries
        self.suppressed: dict[tuple[str, str], int] = {}  # (kind, reason)
        self.redis_errors: dict[str, int] = {}  # operation -> errors
        self.broker_errors: dict[str, int] = {}
        self.apply = Buckets(WRITE_BUCKETS)
        self.sla_breaches = 0
        # the background refresh (None until its first success)
        self.queue: Any = None  # stream_guard.actions.tasks.QueueCounts
        self.freezes: dict[str, int] | None = None
        self.refreshed_at: float | None = None
        self.redis_ok = False

    def decision(self, mode: str, outcome: str) -> None:
        k = (mode, outcome)
        self.decisions[k] = self.decisions.get(k, 0) + 1

    def _add(self, table: dict, key: Any, n: int = 1) -> None:
        if n:
            table[key] = table.get(key, 0) + n

    def applied(self, decision: Mapping[str, Any], a: Any) -> None:
        """A decision applied for the first time (``a``: its :class:`~stream_guard.actions.effects.Applied`)."""
        if a.shadow:
            return
        acts = self.actions
        if a.created:
            self._add(acts, ("task", "created"))
        elif a.merged:
            self._add(acts, ("task", "merged"))
        self._add(acts, ("freeze", "placed"), len(a.freezes))
        asked = {"alert": 0, "remind": 0}
        for x in decision.get("actions") or ():
            if isinstance(x, dict) and x.get("kind") in asked:
                asked[x["kind"]] += 1
        done = {"alert": 0, "remind": 0}
        kind_of = {i: ("remind" if k == "security_reminder" else "alert") for i, k in a.alert_kinds.items()}
        for alert_id in a.alerts:
            kind = kind_of.get(alert_id, "alert")
            self._add(acts, (kind, "sent"))
            done[kind] += 1
        for s in a.suppressed:
            kind = kind_of.get(s.get("alert_id"), "alert")
            self._add(acts, (kind, "suppressed"))
            self._add(self.suppressed, (kind, str(s.get("why") or "unknown")))
            done[kind] += 1
        for kind, n in asked.items():  # no template for the user's language, nor a fallback
            self._add(acts, (kind, "skipped"), max(n - done[kind], 0))

    def failed(self, decision: Mapping[str, Any]) -> None:
        """A decision whose actions could not be applied (skipped after an error)."""
        for x in decision.get("actions") or ():
            kind = ACTION_KIND.get(x.get("kind")) if isinstance(x, dict) else None
            if kind is not None:
                self._add(self.actions, (kind, "failed"))

    def retry(self, what: str, n: int = 1) -> None:
        self._add(self.retries, what, n)

    def redis_error(self, operation: str) -> None:
        self._add(self.redis_errors, operation)

    def broker_error(self, operation: str) -> None:
        self._add(self.broker_errors, operation)


def actions_metrics(a: Any) -> Iterator[Metric]:
    """The metric families of an actions agent (:class:`stream_guard.actions.agent.ActionsAgent`).

    Counters count what this process did; the ``tasks_*``, ``freezes_active`` and
    ``oldest_open_task`` gauges describe the state shared by every actions process (the
    same value from each: take ``max`` across them), read from Redis in the background
    every ``actions.metrics_interval`` seconds — a scrape never waits for Redis.
    """
    m = a.metrics
    relay = a.relay
    yield counter(
        "stream_guard_actions_decisions",
        "Messages read from the decisions topic, by mode and what became of them (applied, replayed: already done, failed, invalid, redelivered); their sum is every message read.",
        ["mode", "outcome"], m.decisions,
    )
    yield counter(
        "stream_guard_actions",
        "Actions of the decisions applied, by kind (task, freeze, alert, remind) and result (created, merged, placed, sent, suppressed, skipped, failed).",
        ["kind", "result"], m.actions,
    )
    yield counter(
        "stream_guard_action_retries",
        "Retries: a decision's Redis writes while Redis was unreachable (kind=decision), an alert's webhook POST (kind=webhook).",
        ["kind"], {("decision",): m.retries.get("decision", 0),
                   ("webhook",): relay.published["webhook_retries"] if relay else 0},
    )
    yield counter(
        "stream_guard_alert_suppressions", "Alerts and reminders not sent, by kind and reason (rate_limited, repeat, cooldown).",
        ["kind", "reason"], m.suppressed,
    )
    yield histogram("stream_guard_action_apply_seconds",
                    "Seconds to apply one decision's actions in Redis, waits for an unreachable Redis included.", m.apply)
    pub = relay.published if relay else {}
    yield counter("stream_guard_relay_published", "Records this process's relay published, by topic (freezes, alerts).",
                  ["topic"], {("freezes",): pub.get("freezes", 0), ("alerts",): pub.get("alerts", 0)})
    yield counter("stream_guard_freeze_expirations", "Timed freezes this process's relay recorded as expired.", [],
                  pub.get("expired", 0))
    yield counter("stream_guard_webhook_deliveries", "Alerts POSTed to the webhook, by result (delivered, failed: given up after its retries).",
                  ["result"], {("delivered",): pub.get("webhook_delivered", 0), ("failed",): pub.get("webhook_failed", 0)})
    yield gauge("stream_guard_relay_leader", "1 while this process holds the relay lease (one actions process relays at a time).",
                [], int(bool(relay and relay.leading)))
    redis_errors = dict(m.redis_errors)
    if relay is not None:
        redis_errors["relay"] = redis_errors.get("relay", 0) + relay.errors["redis"]
    yield counter("stream_guard_redis_errors",
                  "Redis operations that failed, by operation (apply: a decision's writes, refresh: the metrics' read, relay, ready: the readiness PING).",
                  ["operation"], {(op,): n for op, n in redis_errors.items()})
    yield counter("stream_guard_broker_errors", "Failed broker operations, by operation.", ["operation"],
                  {(op,): n for op, n in m.broker_errors.items()})
    yield counter("stream_guard_relay_failures",
                  "Relay rounds that failed for another reason than Redis being away (Kafka, a bug); retried.", [],
                  relay.errors["other"] if relay else 0)
    yield gauge(
        "stream_guard_consumer_lag_messages",
        "Messages in the log not yet read, per assigned partition (high-water mark minus the next offset).",
        ["stream", "partition"], {("decisions", str(p)): n for p, n in a.consumer_lag().items()},
    )
    yield gauge("stream_guard_assigned_partitions", "Partitions assigned to this process, by stream.", ["stream"],
                {("decisions",): a.assigned()})
    yield counter("stream_guard_offset_gaps", "Jumps in a partition's offsets seen by the process (messages the consumer skipped).",
                  [], a.guard.gaps)
    yield gauge("stream_guard_ready", "1 when the process is ready (see /readyz), else 0.", [], int(a.ready_now()))
    yield counter("stream_guard_task_sla_breaches",
                  "Open callback tasks seen passing their SLA deadline by this process's tally (processes tally disjoint stretches of time: sum them).",
                  [], m.sla_breaches)
    q = m.queue
    if q is not None:
        yield gauge("stream_guard_tasks_open", "Open callback tasks, by priority.", ["priority"],
                    {(p,): q.by_priority.get(p, 0) for p in (*TASK_PRIORITIES, *sorted(set(q.by_priority) - set(TASK_PRIORITIES)))})
        yield gauge("stream_guard_tasks_ready", "Tasks waiting to be claimed, by language queue.", ["language"],
                    {(lang,): n for lang, n in q.ready.items()})
        yield gauge("stream_guard_tasks_claimed", "Tasks an agent holds under a lease.", [], q.leased)
        yield gauge("stream_guard_tasks_delayed", "Tasks of unreachable users waiting for their next call.", [], q.delayed)
        yield gauge("stream_guard_tasks_sla_breached", "Open tasks past their SLA deadline now.", [], q.breached)
        yield gauge("stream_guard_oldest_open_task_age_seconds", "Age of the oldest open task (0 with none).", [],
                    max(m.refreshed_at - q.oldest.timestamp(), 0.0) if q.oldest is not None and m.refreshed_at else 0.0)
    if m.freezes is not None:
        yield gauge("stream_guard_freezes_active", "Active freezes, by scope (kept by the relay; see docs/operations.md).",
                    ["scope"], {(sc,): m.freezes.get(sc, 0) for sc in (*FREEZE_SCOPES, *sorted(set(m.freezes) - set(FREEZE_SCOPES)))})
    yield gauge("stream_guard_actions_state_refreshed_timestamp_seconds",
                "When the queue and freeze gauges were last read from Redis (Unix seconds; 0: never).", [], m.refreshed_at or 0.0)


def model_metrics(scorer: Any) -> Iterator[Metric]:
    """The anomaly models' families (:class:`stream_guard.core.models.ModelScorer`)."""
    counts = scorer.counts
    yield histogram("stream_guard_model_score",
                    f"Anomaly scores, by model, of one event in {SAMPLE_EVERY} the models see (warming-up events give none).",
                    {name: c.scores for name, c in counts.items()}, label="model")
    yield gauge("stream_guard_model_warm", "1 once the model has given a score (warmed up for some user or partition).",
                ["model"], {(name,): int(c.warm) for name, c in counts.items()})
    yield counter("stream_guard_model_scored",
                  "Every event each model saw: warm enough to score it, or warming (too few observations yet).",
                  ["model", "state"],
                  {k: v for name, c in counts.items() for k, v in (((name, "scored"), c.scored), ((name, "warming"), c.warming))})
