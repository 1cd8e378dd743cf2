"""Per-user baselines: warm-up, what their scores mean, bounded state."""

from __future__ import annotations

import random

import orjson

from stream_guard.core.models.baselines import Amount, Hour, Rarity


def learned(values: list[float]) -> list[float]:
    b = Amount.fresh()
    for v in values:
        Amount.learn(b, v)
    return b


def test_amount_is_null_until_warm_then_scores_only_what_is_above_the_usual() -> None:
    assert Amount.score(learned([500_000]), 50_000_000, warmup=2) is None
    b = learned([400_000, 600_000, 500_000, 450_000])
    assert Amount.score(b, 100_000, warmup=2) == 0.0  # smaller than usual: no signal
    assert Amount.score(b, 520_000, warmup=2) == 0.0
    near, far = Amount.score(b, 3_000_000, warmup=2), Amount.score(b, 80_000_000, warmup=2)
    assert 0.0 < near < 0.9 < far < 1.0
    assert abs(Amount.usual(b) - 480_000) < 30_000


def test_amount_is_robust_to_the_first_few_transfers() -> None:
    # three identical withdrawals have no spread of their own: the prior keeps a modestly
    # larger one (2x) from looking extreme
    b = learned([500_000, 500_000, 500_000])
    assert Amount.score(b, 1_000_000, warmup=2) == 0.0
    # a user whose amounts always vary (a whale) is not surprised by a large one
    whale = learned([2e6, 9e7, 5e6, 4e7, 1e6, 2e8, 8e6])
    steady = learned([5e5, 6e5, 5.5e5, 4.5e5, 5e5, 6e5, 5e5])
    assert Amount.score(whale, 1.5e8, warmup=2) < 0.6 < 0.98 < Amount.score(steady, 1.5e8, warmup=2)


def test_hour_baseline_learns_a_routine() -> None:
    b = Hour.fresh()
    nine = 9 * 3600.0
    assert Hour.score(b, nine, warmup=10) is None
    for day in range(40):
        Hour.learn(b, day * 86400 + nine + random.Random(day).uniform(-1800, 1800))
    assert Hour.score(b, 40 * 86400 + nine, warmup=10) == 0.0
    assert Hour.score(b, 40 * 86400 + 3 * 3600, warmup=10) > 0.9
    assert Hour.usual(b)[0] in (8, 9)


def test_rarity_of_values() -> None:
    b = Rarity.fresh()
    for _ in range(30):
        Rarity.learn(b, "KR")
    Rarity.learn(b, "JP")
    assert Rarity.score(b, "KR", warmup=5) < 0.05
    assert 0.9 < Rarity.score(b, "JP", warmup=5) < Rarity.score(b, "NL", warmup=5)
    assert Rarity.score(Rarity.fresh(), "KR", warmup=5) is None
    assert Rarity.key("a-long-device-fingerprint") == Rarity.key("a-long-device-fingerprint") != "a-long-device-fingerprint"


def test_state_stays_small_however_long_the_history() -> None:
    rng = random.Random(7)
    a, h, r = Amount.fresh(), Hour.fresh(), Rarity.fresh()
    for i in range(20_000):
        Amount.learn(a, rng.lognormvariate(13, 1))
        Hour.learn(h, i * 3607.0)
        Rarity.learn(r, Rarity.key(f"device-{rng.randrange(50)}-with-a-long-fingerprint"))
    assert len(orjson.dumps(a)) < 40
    assert len(orjson.dumps(h)) < 150
    assert len(orjson.dumps(r)) < 120


def test_rarity_keys_are_found_only_at_key_positions() -> None:
    """Keys and counts share one list: a numeric key (an ASN) equal to the total or to a
    count must not be taken for a key."""
    b = [3, 7, 3]  # total 3, key 7 seen 3 times
    assert Rarity.count_of(b, 3) == 0 and Rarity.count_of(b, 7) == 3
    Rarity.learn(b, 3)
    assert b == [4, 7, 3, 3, 1]
    assert Rarity.count_of(b, 3) == 1
    lone = [5]
    assert Rarity.count_of(lone, 5) == 0
    Rarity.learn(lone, 5)
    assert lone == [6, 5, 1]
