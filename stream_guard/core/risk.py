"""A per-user risk score that adds up weak signals and fades with time.

Each enforced rule match adds its ``risk:`` points; the score halves every ``half_life``
of event time. When the score climbs across a level of the policy (``policy.yaml``), that
level's actions fire once — several weak signals together can ask for a callback or a
freeze that none would alone.

>>> r = RiskScore()
>>> r.add(40, t=0, half_life=3600, source="new_device_login")
40.0
>>> round(r.add(40, t=3600, half_life=3600, source="new_address"), 1)
60.0
"""

from __future__ import annotations

from typing import Any

#: How many recent contributions a user's score remembers, as evidence for policy decisions.
MAX_CONTRIBUTIONS = 8


class RiskScore:
    __slots__ = ("recent", "t", "value")

    def __init__(self, value: float = 0.0, t: float = 0.0, recent: list[list[Any]] | None = None):
        self.value = value
        self.t = t
        self.recent: list[list[Any]] = recent if recent is not None else []

    def at(self, t: float, half_life: float) -> float:
        """The score at event time ``t`` (never grows when ``t`` is earlier than the last change)."""
        if self.value <= 0:
            return 0.0
        dt = max(0.0, t - self.t)
        return self.value * 0.5 ** (dt / half_life)

    def add(self, points: float, *, t: float, half_life: float, source: str) -> float:
        self.value = self.at(t, half_life) + points
        self.t = max(self.t, t)
        self.recent.append([source, points, t])
        del self.recent[:-MAX_CONTRIBUTIONS]
        return self.value

    def to_state(self) -> list[Any]:
        return [round(self.value, 4), self.t, self.recent]

    @classmethod
    def from_state(cls, s: list[Any]) -> RiskScore:
        return cls(s[0], s[1], s[2])
