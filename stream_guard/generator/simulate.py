"""Putting it together: a population, its days, the attacks on some of them, and the labels.

Randomness flows from one ``random.Random(seed)``: it seeds the market, the population, the
event ids and one generator per user and per attack, so the same arguments give the same
events, byte for byte, and adding an attack does not reshuffle everyone's habits.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from random import Random
from typing import Any

from stream_guard.generator.attacks import ATTACK_KINDS, Attacks, Outcome
from stream_guard.generator.benign import Behaviour
from stream_guard.generator.emit import Sink
from stream_guard.generator.market import Market
from stream_guard.generator.population import User, make_population
from stream_guard.generator.sanctions import load_sanctioned

__all__ = ["DEFAULT_START", "GeneratedTraffic", "generate"]

KST = timezone(timedelta(hours=9))
DEFAULT_START = datetime(2026, 11, 1, tzinfo=KST)
_MIN = 60_000
_H = 3_600_000
_DAY = 86_400_000

#: how long each kind can take after it starts (so that it ends inside the period)
_SPAN_H = {"brute_force": 9, "credential_stuffing": 2, "impossible_travel": 4,
           "new_device_new_country": 2, "account_takeover": 2, "large_withdrawal": 32,
           "security_change_withdrawal": 22, "sanctioned_address": 1, "structuring": 21,
           "rapid_in_out": 7, "fan_in": 28, "dormant_reactivation": 13}
#: how long before the start the owner is not around (their sessions are left out)
_QUIET_BEFORE_H = {"impossible_travel": 2, "account_takeover": 1,
                   "security_change_withdrawal": 0.5, "sanctioned_address": 0.2,
                   "structuring": 0.2}


@dataclass(frozen=True)
class GeneratedTraffic:
    """Events sorted by ``ts`` (each valid per EVENTS.md) and their ``labels.json``."""

    events: list[dict]
    labels: dict


@dataclass
class _Plan:
    kind: str
    user: User | None
    t0: int
    quiet_from: int
    seed: int
    gap: int = 0
    outcome: Outcome | None = None


def generate(
    users: int = 1000,
    days: int = 14,
    seed: int = 7,
    start: datetime | None = None,
    attacks_per_kind: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> GeneratedTraffic:
    """Synthetic exchange traffic with labelled attacks (see the package docstring).

    ``progress`` is called now and then with the number of users simulated so far.
    """
    traffic, _ = simulate(users, days, seed, start, attacks_per_kind, progress)
    return traffic


def simulate(
    users: int = 1000,
    days: int = 14,
    seed: int = 7,
    start: datetime | None = None,
    attacks_per_kind: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[GeneratedTraffic, list[User]]:
    """:func:`generate`, also returning the simulated users (for tests and diagnostics)."""
    # Hundreds of thousands of small dicts and no reference cycles: the cyclic collector
    # would only rescan them again and again (about a tenth of the run time).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(users, days, seed, start, attacks_per_kind, progress)
    finally:
        if was_enabled:
            gc.enable()


def _simulate(
    users: int,
    days: int,
    seed: int,
    start: datetime | None,
    attacks_per_kind: int | None,
    progress: Callable[[int], None] | None,
) -> tuple[GeneratedTraffic, list[User]]:
    start = DEFAULT_START if start is None else start
    if start.tzinfo is None:
        raise ValueError(f"start must have a UTC offset, e.g. 2026-11-01T00:00:00+09:00; got {start!r}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days!r}")
    apk = max(1, users // 200) if attacks_per_kind is None else attacks_per_kind
    if apk < 1:
        raise ValueError(f"attacks_per_kind must be at least 1, got {attacks_per_kind!r}")
    needed = 12 * apk + 8
    if users < needed:
        raise ValueError(
            f"users={users} is too few for {apk} attack(s) of each of the {len(ATTACK_KINDS)} "
            f"kinds (each needs its own victim): use at least {needed} users or fewer attacks"
        )
    rng = Random(seed)
    start_ms = round(start.timestamp() * 1000)
    market = Market(Random(rng.getrandbits(64)), start_ms, days)
    population = make_population(Random(rng.getrandbits(64)), users, start_ms, days,
                                 min_dormant=apk + 1)
    sink = Sink(Random(rng.getrandbits(64)), Random(rng.getrandbits(64)))
    behaviour = Behaviour(sink, market, start_ms, days, population)
    attacks = Attacks(behaviour, load_sanctioned())
    plans = _plan(Random(rng.getrandbits(64)), population, apk, start_ms, days)
    by_user: dict[str, list[_Plan]] = {}
    for p in plans:
        if p.user is not None:
            by_user.setdefault(p.user.uid, []).append(p)
    victims = {uid for uid in by_user}
    # accounts that send internal transfers into fan-in targets (they log in at home)
    senders = [u for u in population
               if u.persona != "dormant" and u.trip is None and u.uid not in victims]
    user_seeds = [rng.getrandbits(64) for _ in population]
    for i, u in enumerate(population):
        urng = Random(user_seeds[i])
        if u.history_end is not None:
            behaviour.history(u, urng)
        _live(u, urng, behaviour, attacks, by_user.get(u.uid, []), days, senders)
        if progress is not None and (i + 1) % 100 == 0:
            progress(i + 1)
    known = {u.uid for u in population}
    for p in plans:
        if p.kind == "credential_stuffing":
            p.outcome = _stuff(p, attacks, population, known)
    # the period ends at start + days; a late attack (in a very short period) may overrun it
    keys = {id(p.outcome.key) for p in plans if p.outcome is not None}
    last_key = max(t for t, e in sink.records if id(e) in keys)
    events = sink.finish(until=max(start_ms + days * _DAY, last_key + 1))
    if progress is not None:
        progress(users)
    labels = _labels(plans, population)
    return GeneratedTraffic(events, labels), population


def _plan(rng: Random, population: list[User], apk: int, start_ms: int, days: int) -> list[_Plan]:
    """Victims and start times: each kind ``apk`` times, spread over the period."""
    end_ms = start_ms + days * _DAY
    warm = min(3 * _DAY, int(0.3 * days * _DAY))
    used: set[str] = set()
    plans = []
    for kind in ATTACK_KINDS:
        lo = start_ms + (max(warm, int(1.1 * _DAY)) if kind == "new_device_new_country" else warm)
        hi = max(lo, end_ms - _SPAN_H[kind] * _H)
        pool = [u for u in population if _eligible(kind, u) and u.uid not in used]
        if kind != "credential_stuffing" and len(pool) < apk:
            raise ValueError(f"not enough users suited to {kind} attacks ({len(pool)} for {apk}); "
                             "generate more users")
        chosen = rng.sample(pool, apk) if kind != "credential_stuffing" else [None] * apk
        for k, u in enumerate(chosen):
            t0 = lo + int((k + rng.random()) / apk * (hi - lo))
            gap = 0
            if kind == "new_device_new_country":
                gap = int(min(rng.uniform(1.0, 5.0) * _DAY, t0 - start_ms - _H))
            quiet = gap - _MIN if gap else int(_QUIET_BEFORE_H.get(kind, 0) * _H)
            plans.append(_Plan(kind, u, t0, t0 - quiet, rng.getrandbits(64), gap))
            if u is not None:
                used.add(u.uid)
                if kind == "dormant_reactivation":
                    u.returns_day = None  # the owner does not come back; a thief does
    return plans


def _eligible(kind: str, u: User) -> bool:
    if kind == "dormant_reactivation":
        return u.persona == "dormant"
    if u.persona == "dormant" or u.trip is not None:
        return False
    if kind == "large_withdrawal":  # a modest history: no salary or big moves of their own
        return u.persona == "small" and "big_move" not in u.traits and not u.payday
    if kind == "impossible_travel":
        return not u.vpn  # so that the owner's last login before the far one is at home
    return True


def _live(u: User, rng: Random, b: Behaviour, attacks: Attacks, plans: list[_Plan], days: int,
          senders: list[User]) -> None:
    """One user's period: their sessions day by day, with any attack on them in its place."""
    pending = sorted(plans, key=lambda p: p.t0)
    quiet: list[tuple[int, int]] = []
    run = b.sessions
    for day in range(days):
        for t, kind in b.plan_day(u, rng, day):
            if pending:
                while pending and pending[0].t0 <= t:
                    quiet.append(_attack(pending.pop(0), attacks, senders))
                if pending and t >= pending[0].quiet_from:
                    continue
            if quiet and any(a <= t <= z for a, z in quiet):
                continue
            run[kind](u, rng, t)
    while pending:
        _attack(pending.pop(0), attacks, senders)


def _attack(p: _Plan, attacks: Attacks, senders: list[User]) -> tuple[int, int]:
    u, rng = p.user, Random(p.seed)
    assert u is not None
    if p.kind == "new_device_new_country":
        out = attacks.new_device_new_country(u, rng, p.t0, p.gap)
    elif p.kind == "fan_in":
        out = attacks.fan_in(u, rng, p.t0, senders)
    else:
        out = getattr(attacks, p.kind)(u, rng, p.t0)
    p.outcome = out
    return p.quiet_from, out.busy_until


def _stuff(p: _Plan, attacks: Attacks, population: list[User], known: set[str]) -> Outcome:
    rng = Random(p.seed)
    n = rng.randint(30, 300)
    real_share = rng.uniform(0.35, 0.8)
    pool = [u for u in population if u.persona != "dormant" or rng.random() < 0.5]
    n_real = max(10, min(int(n * real_share), len(pool) // 2))
    victims = rng.sample(pool, n_real)
    unknown: list[str] = []
    while len(unknown) < max(0, n - n_real):
        uid = f"u-{rng.randrange(1000, 10_000_000)}"
        if uid not in known:
            unknown.append(uid)
    return attacks.credential_stuffing(rng, p.t0, victims, unknown)


def _labels(plans: list[_Plan], population: list[User]) -> dict[str, Any]:
    attacked = {p.user.uid for p in plans if p.user is not None}
    entries = []
    for p in plans:
        out = p.outcome
        assert out is not None, p.kind
        e: dict[str, Any] = {"kind": p.kind, "user_id": p.user.uid if p.user else None}
        if p.user is None:
            e["ip"] = out.ip
            e["victims"] = out.victims
        e["key_event_id"] = out.key["event_id"]
        e["key_ts"] = out.key["ts"]
        e["detail"] = out.detail
        entries.append(e)
    entries.sort(key=lambda e: (e["key_ts"], e["kind"]))
    return {
        "benign_users": sorted(u.uid for u in population if u.uid not in attacked),
        "attacks": entries,
    }
