"""``stream-guard backtest`` and ``shadow-report`` as an analyst runs them."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from backtest_fixture import Case, write_case
from typer.testing import CliRunner

from stream_guard.cli import app

runner = CliRunner()


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return write_case(tmp_path / "case")


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_backtest_writes_json_report_and_a_summary(case: Case, tmp_path: Path):
    out, html = tmp_path / "bt.json", tmp_path / "bt.html"
    res = run("backtest", str(case.events), "--rules", str(case.rules), "--labels", str(case.labels),
              "--baseline", str(case.baseline), "--json", str(out), "--report", str(html))
    assert res.exit_code == 0, res.output
    doc = orjson.loads(out.read_bytes())
    assert set(doc) >= {"rules", "labels", "diff", "period", "replay"}
    assert set(doc["labels"]) >= {"recall_by_kind", "benign_flagged_share", "missed"}
    assert doc["rules"]["failed_burst"]["decisions"] == 3
    # nothing lost: the invalid lines are counted and listed with their reasons
    assert doc["replay"]["invalid"] == 2 and [i["line"] for i in doc["replay"]["invalid_lines"]] == [7, 8]
    assert "line 8:" in res.output and "ts: missing required field" in res.output
    assert "9 decisions (5 enforce, 4 shadow) over 2 days" in res.output
    assert "+5 gained" in res.output and "-1 lost" in res.output
    assert "missed by every rule: 2" in res.output
    assert html.read_text().startswith("<!doctype html>")


def test_backtest_json_to_standard_output(case: Case):
    res = runner.invoke(app, ["backtest", str(case.events), "--rules", str(case.rules), "--json", "-", "-q"])
    assert res.exit_code == 0
    assert orjson.loads(res.stdout)["decisions"]["total"] == 9


def test_backtest_reads_standard_input(case: Case):
    res = runner.invoke(app, ["backtest", "-", "--rules", str(case.rules), "--json", "-", "-q"],
                        input=case.events.read_bytes())
    assert res.exit_code == 0, res.output
    assert orjson.loads(res.stdout)["rules"]["big_withdrawal"]["decisions"] == 2


def test_missing_events_file_exits_2(case: Case, tmp_path: Path):
    res = run("backtest", str(tmp_path / "nope.jsonl"), "--rules", str(case.rules))
    assert res.exit_code == 2 and "no such file" in res.output


def test_bad_labels_name_the_field_and_exit_2(case: Case, tmp_path: Path):
    bad = tmp_path / "labels.json"
    bad.write_text('{"benign_users": [], "attacks": [{"kind": "x", "user_id": "u-1", "key_ts": "noon"}]}')
    res = run("backtest", str(case.events), "--rules", str(case.rules), "--labels", str(bad))
    assert res.exit_code == 2
    assert "attacks.0.key_ts: not an RFC 3339 date-time" in res.output


def test_invalid_rules_print_file_line_column_and_exit_1(case: Case, tmp_path: Path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "r.yaml").write_text("rules:\n  - id: oops\n    title: t\n    severity: high\n    on: login\n    when: features.new_devise\n")
    res = run("backtest", str(case.events), "--rules", str(bad))
    assert res.exit_code == 1
    assert "r.yaml:6:11: rule 'oops': unknown feature 'new_devise'" in res.output
    res = run("backtest", str(case.events), "--rules", str(case.rules), "--baseline", str(bad))
    assert res.exit_code == 1 and "r.yaml:6:11" in res.output
    res = run("backtest", str(case.events), "--baseline", str(tmp_path / "none"))
    assert res.exit_code == 1 and "no rules directory" in res.output


def test_baseline_cannot_read_standard_input_twice(case: Case):
    res = run("backtest", "-", "--rules", str(case.rules), "--baseline", str(case.baseline), input="")
    assert res.exit_code == 2 and "standard input" in res.output


def test_output_into_a_missing_directory_exits_2_before_the_run(case: Case, tmp_path: Path):
    for option in ("--report", "--json"):
        res = run("backtest", str(case.events), "--rules", str(case.rules), option, str(tmp_path / "no" / "x"))
        assert res.exit_code == 2 and f"{option}: no such directory" in res.output


def test_bad_lateness_exits_2(case: Case):
    res = run("backtest", str(case.events), "--lateness", "soon")
    assert res.exit_code == 2 and "--lateness" in res.output


def _decisions_file(case: Case, tmp_path: Path) -> Path:
    out = tmp_path / "decisions.jsonl"
    res = run("replay", str(case.events), "--rules", str(case.rules), "-q", "--out", str(out))
    assert res.exit_code == 0, res.output
    return out


def test_shadow_report_from_a_file(case: Case, tmp_path: Path):
    decisions = _decisions_file(case, tmp_path)
    out = tmp_path / "shadow.json"
    res = run("shadow-report", "--decisions", str(decisions), "--since", "2026-11-01T00:00:00+09:00",
              "--until", "2026-11-03T00:00:00+09:00", "--json", str(out))
    assert res.exit_code == 0, res.output
    doc = orjson.loads(out.read_bytes())
    r = doc["rules"]["big_withdrawal_shadow"]
    assert (r["decisions"], r["new_decisions"], r["new_users"]) == (4, 2, 1)
    assert "big_withdrawal_shadow" in res.output and "4 callback" in res.output
    assert "enforced in the same period: 5 decisions by 2 rules" in res.output


def test_shadow_report_relative_period_and_rule_filter(case: Case, tmp_path: Path):
    decisions = _decisions_file(case, tmp_path)
    res = runner.invoke(app, ["shadow-report", "--decisions", str(decisions), "--until", "2026-11-02T00:00:00+09:00",
                              "--since", "1d", "--rule", "shadow", "--json", "-", "-q"])
    assert res.exit_code == 0, res.output
    doc = orjson.loads(res.stdout)
    assert doc["period"]["since"] == "2026-11-01T00:00:00+09:00"
    assert doc["rules"]["big_withdrawal_shadow"]["decisions"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "expected an RFC 3339 time"),
        (["--since", "2026-11-02T00:00:00Z", "--until", "2026-11-01T00:00:00Z"], "the period is empty"),
        (["--broker", "kafka://127.0.0.1:1"], "not both"),
    ],
)
def test_shadow_report_bad_options_exit_2(case: Case, tmp_path: Path, args, message):
    res = run("shadow-report", "--decisions", str(_decisions_file(case, tmp_path)), *args)
    assert res.exit_code == 2 and message in res.output


def test_shadow_report_missing_file_exits_2(tmp_path: Path):
    res = run("shadow-report", "--decisions", str(tmp_path / "none.jsonl"))
    assert res.exit_code == 2 and "no such file" in res.output
