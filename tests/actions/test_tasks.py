"""Callback tasks on a real Redis: ordering, merging, language routing, leases, outcomes."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from actions_helpers import decision

from stream_guard.actions.effects import Effects
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.tasks import TaskQueue
from stream_guard.core.errors import ActionError

FREEZE_24H = {"kind": "freeze", "scope": "withdrawals", "duration": 86400.0, "manual": False}


def cb(priority: str, sla: float | None = None) -> dict:
    a = {"kind": "callback", "priority": priority, "reason": f"{priority} call"}
    if sla is not None:
        a["sla"] = sla
    return a


def test_queue_order_is_priority_then_deadline_then_age(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1, user="u-low", actions=[cb("low")]))
        env.clock.advance(1)
        await fx.apply(decision(2, user="u-high-old", actions=[cb("high")]))
        env.clock.advance(1)
        await fx.apply(decision(3, user="u-crit", actions=[cb("critical")]))
        env.clock.advance(1)
        await fx.apply(decision(4, user="u-high-new", actions=[cb("high")]))
        env.clock.advance(1)
        await fx.apply(decision(5, user="u-high-urgent", actions=[cb("high", sla=60)]))  # earlier deadline
        env.clock.advance(1)
        # the same deadline, one a second older: age decides
        await fx.apply(decision(6, user="u-high-twin", actions=[cb("high", sla=3601)]))
        env.clock.advance(1)
        await fx.apply(decision(7, user="u-high-twin2", actions=[cb("high", sla=3600)]))
        listed = [e.user_id for e in await q.entries()]
        got = []
        while (t := await q.claim("a1", ["ko"])) is not None:
            got.append(t.user_id)
        return listed, got

    listed, got = env.run(go)
    expected = ["u-crit", "u-high-urgent", "u-high-old", "u-high-new", "u-high-twin", "u-high-twin2", "u-low"]
    assert got == expected
    assert listed == expected


def test_one_open_task_per_user_accumulates_decisions(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        first = await fx.apply(decision(1, actions=[cb("medium")]))
        env.clock.advance(60)
        second = await fx.apply(decision(2, rule="impossible_travel", actions=[cb("critical", sla=120)]))
        third = await fx.apply(decision(3, rule="brute_force_account", actions=[{"kind": "alert", "template": "failed_login_attempts"}]))
        return first, second, third, await q.open_task("u-1"), await q.counts()

    first, second, third, task, counts = env.run(go)
    assert first.created and not first.merged
    assert second.merged and second.task_id == first.task_id
    assert third.merged and third.task_id == first.task_id  # an alert-only decision joins as context
    assert task.priority == "critical"  # raised to the highest
    assert task.deadline.timestamp() == pytest.approx(env.clock.t + 120)  # pulled in
    assert [d.decision_id for d in task.decisions] == [f"d-u-1-{r}-{n}" for n, r in
                                                       ((1, "large_withdrawal_relative"), (2, "impossible_travel"), (3, "brute_force_account"))]
    assert task.rule_ids == ["large_withdrawal_relative", "impossible_travel", "brute_force_account"]
    assert [e.event for e in task.log] == ["created", "merged", "merged"]
    assert counts.open == 1 and counts.by_priority == {"critical": 1}


def test_alert_only_decision_opens_no_task(env, catalog):
    async def go(store):
        a = await Effects(store, catalog).apply(decision(1, actions=[{"kind": "alert", "template": "new_device_login"}]))
        return a, await TaskQueue(store).counts()

    a, counts = env.run(go)
    assert a.task_id is None and counts.open == 0


def test_a_freeze_without_a_callback_still_opens_a_task(env, catalog):
    async def go(store):
        await Effects(store, catalog).apply(decision(1, severity="critical", actions=[FREEZE_24H]))
        return await TaskQueue(store).open_task("u-1")

    t = env.run(go)
    assert t.priority == "critical" and len(t.freeze_ids) == 1


def test_language_routing(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1, user="u-ko", locale="ko-KR"))
        await fx.apply(decision(2, user="u-zh", locale="zh-CN"))
        await fx.apply(decision(3, user="u-ja", locale="ja-JP"))  # no Japanese desk: English
        en = await q.claim("a-en", ["en"])
        none = await q.claim("a-en", ["en"])
        zh = await q.claim("a-zh", ["zh-Hans", "en"])
        ko = await q.claim("a-any", ["*"])
        with pytest.raises(ActionError) as info:
            await q.claim("a-fr", ["fr"])
        return en, none, zh, ko, info.value.code

    en, none, zh, ko, code = env.run(go)
    assert (en.user_id, en.lang, en.locale) == ("u-ja", "en", "ja-JP")
    assert none is None
    assert (zh.user_id, zh.lang) == ("u-zh", "zh")
    assert (ko.user_id, ko.lang) == ("u-ko", "ko")
    assert code == "bad-language"


def test_locale_is_remembered_for_decisions_without_one(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1, user="u-zh", locale="zh-CN", actions=[{"kind": "alert", "template": "new_device_login"}]))
        await fx.apply(decision(2, user="u-zh", locale=None))  # a group decision: no locale
        await fx.apply(decision(3, user="u-new", locale=None))  # never seen: the default (ko)
        return await q.open_task("u-zh"), await q.open_task("u-new")

    zh, new = env.run(go)
    assert zh.lang == "zh" and new.lang == "ko"


def test_two_concurrent_claimers_never_get_the_same_task(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        for n in range(30):
            await fx.apply(decision(n, user=f"u-{n}"))
        # and a task listed twice in the index (as after a lost update): still one owner
        t = await q.open_task("u-0")
        member = f"{int(t.created_at.timestamp() * 1000):013d}|{t.task_id}"
        await store.client.zadd(store.keys.ready("en"), {member: 0})
        results = await asyncio.gather(*(claim_all(q, f"agent-{i}") for i in range(6)))
        return results

    async def claim_all(q, agent):
        got = []
        while (t := await q.claim(agent, ["ko", "en"])) is not None:
            got.append(t.task_id)
        return got

    results = env.run(go)
    everything = [t for r in results for t in r]
    assert len(everything) == 30
    assert len(set(everything)) == 30


def test_abandoned_lease_returns_the_task(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1))
        t = await q.claim("a1", ["ko"])
        nothing = await q.claim("a2", ["ko"])
        env.clock.advance(59)
        renewed = await q.renew(t.task_id, "a1")
        renewed_at = env.clock.t
        env.clock.advance(59)
        still = await q.claim("a2", ["ko"])  # renewed: not back yet
        env.clock.advance(2)
        back = await q.claim("a2", ["ko"])
        with pytest.raises(ActionError) as info:
            await q.resolve(t.task_id, "a1", "confirmed_legitimate")
        return t, nothing, renewed, renewed_at, still, back, info.value.code

    t, nothing, renewed, renewed_at, still, back, code = env.run(go, lease=60)
    assert t.owner == "a1" and nothing is None and still is None
    assert renewed.lease_until.timestamp() == pytest.approx(renewed_at + 60)
    assert back.task_id == t.task_id and back.owner == "a2"
    assert [e.event for e in back.log][-3:] == ["claimed", "lease_expired", "claimed"]
    assert code == "task-not-yours"


def test_release_puts_the_task_back_in_its_place(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1, user="u-a", actions=[cb("critical")]))
        await fx.apply(decision(2, user="u-b", actions=[cb("low")]))
        t = await q.claim("a1", ["ko"])
        await q.release(t.task_id, "a1")
        return (await q.claim("a2", ["ko"])).user_id

    assert env.run(go) == "u-a"


def test_confirmed_legitimate_lifts_the_tasks_freezes_only(env, catalog):
    async def go(store):
        fx, q, fr = Effects(store, catalog), TaskQueue(store), FreezeRegistry(store)
        await fr.place("u-1", scope="login", reason="analyst hold", by="analyst-kim")  # not the task's
        await fx.apply(decision(1, actions=[FREEZE_24H, cb("high")]))
        await fx.apply(decision(2, rule="sanctioned_address", actions=[{"kind": "freeze", "scope": "all", "manual": True}, cb("critical")]))
        before = await fr.status("u-1")
        t = await q.claim("agent-park", ["ko"])
        r = await q.resolve(t.task_id, "agent-park", "confirmed_legitimate", note="user confirmed by phone")
        after = await fr.status("u-1")
        return before, r, after, await fr.audit("u-1"), await q.get(t.task_id)

    before, r, after, trail, task = env.run(go)
    assert before.withdrawals_frozen and before.login_frozen and len(before.freezes) == 3
    assert not r.escalated and len(r.freezes_changed) == 2
    assert not after.withdrawals_frozen and after.login_frozen  # the analyst's freeze stays
    assert [f.by for f in after.freezes] == ["analyst-kim"]
    lifts = [e for e in trail if e.action == "lift"]
    assert {e.by for e in lifts} == {"agent-park"}
    assert all("user confirmed by phone" in e.reason and e.task_id == task.task_id for e in lifts)
    assert {d for e in lifts for d in e.decision_ids} == {"d-u-1-large_withdrawal_relative-1", "d-u-1-sanctioned_address-2"}
    assert task.state == "closed" and task.outcome == "confirmed_legitimate" and task.closed_by == "agent-park"
    assert len(task.decisions) == 2 and task.log[-1].event == "resolved"


def test_confirmed_fraud_keeps_the_freeze_and_escalates(env, catalog):
    async def go(store):
        fx, q, fr = Effects(store, catalog), TaskQueue(store), FreezeRegistry(store)
        await fx.apply(decision(1, actions=[FREEZE_24H, cb("high")]))
        await fx.apply(decision(2, user="u-2", actions=[cb("high")]))  # nothing frozen
        t1 = await q.claim("a1", ["ko"])
        r1 = await q.resolve(t1.task_id, "a1", "confirmed_fraud")
        t2 = await q.claim("a1", ["ko"])
        r2 = await q.resolve(t2.task_id, "a1", "confirmed_fraud", note="user did not make it")
        env.clock.advance(2 * 86400)  # past the 24 h the rule asked for
        return r1, r2, await fr.status("u-1"), await fr.status("u-2"), await q.escalations(), await q.counts()

    r1, r2, s1, s2, escalated, counts = env.run(go)
    assert r1.escalated and r2.escalated
    assert s1.withdrawals_frozen and s1.freezes[0].expires_at is None  # kept: now manual
    assert s2.withdrawals_frozen and s2.freezes[0].by == "a1"  # frozen on the outcome
    assert set(escalated) == {"u-1~1", "u-2~1"} and counts.escalated == 2


def test_unreachable_requeues_with_a_retry_time_then_escalates(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1))
        out = []
        for _ in range(3):
            t = await q.claim("a1", ["ko"])
            out.append(await q.resolve(t.task_id, "a1", "unreachable", note="no answer"))
            out.append(await q.claim("a1", ["ko"]))  # not before the retry time
            env.clock.advance(601)
        return out, await q.get("u-1~1"), await q.counts()

    out, task, counts = env.run(go, retry_after=600, max_attempts=3)
    first, early, second, _, third, _ = out
    assert first.retry_at is not None and first.attempts == 1 and not first.escalated
    assert early is None
    assert second.attempts == 2 and not second.escalated
    assert third.escalated and task.state == "closed" and task.outcome == "unreachable"
    assert task.attempts == 3 and counts.open == 0 and counts.escalated == 1


def test_sla_breaches_are_visible(env, catalog):
    async def go(store):
        fx, q = Effects(store, catalog), TaskQueue(store)
        await fx.apply(decision(1, user="u-a", actions=[cb("critical")]))  # 15 min
        await fx.apply(decision(2, user="u-b", actions=[cb("low")]))  # 24 h
        await q.claim("a1", ["ko"])  # claimed tasks can breach too
        env.clock.advance(16 * 60)
        return await q.breaches(), await q.counts()

    breaches, counts = env.run(go)
    assert [(b.user_id, b.priority) for b in breaches] == [("u-a", "critical")]
    assert counts.breached == 1 and counts.open == 2


def test_resolve_checks_the_outcome_and_owner(env, catalog):
    async def go(store):
        q = TaskQueue(store)
        await Effects(store, catalog).apply(decision(1))
        t = await q.claim("a1", ["ko"])
        codes = []
        for args in ((t.task_id, "a1", "maybe"), (t.task_id, "a2", "unreachable"), ("u-9~1", "a1", "unreachable"), ("nonsense", "a1", "unreachable")):
            with pytest.raises(ActionError) as info:
                await q.resolve(*args)
            codes.append(info.value.code)
        return codes

    assert env.run(go) == ["bad-outcome", "task-not-yours", "task-closed", "task-not-found"]


def test_a_task_keeps_its_decisions_as_they_came_empty_lists_and_mappings_included(env, catalog):
    """Lua's cjson writes an empty list and an empty mapping alike (``{}``): the decisions
    are stored, and archived, as the JSON text they came as, never decoded and re-encoded."""
    d = decision(1, profile={"countries": [], "devices_known": 0})
    d["evidence"] = {"ips": [], "window": {}, "nested": {"seen": [[], {}]}}
    d["profile"] = {"countries": [], "devices": {}}
    d["context"]["trail"] = []
    kept = {k: v for k, v in d.items() if k not in ("user_id", "mode")}

    async def go(store):
        q = TaskQueue(store)
        await Effects(store, catalog).apply(d)
        stored = await store.client.lrange(store.keys.task_decisions("u-1"), 0, -1)
        t = await q.claim("a1", ["ko"])
        await q.resolve(t.task_id, "a1", "confirmed_legitimate")
        archived = await store.client.hgetall(store.keys.tasks("u-1"))
        return stored, t, archived, await q.history("u-1")

    stored, t, archived, history = env.run(go)
    assert [orjson.loads(x) for x in stored] == [kept]
    [rec] = [orjson.loads(v) for v in archived.values()]
    assert rec["decision_list"] == [kept] and rec["state"] == "closed"
    for task in (t, history[0]):
        [got] = task.decisions
        assert got.model_dump(include={"evidence", "profile", "context", "tags"}) == {
            k: kept[k] for k in ("evidence", "profile", "context", "tags")}
