"""Population detectors: river's ``HalfSpaceTrees`` over scaled features, one per partition.

Half-space trees learn what most events look like in a sliding window (``window_size``
events) and score how isolated an event falls: 0 for the thick of the crowd, towards 1 for
an event alone in its corner of the feature space. They need features in [0, 1]: each
declared feature is scaled (``log`` or ``linear`` over its ``range``, clipped; ``bool`` as
0/1; a missing value as its ``missing``).

Each worker learns from its own partitions: the scorer keeps one detector per partition
(*shard*), and the worker checkpoints each one to a table with the partition's states.
:meth:`PopulationModel.to_state` is JSON numbers, not a pickle (a pickle read back from a
topic would run whatever code someone managed to write there): the trees' shape follows
from the seed and the features, so only the masses, the window position and the feature
statistics are saved.

>>> from stream_guard.core.models.registry import HalfSpaceTreesParams, ScaledFeature
>>> feats = (ScaledFeature(name="v", **{"from": "event.value_krw"}, scale="log", range=(1, 1e9)),)
>>> m = PopulationModel(feats, HalfSpaceTreesParams(window_size=50, seed=1), "sig")
>>> for i in range(200):
...     m.learn(m.vector_of({"v": 10_000 + i}))
>>> usual, odd = m.score(m.vector_of({"v": 10_000})), m.score(m.vector_of({"v": 5e8}))
>>> usual < 0.3 < odd
True
>>> PopulationModel.from_state(feats, HalfSpaceTreesParams(window_size=50, seed=1), "sig",
...     m.to_state()).score(m.vector_of({"v": 5e8})) == odd
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import log, sqrt
from typing import Any

from river.anomaly import HalfSpaceTrees

from stream_guard.core.models.registry import HalfSpaceTreesParams, ScaledFeature

__all__ = ["PopulationModel", "scale"]

#: feature statistics (for evidence) weigh the last this many events
_STATS_HORIZON = 1000


def scale(feat: ScaledFeature, value: Any) -> float:
    """``value`` of ``feat`` in [0, 1] (``missing`` when it is None)."""
    if value is None:
        return feat.missing
    if feat.scale == "bool":
        return 1.0 if value else 0.0
    lo, hi = feat.range  # type: ignore[misc]
    if feat.scale == "log":
        v = (log(value) - log(lo)) / (log(hi) - log(lo)) if value > 0 else 0.0
    else:
        v = (value - lo) / (hi - lo)
    return 0.0 if v < 0.0 else 1.0 if v > 1.0 else v


def unscale(feat: ScaledFeature, v: float) -> float:
    """The raw value at scaled position ``v`` (for "the population's usual value")."""
    if feat.scale == "bool":
        return v
    lo, hi = feat.range  # type: ignore[misc]
    if feat.scale == "log":
        return float(lo * (hi / lo) ** v)
    return lo + (hi - lo) * v


class PopulationModel:
    """One half-space-trees detector with its feature statistics (for one shard)."""

    __slots__ = ("features", "hst", "mean", "n", "params", "signature", "var")

    def __init__(self, features: Sequence[ScaledFeature], params: HalfSpaceTreesParams, signature: str):
        self.features = tuple(features)
        self.params = params
        self.signature = signature
        self.hst = HalfSpaceTrees(
            n_trees=params.n_trees, height=params.height, window_size=params.window_size, seed=params.seed
        )
        self.n = 0  # events learnt
        self.mean = [0.0] * len(self.features)
        self.var = [0.0] * len(self.features)

    def vector_of(self, raw: Mapping[str, Any]) -> dict[str, float]:
        return {f.name: scale(f, raw.get(f.name)) for f in self.features}

    def score(self, x: dict[str, float]) -> float:
        """In [0, 1]; 0 until the first window has been learnt."""
        s = self.hst.score_one(x)
        return 0.0 if s < 0.0 else float(s)

    def learn(self, x: dict[str, float]) -> None:
        self.hst.learn_one(x)
        self.n += 1
        alpha = 1.0 / self.n if self.n < _STATS_HORIZON else 1.0 / _STATS_HORIZON
        mean, var = self.mean, self.var
        for i, f in enumerate(self.features):
            d = x[f.name] - mean[i]
            mean[i] += alpha * d
            var[i] = (1.0 - alpha) * (var[i] + alpha * d * d)

    def drivers(self, x: dict[str, float], raw: Mapping[str, Any], top: int = 3) -> list[dict[str, Any]]:
        """The features furthest from the population's usual, in standard deviations."""
        out = []
        for i, f in enumerate(self.features):
            sd = sqrt(self.var[i]) or 0.05
            z = abs(x[f.name] - self.mean[i]) / max(sd, 0.05)
            out.append((z, f, i))
        out.sort(key=lambda t: -t[0])
        return [
            {"feature": f.name, "value": _round(raw.get(f.name)), "usual": _round(unscale(f, self.mean[i])),
             "deviation": round(z, 1)}
            for z, f, i in out[:top]
            if z >= 1.0
        ]

    # -- checkpoints ------------------------------------------------------------------
    def to_state(self) -> list[Any]:
        hst = self.hst
        masses: list[int] = []
        for nodes in hst._tree_nodes:
            for node in nodes:
                masses += (node.l_mass, node.r_mass)
        return [
            self.signature, self.n, hst.counter, int(hst._first_window), masses,
            [round(v, 6) for v in self.mean], [round(v, 7) for v in self.var],
        ]

    @classmethod
    def from_state(
        cls, features: Sequence[ScaledFeature], params: HalfSpaceTreesParams, signature: str, state: list[Any]
    ) -> PopulationModel:
        """Resume from :meth:`to_state`; a fresh model if the state was saved for another
        declaration (its signature differs) or does not fit."""
        m = cls(features, params, signature)
        if not state or state[0] != signature or not state[1]:
            return m
        _, n, counter, first, masses, mean, var = state
        hst = m.hst
        hst.learn_one(dict.fromkeys((f.name for f in m.features), 0.0))  # builds the trees from the seed
        nodes = [node for tree in hst._tree_nodes for node in tree]
        if len(masses) != 2 * len(nodes) or len(mean) != len(m.features):
            return cls(features, params, signature)
        for i, node in enumerate(nodes):
            node.l_mass, node.r_mass = masses[2 * i], masses[2 * i + 1]
        hst.counter = counter
        hst._first_window = bool(first)
        m.n, m.mean, m.var = n, list(mean), list(var)
        return m


def _round(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 4)
    return v
