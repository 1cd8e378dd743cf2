"""The task routes against a real Redis: the queue with SLA countdowns, claim, view, renew,
release, resolve with every outcome, and their errors."""

from __future__ import annotations

from api_helpers import FREEZE_24H, callback, decision, q


def _seed_three(api, catalog):
    api.seed(decision(1, user="u-crit", actions=[callback("critical")], locale="ko-KR"), catalog=catalog)
    api.env.clock.advance(1)
    api.seed(decision(2, user="u-high", actions=[callback("high")], locale="zh-CN"), catalog=catalog)
    api.env.clock.advance(1)
    api.seed(decision(3, user="u-low", actions=[callback("low")], locale="en-US"), catalog=catalog)


def test_queue_is_in_working_order_with_sla_countdowns_and_locales(api, catalog):
    _seed_three(api, catalog)
    api.env.clock.advance(20 * 60)  # the critical task's 15-minute SLA is past
    body = api.get("/api/v1/tasks").json()
    rows = body["tasks"]
    assert [r["user_id"] for r in rows] == ["u-crit", "u-high", "u-low"]
    assert [r["locale"] for r in rows] == ["ko-KR", "zh-CN", "en-US"]
    assert [r["lang"] for r in rows] == ["ko", "zh", "en"]
    crit, high, low = rows
    assert crit["breached"] and crit["seconds_left"] == -(20 * 60 - 15 * 60 + 2)
    assert not high["breached"] and high["seconds_left"] == 3600 - 20 * 60 - 1
    assert not low["breached"] and low["seconds_left"] == 24 * 3600 - 20 * 60
    assert body["counts"]["open"] == 3 and body["counts"]["breached"] == 1
    assert body["counts"]["by_priority"] == {"critical": 1, "high": 1, "low": 1}
    assert body["now"].startswith("2027-01-15T08:20")

    breaches = api.get("/api/v1/tasks/breaches").json()["tasks"]
    assert [b["task_id"] for b in breaches] == ["u-crit~1"] and breaches[0]["breached"]
    assert api.get("/api/v1/tasks/counts").json() == body["counts"]
    assert [r["user_id"] for r in api.get("/api/v1/tasks", params={"limit": 2}).json()["tasks"]] == ["u-crit", "u-high"]
    res = api.get("/api/v1/tasks", params={"limit": 0})
    assert res.status_code == 422 and res.json()["code"] == "bad-request"


def test_claim_view_and_confirmed_legitimate_lifts_the_freeze(api, catalog):
    d = decision(1, actions=[callback("high", "confirm the withdrawal"), FREEZE_24H,
                             {"kind": "alert", "template": "large_withdrawal"}])
    d["evidence"] = {"amount_z": 6.2, "window": "24h"}
    api.seed(d, catalog=catalog)
    view = api.post("/api/v1/tasks/claim").json()
    t = view["task"]
    assert t["task_id"] == "u-1~1" and t["state"] == "claimed" and t["owner"] == "agent-park"
    assert view["yours"] is True
    assert view["sla"] == {"deadline": "2027-01-15T09:00:00Z", "seconds_left": 3600.0, "breached": False}
    d = t["decisions"][0]
    assert d["rule_id"] == "large_withdrawal_relative" and d["reason"] == "why"
    assert d["evidence"] == {"amount_z": 6.2, "window": "24h"}
    assert d["context"]["address"] == "bc1qexampleaddress0000000000000000000" and d["context"]["locale"] == "ko"
    assert [e["event"] for e in t["log"]] == ["created", "claimed"]
    assert view["script"]["language"] == "ko" and "0.85 BTC" in " ".join(view["script"]["steps"])
    assert set(view["script_languages"]) == {"ko", "en", "zh"}
    assert view["freezes"]["withdrawals_frozen"] is True and len(view["freezes"]["freezes"]) == 1
    assert [a["template"] for a in view["alerts"]] == ["large_withdrawal"] and view["alerts"][0]["language"] == "ko"

    # another agent sees the task but it is not theirs
    other = api.get("/api/v1/tasks/u-1~1", "agent2").json()
    assert other["yours"] is False and other["task"]["owner"] == "agent-park"

    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "confirmed_legitimate", "note": "user confirmed by phone"})
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["resolution"]["outcome"] == "confirmed_legitimate" and out["resolution"]["freezes_changed"] == t["freeze_ids"]
    assert out["freezes"] == {"user_id": "u-1", "withdrawals_frozen": False, "login_frozen": False, "freezes": []}

    closed = api.get("/api/v1/tasks/u-1~1", "analyst").json()
    assert closed["task"]["state"] == "closed" and closed["task"]["outcome"] == "confirmed_legitimate"
    assert closed["task"]["closed_by"] == "agent-park" and closed["task"]["note"] == "user confirmed by phone"
    assert closed["yours"] is False
    trail = api.get("/api/v1/users/u-1/audit").json()["entries"]
    assert [e["action"] for e in trail] == ["freeze", "lift"]
    assert trail[1]["by"] == "agent-park" and "user confirmed by phone" in trail[1]["reason"]
    assert api.get("/api/v1/tasks").json()["tasks"] == []


def test_claim_languages_come_from_the_token_or_the_request(api, catalog):
    api.seed(decision(1, user="u-zh", locale="zh-TW"), catalog=catalog)
    api.seed(decision(2, user="u-en", locale="en"), catalog=catalog)
    # agent-lee speaks ko only: nothing for them, and they may not ask for zh
    assert api.post("/api/v1/tasks/claim", "agent2").status_code == 204
    res = api.post("/api/v1/tasks/claim", "agent2", json={"languages": ["zh"]})
    assert res.status_code == 422 and res.json()["code"] == "bad-language" and "ko" in res.json()["message"]
    # agent-park (ko, en) may narrow the claim to en
    assert api.post("/api/v1/tasks/claim", json={"languages": ["en"]}).json()["task"]["user_id"] == "u-en"
    # a token without languages must name them
    res = api.post("/api/v1/tasks/claim", "agent_any")
    assert res.status_code == 422 and res.json()["code"] == "bad-language"
    res = api.post("/api/v1/tasks/claim", "agent_any", json={"languages": ["fr"]})
    assert res.status_code == 422 and res.json()["code"] == "bad-language"
    view = api.post("/api/v1/tasks/claim", "agent_any", json={"languages": ["zh"]}).json()
    assert view["task"]["user_id"] == "u-zh" and view["script"]["language"] == "zh"
    # the admin's token says * : any language
    api.seed(decision(3, user="u-ko"), catalog=catalog)
    assert api.post("/api/v1/tasks/claim", "admin").json()["task"]["user_id"] == "u-ko"


def test_only_the_claimant_works_a_task(api, catalog):
    api.seed(decision(1), catalog=catalog)
    assert api.post("/api/v1/tasks/claim").status_code == 200
    for verb, body in (("renew", None), ("release", None), ("resolve", {"outcome": "unreachable"})):
        res = api.post(f"/api/v1/tasks/u-1~1/{verb}", "agent2", json=body)
        assert res.status_code == 409 and res.json()["code"] == "task-not-yours", (verb, res.text)
    # released, it goes back to the queue, where the next agent takes it
    res = api.post("/api/v1/tasks/u-1~1/release")
    assert res.status_code == 200 and res.json()["state"] == "queued" and res.json()["owner"] is None
    assert api.post("/api/v1/tasks/claim", "agent2").json()["task"]["owner"] == "agent-lee"
    assert api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "unreachable"}).json()["code"] == "task-not-yours"


def test_lease_renewal_and_expiry(api, catalog):
    api.seed(decision(1), catalog=catalog)
    api.post("/api/v1/tasks/claim")
    api.env.clock.advance(200)
    res = api.post("/api/v1/tasks/u-1~1/renew")
    assert res.status_code == 200 and res.json()["lease_until"] == "2027-01-15T08:08:20Z"  # now + 5 min
    api.env.clock.advance(301)  # the renewed lease ran out: the task is back in the queue
    assert api.get("/api/v1/tasks/u-1~1").json()["yours"] is False
    assert api.post("/api/v1/tasks/claim", "agent2").json()["task"]["owner"] == "agent-lee"
    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "confirmed_fraud"})
    assert res.status_code == 409 and res.json()["code"] == "task-not-yours"


def test_confirmed_fraud_keeps_the_freeze_and_escalates(api, catalog):
    api.seed(decision(1, actions=[callback("critical"), FREEZE_24H]), catalog=catalog)
    api.post("/api/v1/tasks/claim")
    out = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "confirmed_fraud", "note": "not the user"}).json()
    assert out["resolution"]["escalated"] is True
    assert out["freezes"]["withdrawals_frozen"] is True
    assert out["freezes"]["freezes"][0]["expires_at"] is None  # the timed freeze became manual
    assert api.get("/api/v1/tasks/escalations", "analyst").json() == {"task_ids": ["u-1~1"]}
    assert api.get("/api/v1/tasks/counts").json()["escalated"] == 1


def test_unreachable_calls_again_later(api, catalog):
    api.seed(decision(1), catalog=catalog)
    api.post("/api/v1/tasks/claim")
    out = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "unreachable", "note": "voicemail"}).json()
    assert out["resolution"]["attempts"] == 1 and out["resolution"]["retry_at"] == "2027-01-15T08:30:00Z"
    row = api.get("/api/v1/tasks").json()["tasks"][0]
    assert row["state"] == "delayed" and row["at"] == "2027-01-15T08:30:00Z"
    assert api.post("/api/v1/tasks/claim").status_code == 204  # not before the retry time
    api.env.clock.advance(30 * 60)
    assert api.post("/api/v1/tasks/claim").json()["task"]["attempts"] == 1


def test_task_errors(api, catalog):
    api.seed(decision(1), catalog=catalog)
    res = api.get("/api/v1/tasks/u-1~7")
    assert res.status_code == 404 and res.json()["code"] == "task-not-found"
    res = api.get("/api/v1/tasks/not-a-task-id")
    assert res.status_code == 404 and res.json()["code"] == "task-not-found"
    for verb in ("renew", "release"):
        res = api.post(f"/api/v1/tasks/u-9~1/{verb}")
        assert res.status_code == 404 and res.json()["code"] == "task-not-found"
    api.post("/api/v1/tasks/claim")
    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "maybe"})
    assert res.status_code == 422 and res.json()["code"] == "bad-outcome" and res.json()["errors"][0]["loc"] == ["body", "outcome"]
    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "unreachable", "note": "x" * 2001})
    assert res.status_code == 422 and res.json()["code"] == "bad-request"
    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"note": "no outcome"})
    assert res.status_code == 422 and res.json()["code"] == "bad-outcome"
    assert api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "confirmed_legitimate"}).status_code == 200
    res = api.post("/api/v1/tasks/u-1~1/resolve", json={"outcome": "confirmed_legitimate"})
    assert res.status_code == 409 and res.json()["code"] == "task-closed"


def test_call_script_in_another_language(api, catalog):
    api.seed(decision(1, locale="ko"), catalog=catalog)
    en = api.get("/api/v1/tasks/u-1~1/script", params={"lang": "en"}).json()
    zh = api.get("/api/v1/tasks/u-1~1/script", params={"lang": "zh"}).json()
    ko = api.get("/api/v1/tasks/u-1~1").json()["script"]
    assert (en["language"], zh["language"], ko["language"]) == ("en", "zh", "ko")
    assert en["title"] == catalog.scripts[("en", en["name"])].title
    assert "₩112,000,000" in " ".join(en["steps"]) or "0.85 BTC" in " ".join(en["steps"])
    res = api.get("/api/v1/tasks/u-1~1/script", params={"lang": "fr"})
    assert res.status_code == 422 and res.json()["code"] == "bad-language"
    assert api.get("/api/v1/tasks/u-1~1/script").status_code == 422


def test_ids_with_markup_slashes_and_unicode_route_correctly(api, catalog):
    # (a "%" in an id is checked against a real server in test_api_server.py: the TestClient
    # decodes a path twice)
    user = 'u-<img src=x onerror="alert(1)">/김/{x}~'
    api.seed(decision(1, user=user, actions=[callback("high"), FREEZE_24H]), catalog=catalog)
    rows = api.get("/api/v1/tasks").json()["tasks"]
    assert [r["user_id"] for r in rows] == [user]
    task_id = rows[0]["task_id"]
    assert api.get(f"/api/v1/tasks/{q(task_id)}").json()["task"]["user_id"] == user
    assert api.get(f"/api/v1/users/{q(user)}/freezes").json()["withdrawals_frozen"] is True
    api.post("/api/v1/tasks/claim")
    out = api.post(f"/api/v1/tasks/{q(task_id)}/resolve", json={"outcome": "confirmed_legitimate"}).json()
    assert out["freezes"]["user_id"] == user and out["freezes"]["withdrawals_frozen"] is False


def test_the_view_says_who_the_user_is_as_the_newest_decision_knew_him(api, catalog):
    from stream_guard.core.profiles import UserProfile

    fresh = UserProfile()
    fresh.first_seen = 1_700_000_000
    first = decision(1, actions=[callback("high")])
    first["profile"] = fresh.brief(1_700_000_000 + 3 * 86400)  # no country, no sign-in yet: empty lists
    api.seed(first, catalog=catalog)
    known = UserProfile()
    known.first_seen, known.countries, known.devices, known.mfa_enabled = 1_690_000_000, {"KR": 5, "JP": 9}, {"d-1": 5}, True
    second = decision(2, actions=[callback("high")])
    second["profile"] = known.brief(1_700_000_000)
    api.seed(second, catalog=catalog)
    group = decision(3, actions=[callback("high")])
    group["group"], group["profile"] = {"ip": "45.155.205.17"}, None
    api.seed(group, catalog=catalog)

    ds = api.get("/api/v1/tasks/u-1~1").json()["task"]["decisions"]
    assert ds[0]["profile"]["countries"] == [] and ds[0]["profile"]["last_login"] is None  # through Lua and back
    assert ds[0]["profile"]["account_age_days"] == 3.0
    assert ds[1]["profile"]["countries"] == ["JP", "KR"] and ds[1]["profile"]["mfa_enabled"] is True
    assert ds[2]["profile"] is None
