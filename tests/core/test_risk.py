"""RiskScore: points that add up and halve every half-life of event time."""

from __future__ import annotations

import orjson
import pytest

from stream_guard.core.risk import MAX_CONTRIBUTIONS, RiskScore

HL = 3600.0


def test_a_new_score_is_zero_at_any_time():
    r = RiskScore()
    assert r.at(0, HL) == 0.0
    assert r.at(1e9, HL) == 0.0


@pytest.mark.parametrize(("dt", "expected"), [(0, 80.0), (HL, 40.0), (2 * HL, 20.0), (HL / 2, 80 / 2**0.5)])
def test_score_halves_every_half_life(dt, expected):
    r = RiskScore()
    r.add(80, t=1000, half_life=HL, source="a")
    assert r.at(1000 + dt, HL) == pytest.approx(expected)


def test_add_decays_the_old_score_then_adds():
    r = RiskScore()
    assert r.add(40, t=0, half_life=HL, source="a") == 40.0
    assert r.add(40, t=HL, half_life=HL, source="b") == pytest.approx(60.0)
    assert r.value == pytest.approx(60.0)
    assert r.t == HL
    assert r.at(2 * HL, HL) == pytest.approx(30.0)


def test_add_at_the_same_time_sums():
    r = RiskScore()
    r.add(30, t=50, half_life=HL, source="a")
    assert r.add(25, t=50, half_life=HL, source="b") == 55.0


def test_score_never_grows_for_an_earlier_time():
    r = RiskScore()
    r.add(50, t=10_000, half_life=HL, source="a")
    assert r.at(10_000 - HL, HL) == 50.0
    assert r.at(0, HL) == 50.0


def test_add_at_an_earlier_time_adds_undecayed_and_keeps_the_latest_time():
    r = RiskScore()
    r.add(50, t=10_000, half_life=HL, source="a")
    assert r.add(10, t=5_000, half_life=HL, source="late") == 60.0
    assert r.t == 10_000
    assert r.at(10_000 + HL, HL) == pytest.approx(30.0)


def test_contributions_are_recorded_in_order():
    r = RiskScore()
    r.add(40, t=0, half_life=HL, source="impossible_travel")
    r.add(50, t=60, half_life=HL, source="new_address")
    assert r.recent == [["impossible_travel", 40, 0], ["new_address", 50, 60]]


def test_contributions_are_capped_to_the_most_recent():
    r = RiskScore()
    for i in range(MAX_CONTRIBUTIONS + 3):
        r.add(1, t=i, half_life=HL, source=f"r{i}")
    assert len(r.recent) == MAX_CONTRIBUTIONS
    assert [c[0] for c in r.recent] == [f"r{i}" for i in range(3, MAX_CONTRIBUTIONS + 3)]


def test_state_round_trip_through_json():
    r = RiskScore()
    r.add(40, t=0, half_life=HL, source="a")
    r.add(33.33333, t=100, half_life=HL, source="b")
    back = RiskScore.from_state(orjson.loads(orjson.dumps(r.to_state())))
    assert back.t == r.t
    assert back.recent == r.recent
    assert back.at(5000, HL) == pytest.approx(r.at(5000, HL), abs=1e-3)


def test_separate_scores_do_not_share_contributions():
    a, b = RiskScore(), RiskScore()
    a.add(1, t=0, half_life=HL, source="x")
    assert b.recent == []
