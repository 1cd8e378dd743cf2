"""Threshold sensitivity of aggregate rules: how many decisions nearby thresholds give.

A rule's window holds the events that passed its filter, whatever the threshold: the
threshold only decides, at each evaluation, whether the window's value fires, and the
rule's suppression (one decision per key per window, by default) whether that firing
becomes a decision. So the decisions at any other threshold follow exactly from the
sequence of ``(key, time, window value)`` of the evaluations the real run made.

:class:`SensitivityProbe` watches those evaluations while the backtest runs the production
detector, and replays the rule's own firing and suppression logic at each candidate
threshold (×0.5 … ×2 of the rule's, rounded up to whole numbers for counts). At the rule's
own threshold it reproduces the rule's decision count exactly (the backtest reports both,
``actual`` beside ``points``). The counts are of the rule's own decisions: risk levels the
extra or missing decisions would have crossed are not re-computed.

Higher thresholds never give more decisions: the evaluations that fire at a higher
threshold are a subset of those at a lower one, and keeping the earliest of each
suppression window picks at least as many from a superset.
"""

from __future__ import annotations

import math
from typing import Any

from stream_guard.core.clock import format_duration
from stream_guard.core.detector import Detector
from stream_guard.core.rules.pack import CompiledRule

FACTORS = (0.5, 0.6, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)


def thresholds(rule: CompiledRule, factors: tuple[float, ...] = FACTORS) -> list[float]:
    """The thresholds to try: the rule's times each factor; whole numbers for counts,
    whose window values are whole (``≥ 7.5`` and ``≥ 8`` give the same decisions)."""
    a = rule.aggregate
    assert a is not None
    values = {float(f"{a.threshold * f:.6g}") for f in factors}  # 3.3e7, not 33000000.000000004
    if a.function in ("count", "count_distinct"):
        values = {float(max(1, math.ceil(v - 1e-9))) for v in values}
    values.add(a.threshold)
    return sorted(values)


class _Track:
    """One aggregate rule's firing at each candidate threshold, per key."""

    __slots__ = ("decisions", "keys", "max_value", "rule", "suppress", "thresholds", "until")

    def __init__(self, rule: CompiledRule):
        self.rule = rule
        self.thresholds = thresholds(rule)
        self.suppress = rule.suppress
        n = len(self.thresholds)
        self.decisions = [0] * n
        self.keys: list[set[int]] = [set() for _ in range(n)]
        self.until: list[dict[int, float]] = [{} for _ in range(n)]
        self.max_value = 0.0

    def observe(self, key: int, t: float, value: float) -> None:
        if value > self.max_value:
            self.max_value = value
        for i, threshold in enumerate(self.thresholds):
            if value < threshold:
                break  # thresholds ascend: none further fires either
            until = self.until[i]
            u = until.get(key)
            if u is not None and t < u:
                continue
            if self.suppress is not None:
                until[key] = t + self.suppress
            self.decisions[i] += 1
            self.keys[i].add(key)

    def to_dict(self, actual: int) -> dict[str, Any]:
        a = self.rule.aggregate
        assert a is not None
        return {
            "function": a.function,
            "fields": list(a.fields),
            "by": self.rule.group_by or "user_id",
            "window": format_duration(a.window),
            "suppress": format_duration(self.suppress) if self.suppress is not None else None,
            "threshold": a.threshold,
            "actual": actual,
            "max_value": self.max_value,
            "points": [
                {
                    "threshold": th,
                    "factor": round(th / a.threshold, 3),
                    "decisions": self.decisions[i],
                    "keys": len(self.keys[i]),
                }
                for i, th in enumerate(self.thresholds)
            ],
        }


class SensitivityProbe:
    """Watches a detector's aggregate evaluations (attach it before the run).

    It wraps the detector's window step for this detector only; everything else runs as
    in production. The key of an evaluation is the state it updates — one user's, or one
    IP's for a rule keyed by IP — which lives as long as the run.
    """

    def __init__(self, detector: Detector):
        self.tracks = {
            r.id: _Track(r) for r in detector.rules.rules if r.aggregate is not None and r.mode != "off"
        }
        if not self.tracks:
            return
        tracks = self.tracks
        window = detector._window

        def watched(rule: CompiledRule, rs: Any, t: float, value: Any) -> dict | None:
            extra = window(rule, rs, t, value)
            track = tracks.get(rule.id)
            if track is not None:
                track.observe(id(rs), t, float(rs.windows[rule.id].value()))
            return extra

        detector._window = watched  # type: ignore[method-assign]

    def to_dict(self, actual: dict[str, int]) -> dict[str, dict[str, Any]]:
        """Per rule: its threshold, ``actual`` decisions, and one point per threshold tried."""
        return {rid: tr.to_dict(actual.get(rid, 0)) for rid, tr in self.tracks.items()}
