"""A user's freezes, direct lift (admins), the read-only audit trail, alerts, tasks, stats."""

from __future__ import annotations

import redis
from api_helpers import FREEZE_24H, callback, decision

LOGIN_HOLD = {"kind": "freeze", "scope": "login", "manual": True}


def test_freeze_status_and_the_admins_lift_with_audit(api, catalog):
    api.seed(decision(1, actions=[callback(), FREEZE_24H]), catalog=catalog)
    api.seed(decision(2, rule="impossible_travel", actions=[LOGIN_HOLD]), catalog=catalog)
    st = api.get("/api/v1/users/u-1/freezes", "analyst").json()
    assert st["withdrawals_frozen"] and st["login_frozen"]
    assert sorted(f["scope"] for f in st["freezes"]) == ["login", "withdrawals"]
    assert api.get("/api/v1/users/u-nobody/freezes").json() == {
        "user_id": "u-nobody", "withdrawals_frozen": False, "login_frozen": False, "freezes": []}

    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": "verified in branch, ticket 4411", "scope": "login"})
    assert res.status_code == 200, res.text
    out = res.json()
    assert len(out["lifted"]) == 1 and out["freezes"]["login_frozen"] is False and out["freezes"]["withdrawals_frozen"] is True
    trail = api.get("/api/v1/users/u-1/audit", "agent").json()["entries"]
    assert [e["action"] for e in trail] == ["freeze", "freeze", "lift"]
    assert trail[-1]["by"] == "lead-choi" and trail[-1]["reason"] == "verified in branch, ticket 4411"
    assert trail[-1]["scope"] == "login" and trail[-1]["withdrawals_frozen"] is True

    # paging: after an entry id
    after = api.get("/api/v1/users/u-1/audit", params={"after": trail[0]["entry_id"], "limit": 1}).json()["entries"]
    assert [e["entry_id"] for e in after] == [trail[1]["entry_id"]]
    assert api.get("/api/v1/users/u-1/audit", params={"after": "nope"}).status_code == 422

    # nothing of that scope left: 404; no reason: 422 reason-required; bad scope: 422 bad-scope
    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": "again", "scope": "login"})
    assert res.status_code == 404 and res.json()["code"] == "no-active-freeze"
    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": ""})
    assert res.status_code == 422 and res.json()["code"] == "reason-required"
    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={})
    assert res.status_code == 422 and res.json()["code"] == "reason-required"
    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": "x", "scope": "everything"})
    assert res.status_code == 422 and res.json()["code"] == "bad-scope"
    res = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": "x", "freeze_ids": ["f-nope"]})
    assert res.status_code == 404 and res.json()["code"] == "no-active-freeze"
    out = api.post("/api/v1/users/u-1/freezes/lift", "admin", json={"reason": "all clear"}).json()
    assert out["freezes"]["withdrawals_frozen"] is False
    assert len(api.get("/api/v1/users/u-1/audit").json()["entries"]) == 4


def test_no_route_changes_the_audit_trail(api, catalog):
    api.seed(decision(1, actions=[callback(), FREEZE_24H]), catalog=catalog)
    r = redis.Redis.from_url(api.env.url, decode_responses=True)
    key = f"{api.env.prefix}:u:{{u-1}}:audit"
    before = r.xrange(key)
    for method in ("DELETE", "PUT", "PATCH", "POST"):
        res = api.call(method, "/api/v1/users/u-1/audit", "admin", json={"entries": []})
        assert res.status_code == 405 and res.json()["code"] == "method-not-allowed", method
    assert r.xrange(key) == before
    r.close()
    # and no route at all names the audit trail with anything but GET
    from stream_guard.api.app import api_routes

    assert {m for m, p, _ in api_routes() if "audit" in p} == {"GET"}


def test_alerts_with_limits_and_the_users_tasks(api, catalog):
    alert = {"kind": "alert", "template": "large_withdrawal"}
    api.seed(decision(1, actions=[callback(), alert, {"kind": "remind", "topic": "enable_2fa"}], locale="zh-CN"), catalog=catalog)
    body = api.get("/api/v1/users/u-1/alerts").json()
    assert [a["kind"] for a in body["alerts"]] == ["security_reminder", "alert"]  # newest first
    assert body["alerts"][1]["language"] == "zh" and body["alerts"][1]["template"] == "large_withdrawal"
    assert body["limits"]["alerts_in_window"] == 1 and body["limits"]["alert_budget_left"] == 2
    assert "enable_2fa" in body["limits"]["reminders_last_sent"]
    assert len(api.get("/api/v1/users/u-1/alerts", params={"limit": 1}).json()["alerts"]) == 1

    tasks = api.get("/api/v1/users/u-1/tasks").json()
    assert tasks["open"]["task_id"] == "u-1~1" and tasks["closed"] == []
    api.post("/api/v1/tasks/claim", "agent_zh")
    api.post("/api/v1/tasks/u-1~1/resolve", "agent_zh", json={"outcome": "confirmed_legitimate"})
    tasks = api.get("/api/v1/users/u-1/tasks").json()
    assert tasks["open"] is None and [t["outcome"] for t in tasks["closed"]] == ["confirmed_legitimate"]
    assert tasks["closed"][0]["decisions"][0]["context"]["locale"] == "zh-CN"


def test_stats_for_analysts(api, catalog):
    api.seed(decision(1, actions=[callback(), FREEZE_24H]), catalog=catalog)
    counters = api.get("/api/v1/stats", "analyst").json()["counters"]
    assert counters["tasks_created"] == 1 and counters["decisions_enforce"] == 1
