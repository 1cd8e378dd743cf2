"""Write prometheus-rule.yaml (a PrometheusRule of the Prometheus Operator) from
deploy/prometheus/alerts.yml: ``python deploy/k8s/render_rules.py``. The tests check that
the two say the same."""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ALERTS = HERE.parent / "prometheus" / "alerts.yml"
OUT = HERE / "prometheus-rule.yaml"


def render() -> str:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "stream-guard", "namespace": "stream-guard", "labels": {"app.kubernetes.io/part-of": "stream-guard"}},
        "spec": {"groups": groups},
    }
    head = "# Made by render_rules.py from deploy/prometheus/alerts.yml: edit that, then run it.\n"
    return head + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=1000)


if __name__ == "__main__":
    OUT.write_text(render())
