"""The Kubernetes manifests, checked without a cluster: every built-in resource against the
Kubernetes OpenAPI schemas (kubernetes-validate, strict: unknown fields fail), and what the
schemas cannot see — probes on the right paths and ports, resources, selectors that select,
settings that exist, commands the CLI takes, replicas within the partitions, the alert rules
in step with deploy/prometheus/alerts.yml."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from deploy_helpers import DEPLOY, check_cli

from stream_guard.settings import Settings

K8S = DEPLOY / "k8s"
#: The oldest Kubernetes the manifests are meant for, and the newest the package knows.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
CRDS = {"monitoring.coreos.com/v1"}


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests() -> list[tuple[str, dict]]:
    files = sorted(K8S.glob("*.yaml")) + sorted((K8S / "secrets").glob("*.yaml"))
    return [(f"{p.relative_to(K8S)}:{d['kind']}/{d['metadata']['name']}", d) for p in files for d in docs(p)]


def by_kind(kind: str) -> list[dict]:
    return [d for _, d in manifests() if d["kind"] == kind]


def workloads() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] in ("Deployment", "StatefulSet", "Job")}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_resource_is_valid_kubernetes(version):
    checked, problems = 0, []
    for where, doc in manifests():
        if doc["apiVersion"] in CRDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message}")
        checked += 1
    assert problems == [] and checked >= 12


def test_the_validation_catches_mistakes():
    sts = copy.deepcopy(workloads()["stream-guard-worker"])
    sts["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, VERSIONS[-1], strict=True)
    sts = copy.deepcopy(workloads()["stream-guard-worker"])
    sts["spec"]["replicas"] = "four"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(sts, VERSIONS[-1], strict=True)


def containers(w: dict) -> list[dict]:
    return w["spec"]["template"]["spec"]["containers"]


@pytest.mark.parametrize(("name", "live", "ready"), [
    ("stream-guard-worker", "/healthz", "/readyz"),
    ("stream-guard-actions", "/healthz", "/readyz"),
    ("stream-guard-api", "/health/live", "/health/ready"),
])
def test_services_have_probes_resources_and_a_safe_context(name, live, ready):
    w = workloads()[name]
    (c,) = containers(w)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe, path in (("livenessProbe", live), ("readinessProbe", ready)):
        get = c[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ports, (name, probe)
    args = c["args"]
    port_flag = "--web-port" if "--web-port" in args else "--port"
    assert int(args[args.index(port_flag) + 1]) in ports.values()
    r = c["resources"]
    assert {"cpu", "memory"} <= set(r["requests"]) and "memory" in r["limits"]
    pod = w["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["allowPrivilegeEscalation"] is False
    ann = w["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) in ports.values()


def test_commands_are_ones_the_cli_takes_and_images_agree():
    images = set()
    for w in workloads().values():
        for c in containers(w):
            assert check_cli(c["args"]) is None, c["args"]
            images.add(c["image"])
    assert len(images) == 1


def test_selectors_select():
    pods = {name: w["spec"]["template"]["metadata"]["labels"] for name, w in workloads().items()}
    services = {s["metadata"]["name"]: s for s in by_kind("Service")}

    def selects(selector: dict) -> list[str]:
        return [n for n, labels in pods.items() if selector.items() <= labels.items()]

    for name, w in workloads().items():
        if w["kind"] != "Job":
            assert w["spec"]["selector"]["matchLabels"].items() <= pods[name].items()
    for s in services.values():
        assert selects(s["spec"]["selector"]) == [s["metadata"]["name"]]
        (c,) = containers(workloads()[s["metadata"]["name"]])
        assert {p["targetPort"] for p in s["spec"]["ports"]} <= {p["name"] for p in c["ports"]}
    for pdb in by_kind("PodDisruptionBudget"):
        assert selects(pdb["spec"]["selector"]["matchLabels"]) == [pdb["metadata"]["name"]]
    monitors = by_kind("ServiceMonitor")
    assert {m["metadata"]["name"] for m in monitors} == {"stream-guard-worker", "stream-guard-actions", "stream-guard-api"}
    for m in monitors:  # the job label is the Service's name: as the alerts expect
        (svc,) = [s for s in services.values() if m["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        assert svc["metadata"]["name"] == m["metadata"]["name"]
        assert {e["port"] for e in m["spec"]["endpoints"]} <= {p["name"] for p in svc["spec"]["ports"]}
    assert sts_volume_mounted()


def sts_volume_mounted() -> bool:
    sts = workloads()["stream-guard-worker"]
    (c,) = containers(sts)
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    config = by_kind("ConfigMap")[0]["data"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    return mounts[claim["metadata"]["name"]] == config["STREAM_GUARD_DATA_DIR"] and config["STREAM_GUARD_STORE"] == "rocksdb"


def test_workers_do_not_outnumber_the_partitions():
    config = by_kind("ConfigMap")[0]["data"]
    partitions = int(config["STREAM_GUARD_PARTITIONS"])
    assert workloads()["stream-guard-worker"]["spec"]["replicas"] <= partitions
    assert workloads()["stream-guard-actions"]["spec"]["replicas"] <= partitions


def setting_exists(key: str) -> bool:
    """Whether STREAM_GUARD_<KEY> names a setting."""
    path = key.removeprefix("STREAM_GUARD_").lower().split("__")
    model = Settings
    for part in path:
        field = model.model_fields.get(part)
        if field is None:
            return False
        model = field.annotation
    return True


def test_the_settings_exist_and_load(monkeypatch):
    config = by_kind("ConfigMap")[0]["data"]
    (secret,) = by_kind("Secret")
    env = {**config, **secret["stringData"]}
    for key in env:
        assert key.startswith("STREAM_GUARD_") and setting_exists(key), key
    assert setting_exists("STREAM_GUARD_ACTIONS__WEBHOK_URL") is False and setting_exists("STREAM_GUARD_BROKERS") is False
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.partitions == int(config["STREAM_GUARD_PARTITIONS"]) and s.store == "rocksdb"
    assert s.actions.webhook_url == secret["stringData"]["STREAM_GUARD_ACTIONS__WEBHOOK_URL"]
    referenced = {e[k]["name"] for w in workloads().values() for c in containers(w) for e in c.get("envFrom", [])
                  for k in ("configMapRef", "secretRef") if k in e}
    assert referenced == {"stream-guard-config", "stream-guard-secrets"}


def test_the_prometheus_rule_is_alerts_yml():
    spec = importlib.util.spec_from_file_location("render_rules", K8S / "render_rules.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (K8S / "prometheus-rule.yaml").read_text() == mod.render(), "stale: run python deploy/k8s/render_rules.py"
    (rule,) = by_kind("PrometheusRule")
    assert rule["spec"]["groups"] == yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
