"""The actions agent's /metrics, /healthz and /readyz, scraped from a live agent on Tansu and
a real Redis: the numbers match what was applied, promtool accepts the exposition, and
readiness follows Redis."""

from __future__ import annotations

import collections
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import orjson
import pytest
from actions_helpers import decision
from prometheus_client.parser import text_string_to_metric_families
from streaming_helpers import fresh_settings, produce_raw, replay_decisions

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.process import ActionsProcess
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.topics import ensure_topics
from stream_guard.paths import bundled
from stream_guard.stream.broker import free_port

pytestmark = pytest.mark.integration

#: Quick refreshes of the Redis-side gauges (the default is 15 s).
FAST = {"STREAM_GUARD_ACTIONS__METRICS_INTERVAL": "0.3"}


def settings_for(broker, env, **kw):
    tag = env.prefix.removeprefix("sgt-")
    return fresh_settings(broker, redis_url=env.url, freezes_topic=f"freezes-{tag}", alerts_topic=f"alerts-{tag}",
                          actions=ActionsConfig(key_prefix=env.prefix), **kw)


def agent(settings, env, tmp_path, name):
    return ActionsProcess(settings, workdir=tmp_path / name, extra_env={
        "STREAM_GUARD_ACTIONS__KEY_PREFIX": env.prefix, "STREAM_GUARD_SESSION_TIMEOUT": "6", **FAST})


def sample_decisions() -> list[dict]:
    lines = (bundled("sample") / "events.jsonl").read_bytes().splitlines()
    return replay_decisions(lines, bundled("rules"))


def get(proc, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{proc.web_port}{path}", timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def scrape(proc) -> dict[str, dict[tuple, float]]:
    """Metric name (as exposed, with _total, _bucket …) → {sorted labels: value}."""
    status, body = get(proc, "/metrics")
    assert status == 200
    out: dict[str, dict[tuple, float]] = collections.defaultdict(dict)
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            out[s.name][tuple(sorted(s.labels.items()))] = s.value
    return out


def by(samples: dict[tuple, float], label: str) -> dict[str, float]:
    out: dict[str, float] = collections.Counter()
    for labels, v in samples.items():
        out[dict(labels)[label]] += v
    return dict(out)


def wait_metrics(proc, predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            m = scrape(proc)
        except urllib.error.URLError:  # the web server is not up yet
            m = None
        if m is not None and predicate(m):
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen in {timeout:g}s\n{proc.log_tail()}")
        assert proc.alive(), proc.log_tail()
        time.sleep(0.3)


def test_live_agent_metrics_match_what_was_applied(broker, env, tmp_path):
    # the sample's decisions, and a shadow one: recorded, never acted on
    decisions = [*sample_decisions(), decision(2, user="u-shadow", mode="shadow")]
    # one task of our own due in a second: its SLA breach is seen while the agent runs
    urgent = decision(1, user="u-sla", actions=[{"kind": "callback", "priority": "critical", "sla": 1.0, "reason": "call"}])
    s = settings_for(broker, env)
    ensure_topics(s)
    records = [(s.decisions_topic, d["user_id"].encode(), orjson.dumps(d)) for d in decisions]
    records.append((s.decisions_topic, b"u-bad", b"{not json"))
    produce_raw(s, records)
    n = len(decisions)
    modes = collections.Counter("shadow" if d.get("mode") == "shadow" else "enforce" for d in decisions)
    freeze_actions = collections.Counter(x.get("scope", "withdrawals") for d in decisions for x in d["actions"]
                                         if x["kind"] == "freeze" and d.get("mode") != "shadow")
    with agent(s, env, tmp_path, "m1") as proc:
        stats = proc.wait_for(lambda st: st.get("decisions", 0) >= n and st.get("invalid", 0) == 1
                              and st.get("published_freezes", 0) >= sum(freeze_actions.values()), 60, "the actions agent")
        produce_raw(s, [(s.decisions_topic, b"u-sla", orjson.dumps(urgent))])
        m = wait_metrics(proc, lambda m: m["stream_guard_task_sla_breaches_total"].get((), 0) >= 1
                         and m["stream_guard_actions_state_refreshed_timestamp_seconds"][()] > time.time() - 5,
                         30, "the SLA breach")

        # what became of every message read
        got = {dict(k)["mode"] + "/" + dict(k)["outcome"]: v for k, v in m["stream_guard_actions_decisions_total"].items()}
        assert got == {"enforce/applied": modes["enforce"] + 1, "shadow/applied": modes["shadow"], "unknown/invalid": 1}
        acts = {(dict(k)["kind"], dict(k)["result"]): v for k, v in m["stream_guard_actions_total"].items()}
        assert acts[("freeze", "placed")] == stats["freezes"] == sum(freeze_actions.values())
        assert acts[("task", "created")] == stats["tasks_created"] + 1
        assert acts.get(("task", "merged"), 0) == stats.get("tasks_merged", 0)
        sent = acts.get(("alert", "sent"), 0) + acts.get(("remind", "sent"), 0)
        assert sent == stats["alerts"] > 0
        suppressed = m["stream_guard_alert_suppressions_total"]
        assert sum(suppressed.values()) == stats.get("suppressed", 0)
        assert acts.get(("alert", "suppressed"), 0) + acts.get(("remind", "suppressed"), 0) == stats.get("suppressed", 0)
        assert not any(r == "failed" for _k, r in acts)
        assert m["stream_guard_action_apply_seconds_count"][()] == n + 1
        assert by(m["stream_guard_relay_published_total"], "topic") == {
            "freezes": stats["published_freezes"], "alerts": stats["published_alerts"]}
        lag = m["stream_guard_consumer_lag_messages"]
        assert len(lag) == s.partitions and set(lag.values()) == {0}
        assert m["stream_guard_assigned_partitions"][(("stream", "decisions"),)] == s.partitions
        assert m["stream_guard_relay_leader"][()] == 1 and m["stream_guard_ready"][()] == 1
        assert m["stream_guard_offset_gaps_total"][()] == 0

        # the Redis-side gauges agree with the library reading Redis itself
        async def state(store):
            return await TaskQueue(store).counts()

        env.clock.t = time.time()
        q = env.run(state)
        assert by(m["stream_guard_tasks_open"], "priority") == {p: q.by_priority.get(p, 0) for p in ("critical", "high", "medium", "low")}
        assert sum(m["stream_guard_tasks_open"].values()) == q.open == stats["tasks_created"] + 1
        assert by(m["stream_guard_tasks_ready"], "language") == q.ready
        assert m["stream_guard_tasks_sla_breached"][()] >= 1
        assert 0 < m["stream_guard_oldest_open_task_age_seconds"][()] < 600
        assert by(m["stream_guard_freezes_active"], "scope") == {sc: freeze_actions.get(sc, 0) for sc in ("withdrawals", "login", "all")}

        # an analyst lifts one freeze: the relay publishes it, the gauge follows
        user = next(d["user_id"] for d in decisions if d.get("mode") != "shadow" and any(x["kind"] == "freeze" for x in d["actions"]))

        async def lift(store):
            return await FreezeRegistry(store).lift(user, reason="called back: it was them", by="analyst-1")

        lifted = env.run(lift)
        assert lifted
        scope_total = sum(freeze_actions.values()) - len(lifted)
        m = wait_metrics(proc, lambda m: sum(m["stream_guard_freezes_active"].values()) == scope_total, 30, "the lift")

        status, body = get(proc, "/healthz")
        assert status == 200 and orjson.loads(body)["status"] == "alive"
        status, body = get(proc, "/readyz")
        ready = orjson.loads(body)
        assert status == 200 and ready["state"] == "ready" and ready["redis"] == "ok"
        assert ready["partitions"] == list(range(s.partitions))

        promtool = shutil.which("promtool")
        assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
        _, body = get(proc, "/metrics")
        res = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
        assert res.returncode == 0, (res.stdout + res.stderr).decode()


def test_not_ready_while_redis_is_away(broker, env, tmp_path):
    """Nothing listens at the agent's Redis URL: alive, not ready, Redis errors counted."""
    s = fresh_settings(broker, redis_url=f"redis://127.0.0.1:{free_port()}/0",
                       freezes_topic=f"freezes-{env.prefix}", alerts_topic=f"alerts-{env.prefix}")
    ensure_topics(s)
    with agent(s, env, tmp_path, "away") as proc:
        m = wait_metrics(proc, lambda m: m["stream_guard_redis_errors_total"].get((("operation", "refresh"),), 0) >= 2,
                         60, "the failed refreshes")
        assert m["stream_guard_ready"][()] == 0
        assert "stream_guard_tasks_open" not in m  # never read: no made-up zeros
        status, _ = get(proc, "/healthz")
        assert status == 200
        status, body = get(proc, "/readyz")
        assert status == 503 and orjson.loads(body)["redis"] == "unreachable"
