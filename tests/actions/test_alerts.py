"""Alert templates and reminders: languages, fallback, formatting, validation, limits."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from actions_helpers import decision

from stream_guard.actions.effects import Effects
from stream_guard.actions.formatting import details, zone
from stream_guard.actions.templates import ALERT, REMINDER, Catalog, TemplateError
from stream_guard.paths import bundled
from stream_guard.replay import load_pack

CTX = {"asset": "BTC", "amount": 0.85, "value_krw": 112_000_000, "address": "bc1qexampleaddress0000000000000000000",
       "ip": "203.0.113.7", "country": "KR", "city": "Seoul", "device_id": "d-91ab7788"}
TS = "2026-11-24T00:21:40Z"


def render(catalog, key, locale, kind=ALERT):
    lang = catalog.language(locale)
    return catalog.render(kind, key, locale, details(CTX, TS, lang, zone("Asia/Seoul")))


@pytest.mark.parametrize(
    ("locale", "language", "amount", "value", "time"),
    [
        ("ko", "ko", "0.85 BTC", "112,000,000원", "2026년 11월 24일 09:21 (KST)"),
        ("ko-KR", "ko", "0.85 BTC", "112,000,000원", "2026년 11월 24일"),
        ("en", "en", "0.85 BTC", "₩112,000,000", "24 Nov 2026, 09:21 KST"),
        ("zh-CN", "zh", "0.85 BTC", "112,000,000韩元", "2026年11月24日 09:21"),
        ("zh-Hant-TW", "zh", "0.85 BTC", "112,000,000韩元", "2026年11月24日"),
        ("ja-JP", "en", "0.85 BTC", "₩112,000,000", "24 Nov 2026"),
        (None, "en", "0.85 BTC", "₩112,000,000", "24 Nov 2026"),
    ],
)
def test_large_withdrawal_in_each_language(catalog, locale, language, amount, value, time):
    r = render(catalog, "large_withdrawal", locale)
    assert r.language == language
    assert amount in r.body and value in r.body and time in r.body
    assert "bc1qex…0000" in r.body and "bc1qexampleaddress" not in r.body  # masked
    assert "{" not in r.body and "{" not in r.title


def test_masked_ip_and_place_in_each_language(catalog):
    texts = {loc: render(catalog, "new_device_login", loc).body for loc in ("ko", "en", "zh")}
    assert all("203.0.*.*" in t and "203.0.113.7" not in t for t in texts.values())
    assert "대한민국 Seoul" in texts["ko"] and "Seoul, South Korea" in texts["en"] and "韩国 Seoul" in texts["zh"]


def test_every_language_has_every_template_and_script(catalog):
    keys = {(kind, key) for (lang, kind, key) in catalog.templates if lang == "en"}
    for lang in ("ko", "zh"):
        assert {(k, n) for (la, k, n) in catalog.templates if la == lang} == keys
        assert {n for (la, n) in catalog.scripts if la == lang} == {n for (la, n) in catalog.scripts if la == "en"}


def test_rules_name_only_templates_that_exist(catalog):
    rules, _ = load_pack(bundled("rules"), bundled("models"))
    named = {(a["kind"], a.get("template") or a.get("topic")) for r in rules.rules for a in r.actions
             if a["kind"] in ("alert", "remind")}
    named |= {(a["kind"], a.get("template") or a.get("topic"))
              for lv in rules.policy.levels for a in (x.to_dict() for x in lv.actions) if a["kind"] in ("alert", "remind")}
    assert named, "the default pack sends alerts"
    assert catalog.missing(ALERT, [k for kind, k in named if kind == "alert"]) == []
    assert catalog.missing(REMINDER, [k for kind, k in named if kind == "remind"]) == []


def test_missing_translation_falls_back_to_english(tmp_path: Path):
    (tmp_path / "en.yaml").write_text((bundled("alerts") / "en.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "ko.yaml").write_text(
        "language: ko\nalerts:\n  new_device_login:\n    title: 새 기기\n    body: '{time} 로그인'\n", encoding="utf-8"
    )
    cat = Catalog.load(tmp_path)
    d = details(CTX, TS, "ko", zone("Asia/Seoul"))
    assert cat.render(ALERT, "new_device_login", "ko", d).language == "ko"
    fallback = cat.render(ALERT, "large_withdrawal", "ko-KR", d)
    assert fallback.language == "en" and fallback.title == "A large withdrawal is on hold for review"
    assert cat.call_script(["account_takeover"], "ko", d).language == "en"


def test_call_script_per_rule_and_language(catalog):
    d = details(CTX, TS, "zh", zone("Asia/Seoul"))
    s = catalog.call_script(["brute_force_account", "account_takeover"], "zh-CN", d)
    assert (s.language, s.name) == ("zh", "account_takeover") and "0.85 BTC" in " ".join(s.steps)
    assert catalog.call_script(["unknown_rule"], "ko", d).name == "default"


def test_template_errors_point_at_file_line_and_column(tmp_path: Path):
    (tmp_path / "en.yaml").write_text(
        "language: en\n"
        "alerts:\n"
        "  new_device_login:\n"
        "    title: Hi\n"
        "    body: >-\n"
        "      Signed in at {time}\n"
        "      from {plaec}.\n"
        "  bad_one:\n"
        "    title: x\n"
        "    text: y\n"
        "reminders: {}\n"
        "call_scripts:\n"
        "  default: {title: t, steps: [ok]}\n"
        "colour: blue\n",
        encoding="utf-8",
    )
    (tmp_path / "zh.yaml").write_text("language: ko\n", encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        Catalog.load(tmp_path)
    problems = info.value.problems
    en = str(tmp_path / "en.yaml")
    assert f"{en}:7:12: alerts.new_device_login.body: unknown placeholder {{plaec}}; did you mean {{place}}? [bad-template]" in problems
    assert f"{en}:10:5: alerts.bad_one: unknown key 'text'; expected title, body [bad-template]" in problems
    assert any(p.startswith(f"{en}:14:1: unknown key 'colour'") for p in problems)
    assert any(p.startswith(f"{tmp_path / 'zh.yaml'}:1:11: 'language' must be 'zh'") for p in problems)
    assert info.value.code == "bad-template"


def test_alert_message_on_the_topic(env, catalog):
    async def go(store):
        await Effects(store, catalog).apply(decision(1, locale="zh-CN", actions=[{"kind": "alert", "template": "large_withdrawal"}]))
        return await store.client.xrange(store.keys.alerts("u-1"))

    (_, fields), = env.run(go)
    msg = orjson.loads(fields["payload"])
    assert msg["kind"] == "alert" and msg["template"] == "large_withdrawal"
    assert msg["language"] == "zh" and msg["locale"] == "zh-CN" and msg["user_id"] == "u-1"
    assert msg["alert_id"] == fields["alert_id"] and msg["decision_id"] == "d-u-1-large_withdrawal_relative-1"
    assert msg["details"]["address"] == "bc1qex…0000" and msg["details"]["value"] == "112,000,000韩元"
    assert "约 112,000,000韩元" in msg["body"]


def test_alerts_are_rate_limited_per_user(env, catalog):
    templates = ["new_device_login", "large_withdrawal", "account_takeover", "withdrawal_new_address", "failed_login_attempts"]

    async def go(store):
        fx = Effects(store, catalog)
        out = []
        for n, t in enumerate(templates):  # five different alerts within minutes: an attack
            out.append(await fx.apply(decision(n, actions=[{"kind": "alert", "template": t}])))
            env.clock.advance(60)
        other = await fx.apply(decision(9, user="u-2", actions=[{"kind": "alert", "template": "new_device_login"}]))
        env.clock.advance(3600)  # the window has moved on
        later = await fx.apply(decision(10, actions=[{"kind": "alert", "template": "failed_login_attempts"}]))
        return out, other, later, await store.counters()

    out, other, later, counters = env.run(go, alert_limit=3, alert_window=3600)
    assert [bool(a.alerts) for a in out] == [True, True, True, False, False]
    assert [s["why"] for a in out for s in a.suppressed] == ["rate_limited", "rate_limited"]
    assert other.alerts and later.alerts  # per user, and the window slides
    assert counters["alerts_sent"] == 5 and counters["alerts_suppressed_rate_limited"] == 2


def test_the_same_alert_is_not_repeated_within_its_gap(env, catalog):
    async def go(store):
        fx = Effects(store, catalog)
        a = await fx.apply(decision(1, actions=[{"kind": "alert", "template": "failed_login_attempts"}]))
        env.clock.advance(600)
        b = await fx.apply(decision(2, actions=[{"kind": "alert", "template": "failed_login_attempts"}]))
        env.clock.advance(1300)
        c = await fx.apply(decision(3, actions=[{"kind": "alert", "template": "failed_login_attempts"}]))
        return a, b, c

    a, b, c = env.run(go, alert_repeat=1800)
    assert a.alerts and not b.alerts and b.suppressed[0]["why"] == "repeat" and c.alerts


def test_reminders_have_their_own_cooldown(env, catalog):
    async def go(store):
        fx = Effects(store, catalog)
        out = []
        for n in range(5):  # reminders do not use up the alert budget, and vice versa
            out.append(await fx.apply(decision(n, actions=[{"kind": "remind", "topic": "change_password"},
                                                           {"kind": "alert", "template": ["new_device_login", "large_withdrawal", "account_takeover", "withdrawal_new_address", "failed_login_attempts"][n]}])))
            env.clock.advance(3600)
        phishing = await fx.apply(decision(7, actions=[{"kind": "remind", "topic": "phishing"}]))
        env.clock.advance(7 * 86400)
        again = await fx.apply(decision(8, actions=[{"kind": "remind", "topic": "change_password"}]))
        return out, phishing, again

    out, phishing, again = env.run(go, alert_limit=1, alert_window=1800, reminder_cooldown="7d")
    reminders = [[i for i in a.alerts if i.endswith("-0")] for a in out]
    assert [bool(r) for r in reminders] == [True, False, False, False, False]
    assert all(len(a.alerts) >= 1 for a in out)  # each hour's alert went out
    assert {s["why"] for a in out for s in a.suppressed} == {"cooldown"}
    assert phishing.alerts and again.alerts


def test_recent_alerts_and_limit_state_explain_what_was_sent(env, catalog):
    from stream_guard.actions.alerts import recent_alerts
    from stream_guard.actions.ratelimit import limit_state

    async def go(store):
        fx = Effects(store, catalog)
        for n, t in enumerate(["new_device_login", "large_withdrawal", "account_takeover"]):
            await fx.apply(decision(n, locale="en", actions=[{"kind": "alert", "template": t}, {"kind": "remind", "topic": "phishing"}]))
            env.clock.advance(60)
        return await recent_alerts(store, "u-1"), await limit_state(store, "u-1")

    alerts, state = env.run(go, alert_limit=2, alert_window=3600)
    # newest first; account_takeover was over the limit, the second and third phishing in cool-down
    assert [(a.kind, a.template or a.topic) for a in alerts] == [
        ("alert", "large_withdrawal"), ("security_reminder", "phishing"), ("alert", "new_device_login")]
    assert all(a.language == "en" and a.title for a in alerts)
    assert state.alerts_in_window == 2 and state.alert_budget_left == 0
    assert state.next_alert_at.timestamp() == pytest.approx(env.clock.t - 180 + 3600)
    assert set(state.templates_last_sent) == {"new_device_login", "large_withdrawal"}
    assert state.reminders_ready_at["phishing"].timestamp() == pytest.approx(env.clock.t - 180 + 7 * 86400)
