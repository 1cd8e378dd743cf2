"""The Stream Guard dashboard, as code: ``python deploy/grafana/dashboard.py`` writes
``deploy/grafana/dashboards/stream-guard.json``, which Grafana loads on start through
``provisioning/`` (tests/deploy/test_grafana.py checks that the two are in step, and that
every query uses only metrics Stream Guard exports).

Built with grafana-foundation-sdk (Grafana's own builders, Apache-2.0). Every query reads
the datasource provisioned with uid ``prometheus``. Counters are shown as rates summed over
the processes; gauges of state the actions agents share (the task queue, the freezes) come
from every agent with the same value, so they are aggregated with ``max``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
    VizTooltipOptions,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    StackingMode,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards" / "stream-guard.json"
UID = "stream-guard"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
RATE = "$__rate_interval"


def q(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").ref_id(ref).datasource(DATASOURCE)


def series(title: str, description: str, queries: list[tuple[str, str]], *, unit: str = "short",
           stacked: bool = False, width: int = 12, height: int = 8) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
         .span(width).height(height).fill_opacity(10).line_width(1)
         .legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM).show_legend(True))
         .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))
    if stacked:
        p = p.stacking(StackingConfig().mode(StackingMode.NORMAL)).fill_opacity(40)
    for i, (expr, legend) in enumerate(queries):
        p = p.with_target(q(expr, legend, chr(ord("A") + i)))
    return p


def single(title: str, description: str, expr: str, *, unit: str = "short", legend: str = "") -> stat.Panel:
    return (stat.Panel().title(title).description(description).datasource(DATASOURCE).unit(unit)
            .span(3).height(4).graph_mode(BigValueGraphMode.AREA)
            .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False)).with_target(q(expr, legend)))


def quantiles(metric: str, by: str = "", qs: tuple[float, ...] = (0.5, 0.9, 0.99)) -> list[tuple[str, str]]:
    group = f"le, {by}" if by else "le"
    label = f"{{{{{by}}}}} " if by else ""
    return [(f"histogram_quantile({x}, sum by ({group}) (rate({metric}_bucket[{RATE}])))", f"{label}p{round(x * 100)}")
            for x in qs]


def build() -> dict:
    d = (dashboard.Dashboard("Stream Guard").uid(UID).tags(["stream-guard"]).time("now-3h", "now")
         .refresh("30s").timezone("browser").tooltip(DashboardCursorSync.CROSSHAIR).editable()
         .description("Detection workers, the actions agents and the HTTP API: do they keep up, what do they decide, is anything going wrong. Runbook: docs/operations.md."))

    d = d.with_row(dashboard.Row("At a glance"))
    for p in (
        single("Events read /s", "Every message the workers read from logins and transfers (valid and dead-lettered).",
               f"sum(rate(stream_guard_events_total[{RATE}]))", unit="ops"),
        single("Input lag (messages)", "Messages in logins and transfers not yet read, all partitions.",
               'sum(stream_guard_consumer_lag_messages{stream!="decisions"})'),
        single("Event-time lag p99", "Wall clock minus the event's ts when it is evaluated.",
               f"histogram_quantile(0.99, sum by (le) (rate(stream_guard_event_lag_seconds_bucket[{RATE}])))", unit="s"),
        single("Decisions /s", "Decisions published by the workers (enforce and shadow).",
               f"sum(rate(stream_guard_decisions_total[{RATE}]))", unit="ops"),
        single("Open callback tasks", "The support desk's queue (all priorities).", "sum(max by (priority) (stream_guard_tasks_open))"),
        single("Tasks past SLA", "Open callback tasks past their deadline now.", "max(stream_guard_tasks_sla_breached)"),
        single("Active freezes", "Freezes in force, all scopes.", "sum(max by (scope) (stream_guard_freezes_active))"),
        single("Targets up", "Processes Prometheus scrapes, by job.", 'sum by (job) (up{job=~"stream-guard-.*"})', legend="{{job}}"),
    ):
        d = d.with_panel(p)

    d = d.with_row(dashboard.Row("Throughput and lag"))
    for p in (
        series("Throughput", "Messages read per second, by stream and outcome (valid, dead_lettered, late, redelivered …).",
               [(f"sum by (stream, outcome) (rate(stream_guard_events_total[{RATE}]))", "{{stream}} {{outcome}}")], unit="ops", stacked=True),
        series("Consumer lag", "Messages not yet read, by consumer (job) and stream; decisions is the actions agents' input.",
               [("sum by (job, stream) (stream_guard_consumer_lag_messages)", "{{job}} {{stream}}")]),
        series("Event-time lag", "Wall clock minus the event's ts when the event is evaluated (a backlog shows here first).",
               quantiles("stream_guard_event_lag_seconds"), unit="s"),
        series("Processing time per event", "The worker's own work per event (parse, event-time merge, detection).",
               quantiles("stream_guard_event_processing_seconds"), unit="s"),
        series("State flush latency", "Seconds to write one flush of changed states to the changelog, by table.",
               quantiles("stream_guard_state_flush_seconds", "table", (0.5, 0.99)), unit="s"),
        series("Held for the event-time merge", "Events waiting for the other input topic; contributions waiting for every source's watermark.",
               [("sum(stream_guard_events_held)", "events held"), ("sum(stream_guard_group_items_held)", "group items held")]),
        series("Partitions per process", "Assigned partitions, by process and stream (replicas beyond the partition count sit idle).",
               [("sum by (instance, stream) (stream_guard_assigned_partitions)", "{{instance}} {{stream}}")]),
        series("State writes", "Changed states written to the changelog per second, by table.",
               [(f"sum by (table) (rate(stream_guard_state_writes_total[{RATE}]))", "{{table}}")], unit="ops"),
    ):
        d = d.with_panel(p)

    d = d.with_row(dashboard.Row("Detection"))
    for p in (
        series("Matches per rule", "Decisions made per second by each rule, by mode (enforce, shadow).",
               [(f"sum by (rule_id, mode) (rate(stream_guard_rule_matches_total[{RATE}]))", "{{rule_id}} ({{mode}})")], unit="ops"),
        series("Decisions by severity", "Decisions published per second, by severity and mode.",
               [(f"sum by (severity, mode) (rate(stream_guard_decisions_total[{RATE}]))", "{{severity}} {{mode}}")], unit="ops", stacked=True),
        series("Dead letters by reason", "Invalid messages sent to the dead-letter topic per second, by error code (docs/errors.md).",
               [(f"sum by (reason) (rate(stream_guard_dead_letters_total[{RATE}]))", "{{reason}}")], unit="ops", stacked=True),
        series("Rule set", "Version of the published rule set in force on each worker (0: the rules directory), and rule sets that failed to load.",
               [("stream_guard_rules_version", "{{instance}} version"),
                ("sum by (instance) (increase(stream_guard_rule_reload_failures_total[1h]))", "{{instance}} reload failures (1h)"),
                ("max(stream_guard_rules_loaded)", "rules loaded")]),
        series("Model scores", "Anomaly scores in [0, 1] per model: median and p99.",
               quantiles("stream_guard_model_score", "model", (0.5, 0.99)), unit="percentunit"),
        series("Model warm-up", "Models warmed up (1) and events scored or still warming, per second.",
               [("max by (model) (stream_guard_model_warm)", "{{model}} warm"),
                (f"sum by (model, state) (rate(stream_guard_model_scored_total[{RATE}]))", "{{model}} {{state}} /s")]),
    ):
        d = d.with_panel(p)

    d = d.with_row(dashboard.Row("Actions"))
    for p in (
        series("Actions", "What the decisions' actions became per second, by kind (task, freeze, alert, remind) and result.",
               [(f"sum by (kind, result) (rate(stream_guard_actions_total[{RATE}]))", "{{kind}} {{result}}")], unit="ops"),
        series("Failures", "Decisions skipped after an error, relay rounds failed, webhook alerts given up, retries.",
               [(f'sum(rate(stream_guard_actions_decisions_total{{outcome="failed"}}[{RATE}]))', "decisions failed"),
                (f'sum by (kind) (rate(stream_guard_actions_total{{result="failed"}}[{RATE}]))', "{{kind}} actions failed"),
                (f"sum(rate(stream_guard_relay_failures_total[{RATE}]))", "relay rounds failed"),
                (f'sum(rate(stream_guard_webhook_deliveries_total{{result="failed"}}[{RATE}]))', "webhook given up"),
                (f"sum by (kind) (rate(stream_guard_action_retries_total[{RATE}]))", "{{kind}} retries")], unit="ops"),
        series("Decisions consumed", "Messages the actions agents read from the decisions topic, by mode and outcome.",
               [(f"sum by (mode, outcome) (rate(stream_guard_actions_decisions_total[{RATE}]))", "{{mode}} {{outcome}}")], unit="ops"),
        series("Task queue", "Open callback tasks by priority (stacked).",
               [("max by (priority) (stream_guard_tasks_open)", "{{priority}}")], stacked=True),
        series("Tasks by state", "Tasks waiting to be claimed per language queue, claimed under a lease, waiting to call an unreachable user again.",
               [("max by (language) (stream_guard_tasks_ready)", "ready {{language}}"),
                ("max(stream_guard_tasks_claimed)", "claimed"), ("max(stream_guard_tasks_delayed)", "delayed")]),
        series("Task SLA", "Open tasks past their deadline now, breaches seen in the last hour, age of the oldest open task.",
               [("max(stream_guard_tasks_sla_breached)", "past SLA now"),
                ("sum(increase(stream_guard_task_sla_breaches_total[1h]))", "breaches (1h)"),
                ("max(stream_guard_oldest_open_task_age_seconds) / 3600", "oldest open task (hours)")]),
        series("Freezes by scope", "Active freezes per scope (withdrawals, login, all), and timed ones expiring.",
               [("max by (scope) (stream_guard_freezes_active)", "{{scope}}"),
                (f"sum(rate(stream_guard_freeze_expirations_total[{RATE}])) * 3600", "expired /h")]),
        series("Alerts", "Alerts and reminders sent and held back (by reason), webhook deliveries, per second.",
               [(f'sum by (kind) (rate(stream_guard_actions_total{{kind=~"alert|remind", result="sent"}}[{RATE}]))', "{{kind}} sent"),
                (f"sum by (kind, reason) (rate(stream_guard_alert_suppressions_total[{RATE}]))", "{{kind}} {{reason}}"),
                (f"sum by (result) (rate(stream_guard_webhook_deliveries_total[{RATE}]))", "webhook {{result}}")], unit="ops"),
        series("Applying a decision", "Seconds to apply one decision's actions in Redis (waits for Redis included).",
               quantiles("stream_guard_action_apply_seconds"), unit="s"),
        series("Published", "Freeze changes and alerts the relay published to Kafka, per second.",
               [(f"sum by (topic) (rate(stream_guard_relay_published_total[{RATE}]))", "{{topic}}")], unit="ops"),
    ):
        d = d.with_panel(p)

    d = d.with_row(dashboard.Row("Health"))
    for p in (
        series("Ready", "1 when a process is ready (/readyz): the worker in its group with its tables recovered, the agent with Redis too.",
               [("stream_guard_ready", "{{job}} {{instance}}")]),
        series("Errors", "Broker and Redis operations that failed, per second, by operation.",
               [(f"sum by (job, operation) (rate(stream_guard_broker_errors_total[{RATE}]))", "broker {{job}} {{operation}}"),
                (f"sum by (job, operation) (rate(stream_guard_redis_errors_total[{RATE}]))", "redis {{job}} {{operation}}")], unit="ops"),
        series("Offset gaps", "Jumps in partitions' offsets in the last hour: messages that were never delivered (a data-loss tripwire).",
               [("sum by (job, instance) (increase(stream_guard_offset_gaps_total[1h]))", "{{instance}}")]),
        series("Actions agents", "Which agent holds the relay lease, and how old the queue and freeze gauges are (read every 15 s).",
               [("stream_guard_relay_leader", "{{instance}} relays"),
                ("time() - max(stream_guard_actions_state_refreshed_timestamp_seconds)", "gauges age (s)")]),
        series("GC pauses", "Seconds per second the workers spent in their scheduled full garbage collections, and collections per hour.",
               [(f"sum by (instance) (rate(stream_guard_gc_full_seconds_total[{RATE}]))", "{{instance}} s/s"),
                ("sum by (instance) (increase(stream_guard_gc_full_collections_total[1h]))", "{{instance}} collections (1h)")]),
    ):
        d = d.with_panel(p)

    d = d.with_row(dashboard.Row("HTTP API"))
    for p in (
        series("Requests", "API requests per second, by route and status.",
               [(f"sum by (route, status) (rate(stream_guard_http_requests_total[{RATE}]))", "{{route}} {{status}}")], unit="reqps"),
        series("Request latency", "API request duration by route: p50 and p99.",
               quantiles("stream_guard_http_request_duration_seconds", "route", (0.5, 0.99)), unit="s"),
    ):
        d = d.with_panel(p)
    out = json.loads(json.dumps(d.build(), cls=JSONEncoder))
    for i, panel in enumerate(out["panels"], start=1):  # stable ids: links and Grafana's state use them
        panel["id"] = i
    for key in ("annotations", "templating"):
        out[key] = out.get(key) or {"list": []}
    return out


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
