"""What the detector remembers per user and per group key, and how it is stored.

:class:`UserState` is everything about one user: the profile (features), the rule state
of user-keyed rules (aggregate windows, partial sequences, suppressions), the risk score and
the ids of the latest events (so a redelivered event is recognised and not counted twice).
:class:`GroupState` is the rule state for one value of another key (an IP, an address).
Both serialise to compact bytes for a changelog-backed table.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson

from stream_guard.core.profiles import UserProfile
from stream_guard.core.risk import RiskScore
from stream_guard.core.rules.pack import RuleSet
from stream_guard.core.sequences import Partial
from stream_guard.core.windows import Window

#: How many recent event ids a user's state keeps for recognising redelivered events.
#: Kafka redelivers what follows the last commit, a few batches at most per user.
RECENT_IDS = 16
_FORMAT = 1
_HEADER = struct.Struct("<BI")


class RuleState:
    """Windows, partial sequences and suppressions, by rule id (for one key)."""

    __slots__ = ("partials", "suppress", "windows")

    def __init__(self) -> None:
        self.windows: dict[str, Window] = {}
        self.partials: dict[str, Partials] = {}
        self.suppress: dict[str, float] = {}

    def window(self, rule: Any) -> Window:
        w = self.windows.get(rule.id)
        if w is None:
            w = self.windows[rule.id] = Window(rule.state_signature)
        return w

    def partials_of(self, rule: Any) -> Partials:
        p = self.partials.get(rule.id)
        if p is None:
            p = self.partials[rule.id] = Partials(rule.state_signature)
        return p

    def suppressed(self, rule_id: str, t: float) -> bool:
        until = self.suppress.get(rule_id)
        return until is not None and t < until

    def to_state(self) -> list[Any]:
        return [
            {k: [w.sig, w.to_state()] for k, w in self.windows.items() if w.items},
            {k: [ps.sig, [p.to_state() for p in ps]] for k, ps in self.partials.items() if ps},
            self.suppress,
        ]

    def load(self, s: list[Any], rules: RuleSet | None) -> None:
        """Restore saved rule state; state of rules that are gone or changed shape is dropped.

        Each window and list of partial matches carries the signature of the rule it was
        built for (``agg:sum:value_krw``, the steps of a sequence): after a rule edit that
        changes it, the old state would mean something else, so the rule starts afresh.
        """
        current = {r.id: r.state_signature for r in rules.rules} if rules is not None else None
        for rid, (sig, flat) in s[0].items():
            if current is None or current.get(rid) == sig:
                self.windows[rid] = Window.from_state(flat, sig)
        for rid, (sig, ps) in s[1].items():
            if current is None or current.get(rid) == sig:
                self.partials[rid] = Partials(sig, (Partial.from_state(p) for p in ps))
        self.suppress = {k: v for k, v in s[2].items() if current is None or k in current}


class Partials(list):
    """The open partial matches of one sequence rule for one key, with the rule's signature."""

    __slots__ = ("sig",)

    def __init__(self, sig: str, items: Any = ()):
        super().__init__(items)
        self.sig = sig


class UserState(RuleState):
    __slots__ = ("baselines", "profile", "recent_ids", "risk", "watermark")

    def __init__(self, profile: UserProfile | None = None) -> None:
        super().__init__()
        self.profile = profile if profile is not None else UserProfile()
        self.risk = RiskScore()
        self.recent_ids: dict[str, None] = {}  # insertion-ordered: a bounded FIFO with O(1) lookups
        self.watermark: float | None = None  # the newest event time seen, exact
        # model name -> the per-user baseline's state (core.models.baselines): a few numbers
        self.baselines: dict[str, list] = {}

    def seen(self, event_id: str) -> bool:
        return event_id in self.recent_ids

    def remember(self, event_id: str) -> None:
        ids = self.recent_ids
        ids[event_id] = None
        if len(ids) > RECENT_IDS:
            del ids[next(iter(ids))]

    def to_bytes(self) -> bytes:
        prof = self.profile.to_bytes()
        items = [*self.to_state(), self.risk.to_state(), list(self.recent_ids), self.watermark]
        if self.baselines:
            items.append(self.baselines)
        rest = orjson.dumps(items)
        return _HEADER.pack(_FORMAT, len(prof)) + prof + rest

    @classmethod
    def from_bytes(cls, data: bytes, rules: RuleSet | None = None) -> UserState:
        fmt, n = _HEADER.unpack_from(data)
        if fmt != _FORMAT:
            raise ValueError(f"unknown user state format {fmt}")
        start = _HEADER.size
        state = cls(UserProfile.from_bytes(data[start : start + n]))
        rest = orjson.loads(data[start + n :])
        state.load(rest[:3], rules)
        state.risk = RiskScore.from_state(rest[3])
        state.recent_ids = dict.fromkeys(rest[4])
        state.watermark = rest[5]
        if len(rest) > 6:  # states written before models were declared have no baselines
            state.baselines = rest[6]
        return state


class GroupState(RuleState):
    """Rule state for one value of a non-user key (``ip = 45.155.205.17``)."""

    __slots__ = ()

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_state())

    @classmethod
    def from_bytes(cls, data: bytes, rules: RuleSet | None = None) -> GroupState:
        state = cls()
        state.load(orjson.loads(data), rules)
        return state
