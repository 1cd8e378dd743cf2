"""The shadow review over a file of decisions: per shadow rule, against the enforced ones."""

from __future__ import annotations

import orjson
import pytest
from backtest_fixture import Case, make_case, run_case

from stream_guard.backtest.shadow import DecisionReader, summarise
from stream_guard.core.clock import parse_ts
from stream_guard.replay import build_detector, load_pack

case = pytest.fixture(make_case, name="case")


def _decision_lines(case: Case) -> list[bytes]:
    """The case's decisions as the worker publishes them (full JSON)."""
    from stream_guard.replay import replay

    out: list[bytes] = []
    with case.events.open("rb") as f:
        replay(f, _detector(case.rules), lambda d: out.append(d.to_json()))
    return out


def test_shadow_rule_against_the_enforced_ones(case: Case):
    reader = DecisionReader()
    reader.feed_lines(_decision_lines(case))
    doc = summarise(reader, source="file")
    assert list(doc["rules"]) == ["big_withdrawal_shadow"]
    r = doc["rules"]["big_withdrawal_shadow"]
    assert (r["decisions"], r["users"], r["per_day"]) == (4, 3, {"2026-11-01": 2, "2026-11-02": 2})
    # u-a and u-b's day-2 withdrawal were also big_withdrawal's; u-b's 7M and u-e's 6M were not
    assert r["overlap_enforced"] == {
        "big_withdrawal": {"decisions": 2, "users": 2},
        "failed_burst": {"decisions": 1, "users": 1},
    }
    assert r["new_decisions"] == 2
    assert r["new_users"] == 1  # u-e: no enforced decision ever named it
    assert r["actions"] == {"callback": 4} and r["versions"] == [1]
    assert doc["decisions"] == {"shadow": 4, "enforce": 5}
    assert doc["enforced_rules"] == {"big_withdrawal": 2, "failed_burst": 3}
    assert [e["event_id"] for e in r["examples"]] == ["t-a1", "t-b1", "t-b2", "t-e1"]  # time order


def test_period_duplicates_and_bad_lines(case: Case):
    lines = _decision_lines(case)
    lines += [lines[0], b"{nope", b'{"decision_id": "d-1", "rule_id": "r"}', orjson.dumps([1])]
    since = parse_ts("2026-11-02T00:00:00+09:00").timestamp()
    until = parse_ts("2026-11-02T16:00:00+09:00").timestamp()
    reader = DecisionReader(since=since, until=until)
    reader.feed_lines(lines)
    st = reader.stats
    assert (st.messages, st.duplicates, st.invalid) == (13, 1, 3)
    assert [w for w, _ in st.invalid_items] == ["line 11", "line 12", "line 13"]
    assert "mode: expected a non-empty string" in st.invalid_items[1][1]
    # day 2 before 16:00: u-c's two bursts, u-b's 15M (both withdrawal rules)
    assert st.decisions == 4 and st.outside_period == 9 - 4
    doc = summarise(reader, source="file")
    assert doc["rules"]["big_withdrawal_shadow"]["decisions"] == 1
    assert doc["period"]["since"] == "2026-11-02T00:00:00+09:00"
    assert doc["period"]["days"] == ["2026-11-02"]


def test_a_run_without_shadow_rules(case: Case):
    reader = DecisionReader()
    for d in run_case(case, case.baseline).records:
        if d.mode == "enforce":
            reader.feed("0:1", orjson.dumps({**d.example(), "rule_id": d.rule_id, "mode": d.mode}))
    doc = summarise(reader, source="file")
    assert doc["rules"] == {} and doc["enforced_rules"] == {"failed_burst": 1}


def _detector(rules_dir):
    rules, models = load_pack(rules_dir)
    return build_detector(rules, models=models)
