"""Freezes and their audit trail on a real Redis; replaying decisions changes nothing."""

from __future__ import annotations

import pytest
import redis
from actions_helpers import decision

from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry, parse_status
from stream_guard.actions.outbox import Relay
from stream_guard.actions.tasks import TaskQueue
from stream_guard.core.errors import ActionError

FREEZE = {"kind": "freeze", "scope": "withdrawals", "duration": 3600.0, "manual": False}


def test_place_status_lift_with_audit(env, catalog):
    async def go(store):
        fr = FreezeRegistry(store)
        empty = await fr.status("u-1")
        f = await fr.place("u-1", scope="all", reason="police request", by="analyst-lee",
                           decision_ids=["d-1"], rule_ids=["manual"])
        frozen = await fr.status("u-1")
        none = await fr.lift("u-2", reason="x", by="y")
        lifted = await fr.lift("u-1", reason="request withdrawn", by="lead-choi")
        return empty, f, frozen, none, lifted, await fr.status("u-1"), await fr.audit("u-1")

    empty, f, frozen, none, lifted, after, trail = env.run(go)
    assert not empty.frozen and empty.freezes == []
    assert f.scope == "all" and f.expires_at is None and f.by == "analyst-lee"
    assert frozen.withdrawals_frozen and frozen.login_frozen
    assert none == [] and lifted == [f.freeze_id]
    assert not after.frozen
    assert [(e.action, e.by, e.reason, e.withdrawals_frozen) for e in trail] == [
        ("freeze", "analyst-lee", "police request", True),
        ("lift", "lead-choi", "request withdrawn", False),
    ]
    assert trail[0].decision_ids == ["d-1"] and trail[0].at.timestamp() == pytest.approx(env.clock.t)


def test_lift_by_scope(env, catalog):
    async def go(store):
        fr = FreezeRegistry(store)
        await fr.place("u-1", scope="login", reason="a", by="x", freeze_id="f-login")
        await fr.place("u-1", scope="withdrawals", reason="b", by="x", freeze_id="f-wd")
        lifted = await fr.lift("u-1", reason="ok", by="x", scope="withdrawals")
        return lifted, await fr.status("u-1")

    lifted, st = env.run(go)
    assert lifted == ["f-wd"] and st.login_frozen and not st.withdrawals_frozen


def test_changes_need_a_reason_and_a_scope(env, catalog):
    async def go(store):
        fr = FreezeRegistry(store)
        codes = []
        for kw in ({"scope": "all", "reason": " ", "by": "x"}, {"scope": "deposits", "reason": "r", "by": "x"},
                   {"scope": "all", "reason": "r", "by": ""}):
            with pytest.raises(ActionError) as info:
                await fr.place("u-1", **kw)
            codes.append(info.value.code)
        return codes

    assert env.run(go) == ["reason-required", "bad-scope", "reason-required"]


def test_timed_freeze_expires_and_the_expiry_is_recorded(env, catalog):
    sent = []

    async def send(topic, key, value):
        sent.append((topic, key, value))

    async def go(store):
        fx, fr = Effects(store, catalog), FreezeRegistry(store)
        relay = Relay(store, send, freezes_topic="fz", alerts_topic="al")
        await fx.apply(decision(1, actions=[FREEZE]))
        during = await fr.status("u-1")
        env.clock.advance(1800)
        assert await relay.expire_due() == 0
        env.clock.advance(1801)
        after = await fr.status("u-1")  # past its expiry: not frozen, even before the sweep
        expired = await relay.expire_due()
        again = await relay.expire_due()
        await relay.publish_due()
        return during, after, expired, again, await fr.audit("u-1"), await store.client.zcard(store.keys.expiry[0])

    during, after, expired, again, trail, scheduled = env.run(go)
    assert during.withdrawals_frozen and not after.withdrawals_frozen
    assert (expired, again, scheduled) == (1, 0, 0)
    assert [e.action for e in trail] == ["freeze", "expire"]
    assert [t for t, _, _ in sent] == ["fz", "fz"]


def test_replaying_decisions_changes_nothing(env, catalog):
    actions = [FREEZE, {"kind": "callback", "priority": "high", "reason": "call"},
               {"kind": "alert", "template": "large_withdrawal"}, {"kind": "remind", "topic": "enable_2fa"}]
    batch = [decision(n, user=f"u-{n % 3}", actions=actions) for n in range(9)]

    async def go(store):
        fx = Effects(store, catalog)
        first = [await fx.apply(d) for d in batch]
        snapshot = await dump(store)
        again = [await fx.apply(d) for d in batch + batch[::-1]]
        return first, again, snapshot, await dump(store), await store.counters()

    async def dump(store):
        r = store.client
        out = {}
        for key in sorted([k async for k in r.scan_iter(match=f"{env.prefix}:*")]):
            if key.endswith(":gen"):  # wake-up counters: a replay re-wakes what is unpublished
                continue
            t = await r.type(key)
            if t == "stream":
                out[key] = [f for _, f in await r.xrange(key)]
            elif t == "hash":
                out[key] = await r.hgetall(key)
            elif t == "list":
                out[key] = await r.lrange(key, 0, -1)
            elif t == "zset":
                out[key] = await r.zrange(key, 0, -1, withscores=True)
            else:
                out[key] = await r.get(key)
        return out

    first, again, before, after, counters = env.run(go)
    assert all(a.new for a in first) and not any(a.new for a in again)
    assert before == after  # every key, byte for byte
    assert counters["decisions_enforce"] == 9 and counters["tasks_created"] == 3 and counters["freezes_placed"] == 9


def test_status_is_one_round_trip_and_readable_without_the_library(env, catalog):
    async def go(store):
        await FreezeRegistry(store).place("u-7", scope="withdrawals", reason="r", by="x", duration=600)
        return store.keys.freezes("u-7")

    key = env.run(go)
    r = redis.Redis.from_url(env.url, decode_responses=True)
    try:
        raw = r.hgetall(key)  # what an exchange service does, in any language
    finally:
        r.close()
    st = parse_status("u-7", raw, now_ms=int(env.clock.t * 1000))
    assert st.withdrawals_frozen and not st.login_frozen
    assert not parse_status("u-7", raw, now_ms=int((env.clock.t + 601) * 1000)).withdrawals_frozen


def test_shadow_decisions_are_recorded_and_counted_never_acted_on(env, catalog):
    async def go(store):
        fx = Effects(store, catalog)
        d = decision(1, mode="shadow", actions=[FREEZE, {"kind": "callback", "priority": "critical"},
                                                {"kind": "alert", "template": "large_withdrawal"}])
        a = await fx.apply(d)
        b = await fx.apply(d)
        shadow = await store.client.xrange(store.keys.shadow("u-1"))
        return (a, b, shadow, await FreezeRegistry(store).status("u-1"), await TaskQueue(store).counts(),
                await store.client.xlen(store.keys.alerts("u-1")), await store.counters())

    a, b, shadow, status, counts, alerts, counters = env.run(go)
    assert a.shadow and a.new and not b.new
    assert len(shadow) == 1 and '"decision_id":"d-u-1-large_withdrawal_relative-1"' in shadow[0][1]["decision"].replace(" ", "")
    assert not status.frozen and counts.open == 0 and alerts == 0
    assert counters == {"decisions_shadow": 1}
