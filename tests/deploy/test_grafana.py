"""The dashboard: the committed JSON is what the generator makes, every query parses and uses
only metrics (and labels) Stream Guard exports, and the provisioning loads it with the
datasource its queries name."""

from __future__ import annotations

import importlib.util
import json

import yaml
from deploy_helpers import DEPLOY, GRAFANA_VAR, check_expr, known_metrics, promql_uses

GRAFANA = DEPLOY / "grafana"
#: What Grafana puts for its macros before the query reaches Prometheus (values for parsing).
MACROS = {"__rate_interval": "1m", "__interval": "30s", "__range": "3h"}


def generator():
    spec = importlib.util.spec_from_file_location("sg_dashboard", GRAFANA / "dashboard.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def dashboard() -> dict:
    return json.loads((GRAFANA / "dashboards" / "stream-guard.json").read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def test_the_committed_json_is_what_the_generator_makes():
    assert (GRAFANA / "dashboards" / "stream-guard.json").read_text() == generator().render(), (
        "deploy/grafana/dashboards/stream-guard.json is stale: run python deploy/grafana/dashboard.py")


def test_every_query_uses_only_metrics_that_exist():
    known = known_metrics()
    problems, used = [], set()
    for p in panels():
        assert p["targets"], p["title"]
        for t in p["targets"]:
            expr = GRAFANA_VAR.sub(lambda m: MACROS[next(g for g in m.groups() if g)], t["expr"])
            problems += check_expr(expr, known, f"panel {p['title']!r} {t['refId']}")
            used |= promql_uses(expr).metrics
    assert problems == []
    # the panels the issue asks for, by the metrics they show
    for name in ("stream_guard_events_total", "stream_guard_consumer_lag_messages", "stream_guard_event_lag_seconds_bucket",
                 "stream_guard_event_processing_seconds_bucket", "stream_guard_state_flush_seconds_bucket",
                 "stream_guard_rule_matches_total", "stream_guard_decisions_total", "stream_guard_actions_total",
                 "stream_guard_tasks_open", "stream_guard_tasks_sla_breached", "stream_guard_freezes_active",
                 "stream_guard_dead_letters_total", "stream_guard_model_score_bucket", "stream_guard_gc_full_seconds_total",
                 "stream_guard_rules_version", "stream_guard_rule_reload_failures_total"):
        assert name in used, f"no panel shows {name}"


def test_the_provisioning_loads_the_dashboard_with_its_datasource():
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    uids = {d["uid"]: d["type"] for d in ds}
    refs = {(p["datasource"]["type"], p["datasource"]["uid"]) for p in panels()}
    refs |= {(t["datasource"]["type"], t["datasource"]["uid"]) for p in panels() for t in p["targets"]}
    assert refs == {("prometheus", "prometheus")} and uids.get("prometheus") == "prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "stream-guard.yml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts


def test_the_layout_is_sound():
    d = dashboard()
    assert d["uid"] == "stream-guard" and d["title"] == "Stream Guard"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
    for p in panels():
        assert p["description"], p["title"]
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]


def test_the_query_check_catches_mistakes():
    known = known_metrics()
    assert check_expr("sum by (stream) (rate(stream_guard_events_total[5m]))", known, "ok") == []
    assert check_expr("rate(stream_guard_event_total[5m])", known, "q") == ["q: unknown metric stream_guard_event_total"]
    assert check_expr('stream_guard_tasks_open{priorty="high"}', known, "q") == [
        "q: stream_guard_tasks_open has no label 'priorty' (it has ['priority'])"]
    assert check_expr("sum by (rule) (stream_guard_rule_matches_total)", known, "q") == [
        "q: groups by 'rule', which none of its metrics has"]
    assert check_expr("sum(rate(stream_guard_events_total[5m])", known, "q")[0].startswith("q: does not parse")
