"""The alert rules and the scrape config: promtool checks and unit-tests them; every alert
uses metrics that exist, is tested firing, and has a runbook entry."""

from __future__ import annotations

import re

import pytest
import yaml
from deploy_helpers import DEPLOY, ROOT, check_expr, known_metrics, run_promtool

PROM = DEPLOY / "prometheus"


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_checks_the_rules_and_the_config():
    out = run_promtool("check", "rules", "alerts.yml", cwd=PROM)
    assert f"SUCCESS: {len(alert_rules())} rules found" in out
    run_promtool("check", "config", "prometheus.yml", cwd=PROM)


def test_promtool_runs_the_alerts_unit_tests():
    out = run_promtool("test", "rules", "alerts_test.yml", cwd=PROM)
    assert "SUCCESS" in out


def test_every_alert_is_tested_firing_and_has_a_runbook_entry():
    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())
    firing = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"] if c.get("exp_alerts")}
    quiet = {c["alertname"] for t in tests["tests"] for c in t["alert_rule_test"] if not c.get("exp_alerts")}
    names = [r["alert"] for r in alert_rules()]
    assert len(names) == len(set(names))
    assert set(names) - firing == set(), "alerts never tested firing"
    assert set(names) - quiet == set(), "alerts never tested staying quiet"
    doc = (ROOT / "docs" / "operations.md").read_text()
    anchors = {m.lower() for m in re.findall(r"^### (\w+)", doc, re.M)}
    for r in alert_rules():
        assert r["labels"]["severity"] in ("critical", "warning"), r["alert"]
        assert r["annotations"]["runbook"] == f"docs/operations.md#{r['alert'].lower()}"
        assert r["alert"].lower() in anchors, f"no runbook entry '### {r['alert']}' in docs/operations.md"


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alerts_use_only_metrics_that_exist(rule):
    assert check_expr(rule["expr"], known_metrics(), rule["alert"]) == []


def test_the_scrape_jobs_are_the_ones_the_alerts_name():
    cfg = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"] for j in cfg["scrape_configs"]}
    assert {"stream-guard-worker", "stream-guard-actions", "stream-guard-api"} <= jobs
    assert cfg["rule_files"] == ["alerts.yml"]
