"""Per-rule figures of a backtest on the hand-made case (answers worked out in backtest_fixture.py)."""

from __future__ import annotations

from typing import Any

import pytest
from backtest_fixture import make_case, make_doc

from stream_guard.backtest.days import Calendar
from stream_guard.backtest.record import DecisionRecord
from stream_guard.backtest.stats import overlap
from stream_guard.core.clock import parse_ts

case = pytest.fixture(make_case, name="case")
doc = pytest.fixture(make_doc, name="doc")


def test_decisions_users_and_days_per_rule(doc: dict[str, Any]):
    rules = doc["rules"]
    assert list(rules) == ["failed_burst", "big_withdrawal", "big_withdrawal_shadow"]
    got = {rid: (r["decisions"], r["users"], r["per_day"]) for rid, r in rules.items()}
    assert got == {
        "failed_burst": (3, 2, {"2026-11-01": 1, "2026-11-02": 2}),
        "big_withdrawal": (2, 2, {"2026-11-01": 1, "2026-11-02": 1}),
        "big_withdrawal_shadow": (4, 3, {"2026-11-01": 2, "2026-11-02": 2}),
    }
    assert rules["big_withdrawal_shadow"]["mode"] == "shadow"
    assert rules["failed_burst"]["per_day_max"] == 2 and rules["failed_burst"]["per_day_mean"] == 1.5
    assert rules["big_withdrawal"]["actions"] == {"callback": 2}
    assert doc["period"] == {
        "first_ts": "2026-11-01T10:00:00+09:00", "last_ts": "2026-11-02T18:00:00+09:00",
        "utc_offset": "+09:00", "days": ["2026-11-01", "2026-11-02"],
    }
    assert doc["decisions"] == {"total": 9, "by_mode": {"enforce": 5, "shadow": 4}, "users": 4}
    assert doc["severity"] == {"high": {"enforce": 3}, "medium": {"enforce": 2}, "low": {"shadow": 4}}


def test_the_exact_decisions_behind_the_counts(doc: dict[str, Any]):
    """failed_burst fires on the third failure, is suppressed on the fourth, and fires
    again for u-c once the first burst left the 10-minute window."""
    events = [e["event_id"] for e in doc["rules"]["failed_burst"]["examples"]]
    assert events == ["l-a3", "l-c3", "l-c6"]
    top = doc["top_users"]
    assert [(u["user_id"], u["decisions"]) for u in top] == [("u-a", 3), ("u-b", 3), ("u-c", 2), ("u-e", 1)]
    assert top[1]["rules"] == {"big_withdrawal_shadow": 2, "big_withdrawal": 1}


def test_overlap_and_unique_decisions(doc: dict[str, Any]):
    rules = doc["rules"]
    # u-a's burst at 10:02 and withdrawal at 10:30 are within two hours; u-c's bursts are alone
    assert rules["failed_burst"]["overlap"] == {
        "big_withdrawal": {"decisions": 1, "users": 1},
        "big_withdrawal_shadow": {"decisions": 1, "users": 1},
    }
    assert rules["failed_burst"]["unique_decisions"] == 2
    # both big withdrawals also fired the shadow rule (same event)
    assert rules["big_withdrawal"]["overlap"]["big_withdrawal_shadow"] == {"decisions": 2, "users": 2}
    assert rules["big_withdrawal"]["unique_decisions"] == 0
    # u-b's 7M on day 1 and u-e's 6M fired the shadow rule alone
    assert rules["big_withdrawal_shadow"]["unique_decisions"] == 2


def _rec(rule: str, user: str, t: float) -> DecisionRecord:
    return DecisionRecord(f"d-{rule}-{t}", rule, 1, "enforce", "high", "", user, f"e-{t}", "", t, None, "", ())


def test_overlap_window_edges():
    """Exactly two hours apart still overlaps; a second more does not."""
    ds = [_rec("a", "u", 0.0), _rec("b", "u", 7200.0), _rec("c", "u", 14401.0)]
    decisions, unique, users = overlap(ds)
    assert decisions["a"] == {"b": 1} and decisions["b"] == {"a": 1}
    assert unique == {"c": 1}
    assert users["a"] == {"b": 1, "c": 1}  # users named by both, at any time


def test_days_follow_the_first_events_offset():
    t = parse_ts("2026-11-01T23:30:00Z").timestamp()
    assert Calendar(9 * 3600).label(Calendar(9 * 3600).day(t)) == "2026-11-02"
    assert Calendar(0).label(Calendar(0).day(t)) == "2026-11-01"
    assert Calendar(-5 * 3600).iso(t) == "2026-11-01T18:30:00-05:00"
