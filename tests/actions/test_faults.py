"""Redis goes away and comes back: the agent waits, commits nothing undone, and nothing is
lost or applied twice — against a real redis-server this test starts, stops and restarts."""

from __future__ import annotations

import time

import orjson
import pytest
from actions_helpers import Env, decision
from streaming_helpers import fresh_settings, produce_raw

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.process import ActionsProcess
from stream_guard.actions.server import RedisServer
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.topics import ensure_topics

pytestmark = pytest.mark.integration

ACTIONS = [{"kind": "freeze", "scope": "withdrawals", "manual": True},
           {"kind": "callback", "priority": "high", "reason": "call"},
           {"kind": "alert", "template": "large_withdrawal"}]


def test_redis_outage_loses_nothing_and_duplicates_nothing(broker, tmp_path):
    server = RedisServer(data_dir=tmp_path / "redis").start()
    env = Env(server.url, "sgt-faults")
    try:
        s = fresh_settings(broker, redis_url=server.url, freezes_topic="fz-faults-" + str(time.time_ns()),
                           alerts_topic="al-faults-" + str(time.time_ns()), session_timeout=6.0,
                           actions=ActionsConfig(key_prefix=env.prefix, redis_backoff_max=0.5))
        ensure_topics(s)
        first = [decision(n, user=f"u-{n}", actions=ACTIONS) for n in range(20)]
        second = [decision(n, user=f"u-{n % 30}", actions=ACTIONS) for n in range(20, 60)]
        send = lambda ds: produce_raw(s, [(s.decisions_topic, d["user_id"].encode(), orjson.dumps(d)) for d in ds])  # noqa: E731
        env_vars = {"STREAM_GUARD_ACTIONS__KEY_PREFIX": env.prefix, "STREAM_GUARD_ACTIONS__REDIS_BACKOFF_MAX": "0.5",
                    "STREAM_GUARD_SESSION_TIMEOUT": "6"}
        a1 = ActionsProcess(s, workdir=tmp_path / "a1", extra_env=env_vars).start()
        try:
            send(first)
            a1.wait_for(lambda st: st.get("applied", 0) >= 20, 60, "the agent")
            server.stop()  # Redis goes away
            send(second)
            waited = a1.wait_for(lambda st: st.get("redis_waits", 0) >= 3, 30, "the agent waiting for Redis")
            assert waited.get("applied", 0) == 20  # nothing of the second batch is done
            a1.kill()  # and the agent dies while waiting: its batch was never committed
        finally:
            a1.stop()
        server.start()  # same port, same data
        a2 = ActionsProcess(s, workdir=tmp_path / "a2", extra_env=env_vars).start()
        try:
            done = a2.wait_for(lambda st: st.get("applied", 0) + st.get("replayed", 0) >= 40, 90, "the second agent")
        finally:
            a2.stop()
        assert done.get("applied", 0) == 40  # every decision of the second batch, once

        async def state(store):
            counts = await TaskQueue(store).counts()
            alerts = sum([await store.client.xlen(store.keys.alerts(f"u-{u}")) for u in range(30)])
            freezes = sum([await store.client.hlen(store.keys.freezes(f"u-{u}")) for u in range(30)])
            return counts.open, freezes, alerts, await store.counters()

        open_tasks, freezes, alerts, counters = env.run(state)
        assert open_tasks == 30  # one per user, however many decisions it had
        assert freezes == 60  # one per decision, none twice
        assert counters["decisions_enforce"] == 60 and counters["tasks_created"] == 30 and counters["tasks_merged"] == 30
        assert alerts == counters["alerts_sent"]
    finally:
        server.stop()
