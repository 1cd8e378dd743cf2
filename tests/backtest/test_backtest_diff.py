"""Diff of two rule sets on the same events: gained, lost and changed decisions."""

from __future__ import annotations

from typing import Any

import pytest
from backtest_fixture import Case, make_case, make_doc, run_case

from stream_guard.backtest.diff import diff

case = pytest.fixture(make_case, name="case")
doc = pytest.fixture(make_doc, name="doc")


def test_gained_lost_and_changed_per_rule(doc: dict[str, Any]):
    d = doc["diff"]
    assert d["totals"] == {"candidate": 9, "baseline": 5, "gained": 5, "lost": 1, "changed": 4}
    fb = d["rules"]["failed_burst"]
    # the baseline needed four failures: u-a's fourth (l-a4); the candidate fires on the third
    assert [e["event_id"] for e in fb["examples"]["gained"]] == ["l-a3", "l-c3", "l-c6"]
    assert [e["event_id"] for e in fb["examples"]["lost"]] == ["l-a4"]
    assert (fb["gained"], fb["lost"], fb["gained_users"], fb["lost_users"]) == (3, 1, 2, 1)
    big = d["rules"]["big_withdrawal"]
    assert (big["baseline"], big["candidate"], big["gained"], big["lost"]) == (0, 2, 2, 0)
    shadow = d["rules"]["big_withdrawal_shadow"]
    assert (shadow["gained"], shadow["lost"], shadow["changed"]) == (0, 0, 4)
    assert shadow["examples"]["changed"][0]["fields"] == {"severity": ["medium", "low"]}
    example = fb["examples"]["gained"][0]
    assert set(example) >= {"event_id", "user_id", "ts", "reason", "decision_id"}
    assert example["user_id"] == "u-a" and example["ts"] == "2026-11-01T10:02:00+09:00"


def test_definitions_that_differ(doc: dict[str, Any]):
    defs = doc["diff"]["definitions"]
    assert defs["rules_added"] == ["big_withdrawal"] and defs["rules_removed"] == []
    assert defs["rules_changed"] == {"big_withdrawal_shadow": ["severity"], "failed_burst": ["aggregate"]}


def test_a_rule_set_against_itself_changes_nothing(case: Case):
    a, b = run_case(case), run_case(case)
    per_rule = diff(a.records, b.records)
    assert all(r["gained"] == r["lost"] == r["changed"] == 0 for r in per_rule.values())
    assert {rid: r["candidate"] for rid, r in per_rule.items()} == {
        "big_withdrawal": 2, "big_withdrawal_shadow": 4, "failed_burst": 3,
    }


def test_swapping_the_sets_swaps_gained_and_lost(case: Case):
    cand, base = run_case(case), run_case(case, case.baseline)
    forward, backward = diff(cand.records, base.records), diff(base.records, cand.records)
    for rid in forward:
        assert (forward[rid]["gained"], forward[rid]["lost"]) == (backward[rid]["lost"], backward[rid]["gained"])
