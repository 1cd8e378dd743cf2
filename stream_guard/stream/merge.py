"""Event-time order across the two input topics of one partition.

A user's logins and transfers arrive on two topics; the consumer fetches them in batches,
so a worker catching up on a backlog can see a user's transfers hours ahead of the logins
that preceded them. The detector's profiles and sequences depend on order, so events are
merged the way Kafka Streams merges its inputs: each topic partition is a FIFO (its own
order is kept), and the head with the smallest event time goes first — but only once every
other topic of the partition either has an event waiting (so nothing earlier can still come
from it) or is caught up with its log end. ``caught_up(topic, partition)`` says so: True
(nothing more to read now), False (the log holds more that has not arrived: wait for it — it
is on its way, as in a worker catching up on a backlog) or None (cannot tell, e.g. before
the first fetch: wait at most ``hold`` seconds). Whatever the answer, a head never waits
more than ``max_hold`` seconds, so a stalled topic cannot stop the other.

>>> m = Merger(("logins", "transfers"), hold=1.0)
>>> m.add(0, "transfers", 20.0, "t1", now=0.0)
>>> m.add(0, "logins", 10.0, "l1", now=0.0)
>>> m.add(0, "logins", 30.0, "l2", now=0.0)
>>> m.release(0, now=0.0, caught_up=lambda topic, p: False)
['l1', 't1']
>>> m.release(0, now=5.0, caught_up=lambda topic, p: False)  # transfers has more coming
[]
>>> m.release(0, now=5.0, caught_up=lambda topic, p: None)  # can't tell: waited long enough
['l2']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class Merger:
    __slots__ = ("hold", "max_hold", "queues", "topics")

    def __init__(self, topics: Iterable[str], *, hold: float, max_hold: float = 30.0):
        self.topics = tuple(topics)
        self.hold = hold
        self.max_hold = max(max_hold, hold)
        # partition -> [deque of (t, arrived, item)] in the order of self.topics
        self.queues: dict[int, list[deque[tuple[float, float, Any]]]] = {}

    def _queues(self, partition: int) -> list[deque[tuple[float, float, Any]]]:
        qs = self.queues.get(partition)
        if qs is None:
            qs = self.queues[partition] = [deque() for _ in self.topics]
        return qs

    def add(self, partition: int, topic: str, t: float, item: Any, *, now: float) -> None:
        self._queues(partition)[self.topics.index(topic)].append((t, now, item))

    def held(self, partition: int | None = None) -> int:
        """How many events wait (in one partition, or in all)."""
        parts = self.queues.values() if partition is None else [self.queues.get(partition, [])]
        return sum(len(q) for qs in parts for q in qs)

    def partitions(self) -> list[int]:
        return [p for p, qs in self.queues.items() if any(qs)]

    def release(
        self, partition: int, *, now: float, caught_up: Callable[[str, int], bool | None]
    ) -> list[Any]:
        """The items that can go now, in merged order (ties: the first topic first)."""
        qs = self.queues.get(partition)
        if not qs:
            return []
        out: list[Any] = []
        topics = self.topics
        while True:
            best = -1
            best_t = 0.0
            for i, q in enumerate(qs):
                if q and (best < 0 or q[0][0] < best_t):
                    best, best_t = i, q[0][0]
            if best < 0:
                break
            waited = now - qs[best][0][1]
            if waited < self.max_hold:
                # every other topic must have an event waiting (nothing earlier can come
                # from it) or nothing more to give now
                for i, q in enumerate(qs):
                    if i == best or q:
                        continue
                    state = caught_up(topics[i], partition)
                    if state is False or (state is None and waited < self.hold):
                        return out
            out.append(qs[best].popleft()[2])
        return out

    def drop(self, partition: int) -> list[Any]:
        """Forget a partition (revoked in a rebalance); returns what was waiting."""
        qs = self.queues.pop(partition, None) or []
        return [item for q in qs for (_, _, item) in q]
