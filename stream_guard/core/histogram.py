"""A histogram counted in plain Python, for the core's own counts and the metrics built from them."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

__all__ = ["Buckets"]


class Buckets:
    """A histogram counted in plain Python: an observation is a bisect and two additions.

    >>> b = Buckets((1.0, 2.0))
    >>> b.observe(0.5); b.observe(1.5, n=3); b.observe(9.0)
    >>> b.cumulative()
    [('1.0', 1), ('2.0', 4), ('+Inf', 5)]
    >>> b.sum
    14.0
    """

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: Iterable[float]):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, n: int = 1) -> None:
        """``n`` observations of ``value`` (a batch's events, each taking the batch's mean)."""
        self.counts[bisect_left(self.bounds, value)] += n
        self.sum += value * n

    def cumulative(self) -> list[tuple[str, int]]:
        out, total = [], 0
        for bound, n in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out
