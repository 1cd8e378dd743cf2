"""The actions agent end to end: decisions topic in, Redis state and the freezes and alerts
topics out — on the embedded Tansu broker and a real Redis; replay and restart change nothing."""

from __future__ import annotations

import collections
import http.server
import threading
import time
from typing import ClassVar

import orjson
import pytest
from streaming_helpers import fresh_settings, produce_raw, read_to_end, replay_decisions

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.process import ActionsProcess
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.topics import ensure_topics
from stream_guard.paths import bundled

pytestmark = pytest.mark.integration


def settings_for(broker, env, **kw):
    tag = env.prefix.removeprefix("sgt-")
    return fresh_settings(broker, redis_url=env.url, freezes_topic=f"freezes-{tag}", alerts_topic=f"alerts-{tag}",
                          actions=ActionsConfig(key_prefix=env.prefix), **kw)


def agent(settings, env, tmp_path, name):
    # a short session: the restarted agent joins the group sooner
    return ActionsProcess(settings, workdir=tmp_path / name, extra_env={
        "STREAM_GUARD_ACTIONS__KEY_PREFIX": env.prefix, "STREAM_GUARD_SESSION_TIMEOUT": "6"})


def sample_decisions() -> list[dict]:
    lines = (bundled("sample") / "events.jsonl").read_bytes().splitlines()
    return replay_decisions(lines, bundled("rules"))


class Hook(http.server.BaseHTTPRequestHandler):
    """The notification service's webhook: records what it is sent; the first two tries of
    every third alert fail with 503. Per alert, not per request: with concurrent deliveries a
    global "every third request" could land one alert's six tries all on failures."""

    got: ClassVar[list[dict]] = []
    order: ClassVar[dict[str, int]] = {}  # alert id -> when it was first seen
    tries: ClassVar[collections.Counter] = collections.Counter()
    failed = 0
    lock = threading.Lock()  # the server answers each request on a thread of its own

    def do_POST(self):
        body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
        key = body["alert_id"]
        with Hook.lock:
            Hook.tries[key] += 1
            fail = Hook.order.setdefault(key, len(Hook.order)) % 3 == 2 and Hook.tries[key] <= 2
            Hook.failed += fail
        if fail:
            self.send_response(503)
        else:
            Hook.got.append(body)
            self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_decisions_become_tasks_freezes_and_alerts_once(broker, env, tmp_path):
    decisions = sample_decisions()
    s = settings_for(broker, env)
    ensure_topics(s)
    produce_raw(s, [(s.decisions_topic, d["user_id"].encode(), orjson.dumps(d)) for d in decisions])
    n = len(decisions)
    freeze_actions = sum(1 for d in decisions for x in d["actions"] if x["kind"] == "freeze")
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    a = agent(s, env, tmp_path, "a1")
    a.extra_env.update(STREAM_GUARD_ACTIONS__WEBHOOK_URL=f"http://127.0.0.1:{hook.server_port}/",
                       STREAM_GUARD_ACTIONS__WEBHOOK_BACKOFF="0.05")
    try:
        with a:
            stats = a.wait_for(lambda st: st.get("decisions", 0) >= n and st.get("published_freezes", 0) >= freeze_actions
                               and st.get("published_alerts", 0) >= st.get("alerts", 0)
                               and st.get("published_webhook_delivered", 0) >= st.get("alerts", 0), 60, "the actions agent")
    finally:
        hook.shutdown()
    assert stats.get("published_webhook_failed", 0) == 0  # the 503s were retried
    assert stats["published_webhook_retries"] == Hook.failed > 0
    assert len({m["alert_id"] for m in Hook.got}) == len(Hook.got) == stats["alerts"]

    task_users = {d["user_id"] for d in decisions if any(x["kind"] in ("callback", "freeze") for x in d["actions"])}
    assert stats["applied"] == n and stats["freezes"] == freeze_actions and stats["tasks_created"] == len(task_users)

    async def state(store):
        q, fr = TaskQueue(store), FreezeRegistry(store)
        counts = await q.counts()
        frozen = {u for u in task_users if (await fr.status(u)).withdrawals_frozen}
        alerts = sum([await store.client.xlen(store.keys.alerts(u)) for u in {d["user_id"] for d in decisions}])
        return counts, frozen, alerts, await store.counters()

    env.clock.t = time.time()  # the agent runs on the wall clock
    counts, frozen, alerts, counters = env.run(state)
    assert counts.open == len(task_users)
    assert frozen == {d["user_id"] for d in decisions if any(x["kind"] == "freeze" for x in d["actions"])}
    assert alerts == stats["alerts"] > 0
    assert counters["decisions_enforce"] == sum(1 for d in decisions if d["mode"] == "enforce")

    out = read_to_end(s, [s.freezes_topic, s.alerts_topic])
    by_topic = collections.Counter(r.topic for r in out)
    assert by_topic[s.freezes_topic] == freeze_actions and by_topic[s.alerts_topic] == alerts
    change = orjson.loads(next(r.value for r in out if r.topic == s.freezes_topic))
    assert change["action"] == "freeze" and change["frozen"]["withdrawals"] and change["decision_ids"]
    alert = orjson.loads(next(r.value for r in out if r.topic == s.alerts_topic))
    assert alert["title"] and alert["language"] in ("ko", "en", "zh")
    assert all(r.key.decode() == orjson.loads(r.value)["user_id"] for r in out)

    # the same decisions again, and a new agent process in the same group: nothing new
    produce_raw(s, [(s.decisions_topic, d["user_id"].encode(), orjson.dumps(d)) for d in decisions])
    with agent(s, env, tmp_path, "a2") as a:
        again = a.wait_for(lambda st: st.get("decisions", 0) >= n, 60, "the restarted agent")
    assert again.get("applied", 0) == 0 and again["replayed"] == n
    assert env.run(state)[:3] == (counts, frozen, alerts)
    assert collections.Counter(r.topic for r in read_to_end(s, [s.freezes_topic, s.alerts_topic])) == by_topic
