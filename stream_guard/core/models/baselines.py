"""Per-user baselines: how unusual an event is for *this* user, in a few bytes per user.

Each baseline is a tiny online estimator whose state is a short list of numbers, stored in
the user's :class:`~stream_guard.core.state.UserState` (so it is written, recovered and
moved between workers with the user's profile). river's estimators are objects of a few
hundred bytes each, pickled; a million users with four baselines each would be gigabytes of
state and a pickle per flush — so these follow river's ``learn_one``/``score_one`` shape but
keep their state flat.

Every baseline scores *before* it learns from the event (a value is compared with what was
known before it), returns ``None`` until it has seen ``warmup`` observations, and gives a
score in [0, 1] where 1 is "never like this for this user"; ``learn`` updates the state in
place.

>>> b = Amount.fresh()
>>> for v in (400_000, 550_000, 480_000, 610_000):
...     Amount.learn(b, v)
>>> round(Amount.score(b, 500_000, warmup=3), 3), round(Amount.score(b, 80_000_000, warmup=3), 3)
(0.0, 0.977)
"""

from __future__ import annotations

from math import log10, sqrt
from typing import Any
from zlib import crc32

__all__ = ["HOURS", "Amount", "Hour", "Rarity"]

#: Hours in a day: the hour histogram's length (its total follows them).
HOURS = 24


class Amount:
    """How far above the user's usual amount a value is, on a log scale.

    State ``[n, mean, var]`` of ``log10(value + 1)``: a running mean and variance that turn
    exponentially weighted after ``horizon`` observations (a user's habits drift). The
    spread used for scoring is shrunk towards ``prior_spread`` decades with the weight of
    ``prior_weight`` observations, so that two or three similar transfers do not make the
    next, slightly larger one look extreme ("robust to the first few transfers").

    The score is Chebyshev's bound ``max(0, 1 - 1/z²)`` on ``z``, the distance above the
    mean in spreads: whatever the shape of the user's amounts, at most ``1 - score`` of them
    lie that far above the usual. 0.75 is 2 spreads above, 0.96 is 5, 0.99 is 10. Amounts
    below the usual score 0: a small withdrawal is not a risk signal.
    """

    __slots__ = ()

    @staticmethod
    def fresh() -> list[float]:
        return [0, 0.0, 0.0]

    @staticmethod
    def spread(state: list[float], prior_spread: float = 0.5, prior_weight: float = 3.0) -> float:
        n, _, var = state
        return sqrt((n * var + prior_weight * prior_spread * prior_spread) / (n + prior_weight))

    @staticmethod
    def z(state: list[float], value: float, prior_spread: float = 0.5, prior_weight: float = 3.0) -> float:
        return (log10(value + 1.0) - state[1]) / Amount.spread(state, prior_spread, prior_weight)

    @staticmethod
    def score(
        state: list[float], value: float, *, warmup: int, prior_spread: float = 0.5,
        prior_weight: float = 3.0,
    ) -> float | None:
        if state[0] < warmup:
            return None
        z = Amount.z(state, value, prior_spread, prior_weight)
        return 1.0 - 1.0 / (z * z) if z > 1.0 else 0.0

    @staticmethod
    def learn(state: list[float], value: float, horizon: int = 50) -> None:
        n, mean, var = state
        x = log10(value + 1.0)
        n += 1
        alpha = 1.0 / n if n < horizon else 1.0 / horizon
        d = x - mean
        state[0] = n
        state[1] = round(mean + alpha * d, 5)  # rounded: ~8 bytes each in the stored state, not 18
        state[2] = round((1.0 - alpha) * (var + alpha * d * d), 6)

    @staticmethod
    def usual(state: list[float]) -> float:
        """The user's typical value (the geometric mean of what the baseline has seen)."""
        return 10.0 ** state[1] - 1.0


class Hour:
    """How unusual the hour of day (UTC) is for the user.

    State: 24 counts of the hours the user's events came at, then their total; all halved
    whenever the total passes ``cap`` (old habits fade, and counts stay small). The
    probability of an hour is smoothed with its two neighbours (half weight each) and a
    pseudo-count of ``alpha`` per hour; the score is ``max(0, 1 - 24 p)``: 0 for an hour at
    least as likely as for someone with no routine at all, close to 1 for an hour the user
    never keeps after many observations.
    """

    __slots__ = ()

    @staticmethod
    def fresh() -> list[int]:
        return [0] * (HOURS + 1)

    @staticmethod
    def hour(t: float) -> int:
        return int(t // 3600) % HOURS

    @staticmethod
    def count(state: list[int]) -> int:
        return state[HOURS]

    @staticmethod
    def probability(state: list[int], hour: int, alpha: float = 0.25) -> float:
        near = state[hour] + 0.5 * (state[hour - 1] + state[(hour + 1) % HOURS])
        return (near + alpha) / (2.0 * state[HOURS] + HOURS * alpha)

    @staticmethod
    def score(state: list[int], t: float, *, warmup: int, alpha: float = 0.25) -> float | None:
        if state[HOURS] < warmup:
            return None
        s = 1.0 - HOURS * Hour.probability(state, int(t // 3600) % HOURS, alpha)
        return s if s > 0.0 else 0.0

    @staticmethod
    def learn(state: list[int], t: float, cap: int = 200) -> None:
        state[int(t // 3600) % HOURS] += 1
        state[HOURS] += 1
        if state[HOURS] > cap:
            for i in range(HOURS):
                state[i] //= 2
            state[HOURS] = sum(state[:HOURS])

    @staticmethod
    def usual(state: list[int]) -> list[int]:
        """The user's most frequent hours (UTC), most frequent first (up to three)."""
        top = sorted((h for h in range(HOURS) if state[h]), key=lambda h: (-state[h], h))
        return top[:3]


class Rarity:
    """How rare a value (a country, a device, an ASN) is among the user's own events.

    State: ``[total, key, count, key, count, ...]``, at most ``slots`` keys (a new key at a
    full table replaces the least frequent one), halved once ``total`` passes ``cap``. Keys
    are the value itself when it is a short string or a number, else a 32-bit CRC of it.
    The score is ``(total - count) / (total + 2)``: 0 for the only value the user ever had,
    close to 1 for a value never seen after many events (the ``+ 2`` keeps a user with two
    events from looking certain).
    """

    __slots__ = ()

    @staticmethod
    def fresh() -> list[Any]:
        return [0]

    @staticmethod
    def key(value: Any) -> Any:
        if isinstance(value, int) or (isinstance(value, str) and len(value) <= 8):
            return value
        return crc32(str(value).encode())

    @staticmethod
    def count_of(state: list[Any], key: Any) -> int:
        i = Rarity._find(state, key)
        return state[i + 1] if i else 0

    @staticmethod
    def _find(state: list[Any], key: Any) -> int:
        """The position of ``key`` in the state (0: absent), found by scans in C."""
        try:
            i = state.index(key, 1)
            while not i & 1:  # a count equal to the key: keys sit at odd positions
                i = state.index(key, i + 1)
        except ValueError:
            return 0
        return i

    @staticmethod
    def score(state: list[Any], key: Any, *, warmup: int) -> float | None:
        """How rare ``key`` (a :meth:`key`) is for the user; None while warming up."""
        total = state[0]
        if total < warmup:
            return None
        return (total - Rarity.count_of(state, key)) / (total + 2.0)

    @staticmethod
    def learn(state: list[Any], key: Any, slots: int = 6, cap: int = 100) -> None:
        """Count ``key`` (a :meth:`key`) once more."""
        i = Rarity._find(state, key)
        if i:
            state[i + 1] += 1
        else:
            if len(state) >= 2 * slots + 1:  # full: the least frequent key gives way
                least = min(range(2, len(state), 2), key=state.__getitem__)
                state[least - 1], state[least] = key, 1
            else:
                state += (key, 1)
        state[0] += 1
        if state[0] > cap:
            kept: list[Any] = [0]
            for i in range(1, len(state), 2):
                c = state[i + 1] // 2
                if c:
                    kept += (state[i], c)
            kept[0] = state[0] // 2
            state[:] = kept

    @staticmethod
    def usual(state: list[Any]) -> list[Any]:
        """The user's most frequent values (CRC keys for long ones), most frequent first."""
        pairs = sorted(zip(state[1::2], state[2::2], strict=True), key=lambda kc: -kc[1])
        return [k for k, _ in pairs[:3]]
