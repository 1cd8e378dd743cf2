"""Sliding event-time windows for ``aggregate:`` rules.

A window keeps the (time, value) pairs of the events that passed a rule's filter, sorted
by event time. After each addition it drops what fell out of ``(newest - width, newest]``,
so for an in-order stream the aggregate is exactly "over the last ``width``"; an event that
arrives a little late still lands in its place.

>>> w = Window("agg:count:")
>>> for t in (0, 60, 120, 700):
...     w.add(t, None, width=600)
>>> w.value()
2
"""

from __future__ import annotations

from bisect import bisect_right, insort
from typing import Any

#: A window never holds more than this many events; past it the oldest go first. It bounds
#: memory for a key under attack (one IP trying a million accounts) without changing any
#: realistic threshold, which sits orders of magnitude lower.
MAX_ITEMS = 20_000


class Window:
    """The events of one rule for one key (a user, an IP...) inside the window."""

    __slots__ = ("distinct", "function", "items", "sig", "total")

    def __init__(self, sig: str = "agg:count:") -> None:
        #: what the window was built for, ``agg:<function>:<field>`` (see state.py)
        self.sig = sig
        self.function = sig.split(":")[1]
        self.items: list[tuple[float, Any]] = []
        self.total = 0.0
        self.distinct: dict[Any, int] = {}

    def add(self, t: float, value: Any, width: float) -> None:
        function = self.function
        items = self.items
        if not items or t >= items[-1][0]:
            items.append((t, value))
        else:
            insort(items, (t, value), key=lambda it: it[0])
        self._take(value, function, +1)
        horizon = items[-1][0] - width
        if items[0][0] <= horizon or len(items) > MAX_ITEMS:
            cut = bisect_right(items, horizon, key=lambda it: it[0])
            cut = max(cut, len(items) - MAX_ITEMS)
            for _, old in items[:cut]:
                self._take(old, function, -1)
            del items[:cut]

    def _take(self, value: Any, function: str, sign: int) -> None:
        if function in ("sum", "avg"):
            self.total += sign * value
        elif function == "count_distinct":
            n = self.distinct.get(value, 0) + sign
            if n:
                self.distinct[value] = n
            else:
                del self.distinct[value]

    def value(self) -> float:
        function = self.function
        if function == "count":
            return len(self.items)
        if function == "count_distinct":
            return len(self.distinct)
        if function == "sum":
            return self.total
        return self.total / len(self.items) if self.items else 0.0

    def span(self) -> tuple[float, float]:
        return (self.items[0][0], self.items[-1][0]) if self.items else (0.0, 0.0)

    def sample(self, n: int = 10) -> list[Any]:
        """Up to ``n`` of the most recent distinct values (evidence for count_distinct)."""
        out: list[Any] = []
        for _, v in reversed(self.items):
            if v not in out:
                out.append(v)
                if len(out) == n:
                    break
        return out

    def to_state(self) -> list[Any]:
        return [x for item in self.items for x in item]

    @classmethod
    def from_state(cls, flat: list[Any], sig: str) -> Window:
        w = cls(sig)
        w.items = list(zip(flat[0::2], flat[1::2], strict=True))
        for _, v in w.items:
            w._take(v, w.function, +1)
        return w
