"""The shared state the actions metrics show, on a real Redis: active freezes per scope as the
relay counts them (and the sweep recounts them), SLA breaches tallied once, the oldest open
task; and the counting of one decision's actions."""

from __future__ import annotations

from actions_helpers import decision

from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.outbox import Relay
from stream_guard.actions.tasks import TaskQueue
from stream_guard.metrics import ActionsCounts

TIMED = [{"kind": "freeze", "scope": "withdrawals", "duration": 60.0}, {"kind": "callback", "priority": "high", "reason": "call"}]
MANUAL_LOGIN = [{"kind": "freeze", "scope": "login"}]


async def _nothing(topic, key, value):
    return None


def test_active_freezes_follow_what_the_relay_published(env, catalog):
    async def go(store):
        fx, fr, relay = Effects(store, catalog), FreezeRegistry(store), Relay(store, _nothing)
        steps = {}
        await fx.apply(decision(1, user="u-1", actions=TIMED))
        await fx.apply(decision(2, user="u-2", actions=[*TIMED, *MANUAL_LOGIN]))
        await fr.place("u-3", scope="all", reason="analyst", by="lead")
        steps["unpublished"] = await store.active_freezes()
        await relay.publish_due()
        steps["published"] = await store.active_freezes()
        await fr.lift("u-2", reason="it was them", by="lead", scope="login")
        steps["lift unpublished"] = await store.active_freezes()
        await relay.publish_due()
        steps["lift published"] = await store.active_freezes()
        env.clock.advance(61)  # the timed freezes run out: the relay records and publishes it
        await relay.expire_due()
        await relay.publish_due()
        steps["expired"] = await store.active_freezes()
        q = TaskQueue(store)  # a call confirms fraud: u-1's (now gone) freeze is replaced by a manual one
        t = await q.claim("a1", ["*"])
        await q.resolve(t.task_id, "a1", "confirmed_fraud")
        await relay.publish_due()
        steps["fraud"] = await store.active_freezes()
        return steps

    steps = env.run(go)
    assert steps["unpublished"] == {}  # counted as the relay publishes, not before
    assert steps["published"] == {"withdrawals": 2, "login": 1, "all": 1}
    assert steps["lift unpublished"] == steps["published"]
    assert steps["lift published"] == {"withdrawals": 2, "login": 0, "all": 1}
    assert steps["expired"] == {"withdrawals": 0, "login": 0, "all": 1}
    assert steps["fraud"] == {"withdrawals": 1, "login": 0, "all": 1}


def test_the_sweep_recounts_freezes_as_of_the_relay_cursor(env, catalog):
    async def go(store):
        fx, fr, relay = Effects(store, catalog), FreezeRegistry(store), Relay(store, _nothing)
        await fx.apply(decision(1, user="u-1", actions=TIMED))
        await fx.apply(decision(2, user="u-2", actions=MANUAL_LOGIN))
        await relay.publish_due()
        # changes the relay has not published yet: a lift and a new freeze
        await fr.lift("u-1", reason="ok", by="lead")
        await fr.place("u-4", scope="withdrawals", reason="analyst", by="lead")
        # a relay that died between a cursor and the counters: the count drifted
        await store.client.hset(store.keys.freeze_counts, mapping={"withdrawals": 7, "login": -2})
        swept = await relay.sweep()
        recounted = await store.active_freezes()
        await relay.publish_due()
        return swept, recounted, await store.active_freezes()

    swept, recounted, after = env.run(go)
    # as published: u-1's withdrawals freeze (its lift is still waiting) and u-2's login one
    assert recounted == {"withdrawals": 1, "login": 1} and swept["freezes"] == 2
    assert after == {"withdrawals": 1, "login": 1}  # u-1 lifted, u-4 frozen


def test_a_sweep_does_not_overwrite_the_counts_of_another_relay(env, catalog):
    async def go(store):
        fx, relay, other = Effects(store, catalog), Relay(store, _nothing), Relay(store, _nothing)
        await fx.apply(decision(1, user="u-1", actions=MANUAL_LOGIN))
        assert await other.lead()
        await other.publish_due()
        await store.client.hset(store.keys.freeze_counts, "login", 5)
        await relay.sweep()  # the other relay leads: it may have published during the sweep
        return await store.active_freezes()

    assert env.run(go) == {"login": 5}


def test_sla_breaches_are_tallied_once_and_the_oldest_task_is_known(env, catalog):
    async def go(store):
        fx, q, other = Effects(store, catalog), TaskQueue(store), TaskQueue(store)
        out = {"first": await q.tally_breaches()}  # starts the clock
        await fx.apply(decision(1, user="u-1", actions=[{"kind": "callback", "priority": "critical", "sla": 10.0}]))
        env.clock.advance(5)
        await fx.apply(decision(2, user="u-2", actions=[{"kind": "callback", "priority": "low", "sla": 30.0}]))
        out["before"] = await q.tally_breaches()
        env.clock.advance(6)  # u-1's deadline passed
        out["u-1"] = await q.tally_breaches()
        out["again"] = await other.tally_breaches()  # another agent: already counted
        env.clock.advance(60)
        out["u-2"] = await other.tally_breaches() + await q.tally_breaches()
        out["counts"] = await q.counts()
        out["now"] = store.now_ms()
        return out

    start = env.clock.t
    out = env.run(go)
    assert (out["first"], out["before"], out["u-1"], out["again"], out["u-2"]) == (0, 0, 1, 0, 1)
    c = out["counts"]
    assert c.breached == 2 and c.open == 2 and c.by_priority == {"critical": 1, "low": 1}
    assert c.oldest is not None and c.oldest.timestamp() == start


def test_one_decisions_actions_counted_by_kind_and_result(env, catalog):
    acts = [{"kind": "freeze", "scope": "withdrawals", "duration": 600.0},
            {"kind": "callback", "priority": "high", "reason": "call"},
            {"kind": "alert", "template": "large_withdrawal"}, {"kind": "remind", "topic": "enable_2fa"},
            {"kind": "alert", "template": "no_such_template"}]

    async def go(store):
        fx = Effects(store, catalog)
        m = ActionsCounts()
        for n in (1, 2):  # the second: a merge, the same alert and reminder held back
            d = decision(n, actions=acts)
            m.applied(d, await fx.apply(d))
        m.failed(decision(3, actions=acts))
        return m

    m = env.run(go)
    assert m.actions == {
        ("task", "created"): 1, ("task", "merged"): 1, ("freeze", "placed"): 2,
        ("alert", "sent"): 1, ("alert", "suppressed"): 1, ("alert", "skipped"): 2,
        ("remind", "sent"): 1, ("remind", "suppressed"): 1,
        ("freeze", "failed"): 1, ("task", "failed"): 1, ("alert", "failed"): 2, ("remind", "failed"): 1,
    }
    assert m.suppressed == {("alert", "repeat"): 1, ("remind", "cooldown"): 1}
