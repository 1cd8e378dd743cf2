"""Ordered steps within a span, for ``sequence:`` rules.

A *partial match* remembers which steps have happened, when the first one did, and what
later steps may refer to (``steps.deposit.value_krw``). Each event may

1. expire partials older than the span,
2. advance partials whose next step it matches — or kill a partial whose next step is
   ``absent`` and which the event matches (something happened that must not have),
3. start a new partial if it matches the first step.

The state machine does not evaluate conditions itself: it asks ``matches(step_index, st)``,
so the same code serves user-keyed sequences (conditions evaluated on the spot) and
sequences by another key (whose step matches were worked out upstream).

>>> seq = SequenceShape(within=600, steps=(StepShape("a", "login"), StepShape("b", "transfer")))
>>> parts = []
>>> advance(parts, seq, 0, "login", "e1", lambda i, st: i == 0) is None
True
>>> done = advance(parts, seq, 60, "transfer", "e2", lambda i, st: i == 1)
>>> [s["event_id"] for s in done.steps.values()]
['e1', 'e2']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

#: Open partial matches kept per rule and key; the oldest go first. A burst of first steps
#: (an attacker logging in again and again) cannot grow state without bound.
MAX_PARTIALS = 8


@dataclass(frozen=True)
class StepShape:
    name: str
    on: str
    absent: bool = False
    within: float | None = None


@dataclass(frozen=True)
class SequenceShape:
    within: float
    steps: tuple[StepShape, ...]


class Partial:
    """One partial match: ``steps`` maps step name → captured fields of its event."""

    __slots__ = ("last", "next", "start", "steps")

    def __init__(self, start: float, last: float, next_: int, steps: dict[str, dict[str, Any]]):
        self.start = start
        self.last = last
        self.next = next_
        self.steps = steps

    def view(self) -> dict[str, SimpleNamespace]:
        """What step conditions see as ``steps.<name>.<field>``."""
        return {name: SimpleNamespace(**cap) for name, cap in self.steps.items()}

    def to_state(self) -> list[Any]:
        return [self.start, self.last, self.next, self.steps]

    @classmethod
    def from_state(cls, s: list[Any]) -> Partial:
        return cls(s[0], s[1], s[2], s[3])


Matcher = Callable[[int, dict[str, SimpleNamespace]], bool]
Capture = Callable[[int], dict[str, Any]]


def advance(
    partials: list[Partial],
    seq: SequenceShape,
    t: float,
    event_type: str,
    event_id: str,
    matches: Matcher,
    capture: Capture | None = None,
) -> Partial | None:
    """Feed one event; update ``partials`` in place; return the completed partial, if any."""
    steps = seq.steps
    n = len(steps)
    done: Partial | None = None
    alive: list[Partial] = []

    def hit(i: int, p: Partial | None) -> bool:
        step = steps[i]
        if step.on != event_type:
            return False
        if p is not None and (t < p.last or (step.within is not None and t - p.last > step.within)):
            return False
        return matches(i, p.view() if p is not None and p.steps else {})

    def take(p: Partial, i: int) -> None:
        cap = capture(i) if capture else {}
        p.steps[steps[i].name] = {"event_id": event_id, "t": t, **cap}
        p.last = t
        p.next = i + 1

    for p in partials:
        if t - p.start > seq.within:
            continue
        i = p.next
        if steps[i].absent:
            if hit(i + 1, p):
                take(p, i + 1)
            elif hit(i, p):
                continue  # the thing that must not happen, happened
        elif hit(i, p):
            take(p, i)
        if p.next == n:
            if done is None:
                done = p
            continue
        alive.append(p)
    if hit(0, None):
        p = Partial(t, t, 1, {})
        take(p, 0)
        alive.append(p)
    del alive[:-MAX_PARTIALS]
    partials[:] = alive
    return done
