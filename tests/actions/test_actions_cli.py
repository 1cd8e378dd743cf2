"""``stream-guard freeze status / lift / audit`` and ``tasks list`` against a real Redis."""

from __future__ import annotations

import orjson
from actions_helpers import decision
from typer.testing import CliRunner

from stream_guard.actions.effects import Effects
from stream_guard.actions.templates import Catalog
from stream_guard.cli import app


def cli(env, *args):
    return CliRunner().invoke(app, [*args, "--redis", env.url], env={"STREAM_GUARD_ACTIONS__KEY_PREFIX": env.prefix, "COLUMNS": "200"})


def test_freeze_status_lift_and_audit(env, catalog):
    env.clock.t = __import__("time").time()
    env.run(lambda store: Effects(store, catalog).apply(
        decision(1, user="u-7", actions=[{"kind": "freeze", "scope": "withdrawals", "manual": True},
                                         {"kind": "callback", "priority": "critical"}])))
    frozen = cli(env, "freeze", "status", "u-7")
    assert frozen.exit_code == 0 and "withdrawals frozen" in frozen.output and "lifted by hand" in frozen.output
    as_json = orjson.loads(cli(env, "freeze", "status", "u-7", "--json").output)
    assert as_json["withdrawals_frozen"] and as_json["freezes"][0]["decision_ids"] == ["d-u-7-large_withdrawal_relative-1"]
    lifted = cli(env, "freeze", "lift", "u-7", "--reason", "user called in, verified", "--by", "lead-kim")
    assert lifted.exit_code == 0 and "lifted 1 freeze(s)" in lifted.output
    again = cli(env, "freeze", "lift", "u-7", "--reason", "x", "--by", "y")
    assert again.exit_code == 1 and "no active freeze" in again.output
    assert "withdrawals allowed" in cli(env, "freeze", "status", "u-7").output
    trail = [orjson.loads(line) for line in cli(env, "freeze", "audit", "u-7", "--json").output.splitlines()]
    assert [(e["action"], e["by"]) for e in trail] == [("freeze", "stream-guard"), ("lift", "lead-kim")]
    assert trail[1]["reason"] == "user called in, verified"
    table = cli(env, "freeze", "audit", "u-7")
    assert "lead-kim" in table.output and "nothing frozen" in table.output
    tasks = cli(env, "tasks", "list")
    assert tasks.exit_code == 0 and "open 1" in tasks.output and "u-7~1" in tasks.output


def test_unreachable_redis_is_reported(env):
    res = CliRunner().invoke(app, ["freeze", "status", "u-1", "--redis", "redis://127.0.0.1:9/0"])
    assert res.exit_code == 1 and "cannot reach Redis at redis://127.0.0.1:9/0" in res.output


def test_script_for_a_task_is_in_its_language(env, catalog: Catalog):
    from stream_guard.actions.tasks import TaskQueue

    async def go(store):
        await Effects(store, catalog).apply(decision(1, user="u-zh", locale="zh-CN", rule="account_takeover"))
        return await TaskQueue(store).open_task("u-zh")

    task = env.run(go)
    s = catalog.script_for_task(task)
    assert (s.language, s.name) == ("zh", "account_takeover") and "0.85 BTC" in " ".join(s.steps)


def test_work_a_task_from_the_command_line(env, catalog):
    env.clock.t = __import__("time").time()
    env.run(lambda store: Effects(store, catalog).apply(
        decision(1, user="u-8", rule="account_takeover", locale="zh-CN",
                 actions=[{"kind": "freeze", "scope": "withdrawals", "manual": True},
                          {"kind": "callback", "priority": "critical", "reason": "Possible account takeover"}])))
    assert cli(env, "tasks", "claim", "--agent", "kim", "--lang", "ko").exit_code == 1  # nothing in Korean
    claimed = cli(env, "tasks", "claim", "--agent", "wang", "--lang", "zh")
    assert claimed.exit_code == 0 and "u-8~1" in claimed.output and "call script (zh)" in claimed.output
    shown = cli(env, "tasks", "show", "u-8~1")
    assert "account_takeover" in shown.output and "claimed" in shown.output
    assert "the user: not known" in shown.output  # a decision without a profile
    later = decision(2, user="u-8", rule="account_takeover", locale="zh-CN")
    later["profile"] = {"account_age_days": 88.5, "countries": ["CN", "KR"], "devices_known": 1, "ips_known": 2,
                        "last_login": {"at": "2026-11-23T12:04:00.000Z", "country": "CN", "device": "d-9"},
                        "mfa_enabled": True, "failed_login_streak": 0, "locale": "zh-CN", "last_security_change": None,
                        "withdrawals": {"count": 3, "max_krw": 2_500_000, "last_at": None},
                        "deposits": {"count": 1, "max_krw": 900_000, "last_at": None}}
    env.run(lambda store: Effects(store, catalog).apply(later))
    shown = cli(env, "tasks", "show", "u-8~1")
    assert "account 88.5 days old" in shown.output and "signs in from CN, KR" in shown.output
    assert "2FA on" in shown.output and "withdrawals 3 (largest 2,500,000 KRW" in shown.output
    assert cli(env, "tasks", "resolve", "u-8~1", "--agent", "kim", "--outcome", "unreachable").exit_code == 1  # not kim's
    done = cli(env, "tasks", "resolve", "u-8~1", "--agent", "wang", "--outcome", "confirmed_legitimate", "--note", "本人确认")
    assert done.exit_code == 0 and "confirmed_legitimate; freezes changed" in done.output
    assert "withdrawals allowed" in cli(env, "freeze", "status", "u-8").output


def test_alerts_check(tmp_path):
    ok = CliRunner().invoke(app, ["alerts", "check", "--rules", "rules"])
    assert ok.exit_code == 0 and "ko" in ok.output
    (tmp_path / "en.yaml").write_text("language: en\nalerts:\n  x: {title: t, body: '{nope}'}\ncall_scripts:\n  default: {title: t, steps: [s]}\n")
    bad = CliRunner().invoke(app, ["alerts", "check", str(tmp_path)])
    assert bad.exit_code == 1 and "en.yaml:3:" in bad.output and "unknown placeholder {nope}" in bad.output
    (tmp_path / "few").mkdir()
    (tmp_path / "few" / "en.yaml").write_text("language: en\nalerts:\n  new_device_login: {title: t, body: b}\n"
                                              "call_scripts:\n  default: {title: t, steps: [s]}\n")
    missing = CliRunner().invoke(app, ["alerts", "check", str(tmp_path / "few"), "--rules", "rules"])
    assert missing.exit_code == 1 and "alert template 'large_withdrawal'" in missing.output
    assert "reminder 'change_password'" in missing.output
