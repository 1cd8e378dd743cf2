"""The whole library on a real three-node Redis Cluster that the test builds: every script
and transaction touches one hash slot, or Cluster would refuse it (CROSSSLOT)."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis
from actions_helpers import FakeClock, decision

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.connection import connect
from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.outbox import Relay
from stream_guard.actions.server import RedisServer
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.tasks import TaskQueue

pytestmark = pytest.mark.integration

ACTIONS = [{"kind": "freeze", "scope": "withdrawals", "duration": 600.0, "manual": False},
           {"kind": "callback", "priority": "high", "reason": "call"},
           {"kind": "alert", "template": "large_withdrawal"}, {"kind": "remind", "topic": "enable_2fa"}]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    nodes = []
    try:
        for i in range(3):
            d = tmp_path_factory.mktemp(f"node{i}")
            nodes.append(RedisServer(extra_args=["--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
                                                 "--cluster-node-timeout", "2000"]).start())
        clients = [redis.Redis(port=n.port) for n in nodes]
        per = 16384 // 3
        for i, c in enumerate(clients):
            lo, hi = i * per, 16383 if i == 2 else (i + 1) * per - 1
            for start in range(lo, hi + 1, 2000):
                c.execute_command("CLUSTER ADDSLOTS", *range(start, min(start + 2000, hi + 1)))
        for c in clients[1:]:
            c.execute_command("CLUSTER MEET", "127.0.0.1", nodes[0].port)
        deadline = time.monotonic() + 20
        while not all(c.cluster("info")["cluster_state"] == "ok" for c in clients):
            assert time.monotonic() < deadline, "the cluster did not form"
            time.sleep(0.1)
        for c in clients:
            c.close()
        yield f"redis+cluster://127.0.0.1:{nodes[0].port}"
    finally:
        for n in nodes:
            n.stop()


def test_the_library_runs_on_redis_cluster(cluster, catalog):
    clock = FakeClock()
    sent = []

    async def send(topic, key, value):
        sent.append(topic)

    async def go():
        client = connect(cluster)
        try:
            store = ActionsStore(client, ActionsConfig(key_prefix="sgc"), clock=clock)
            fx, q, fr = Effects(store, catalog), TaskQueue(store), FreezeRegistry(store)
            relay = Relay(store, send, freezes_topic="fz", alerts_topic="al")
            users = [f"u-{i}" for i in range(12)]  # spread over the three nodes
            for n, u in enumerate(users):
                await fx.apply(decision(n, user=u, actions=ACTIONS, locale=("ko", "en", "zh-CN")[n % 3]))
                await fx.apply(decision(n, user=u, actions=ACTIONS))  # replay
            claimed = await asyncio.gather(*(q.claim(f"a{i}", ["*"]) for i in range(12)))
            outcomes = ["confirmed_legitimate", "confirmed_fraud", "unreachable"]
            for i, t in enumerate(claimed):
                await q.resolve(t.task_id, f"a{i}", outcomes[i % 3])
            await fr.place("u-99", scope="login", reason="r", by="x")
            await fr.lift("u-99", reason="ok", by="x")
            published = await relay.publish_due()
            clock.advance(700)
            expired = await relay.expire_due()
            swept = await relay.sweep()
            return (len({t.task_id for t in claimed}), published, expired, swept, await q.counts(),
                    len(await q.entries()), len(await q.breaches()), await store.counters())
        finally:
            await client.aclose()

    unique, published, expired, swept, counts, entries, breaches, counters = asyncio.run(go())
    assert unique == 12
    # each user's freeze, alert and reminder; a lift (confirmed legitimate) or a keep (fraud)
    # for 8 of them; u-99's freeze and lift
    assert published == 12 * 3 + 8 + 2
    assert expired == 4  # the unreachable users' 10-minute freezes ran out
    assert counts.delayed == 4 and counts.escalated == 4 and counts.open == 4
    assert entries == 4 and breaches == 0
    assert counters["decisions_enforce"] == 12 and counters["tasks_created"] == 12
    assert swept["tasks"] == 4
