"""Scoring events with the declared models: what ``score.<name>`` reads in rules.

The detector calls :meth:`ModelScorer.score` after computing an event's features and before
the rules, and :meth:`ModelScorer.learn` after the rules (with the profile update): a model
compares an event with what it knew *before* it, as the features do. A model that has not
warmed up, or that does not see this kind of event, leaves its score ``None``; rules treat a
missing score as not matching (docs/rules.md, "Missing values").

Per-user baselines live in ``UserState.baselines`` (name -> a short list of numbers, see
:mod:`.baselines`); population detectors live here, one per shard (the user's partition, by
Kafka's default partitioner, so replay learns exactly what each worker learns), and are
loaded from and checkpointed to the worker's ``models`` table by the streaming shell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_guard.core.histogram import Buckets
from stream_guard.core.models.baselines import Amount, Hour, Rarity
from stream_guard.core.models.population import PopulationModel
from stream_guard.core.models.registry import CLIENT, Model, ModelRegistry
from stream_guard.core.profiles import client_key

__all__ = ["SCORE_BUCKETS", "ModelScorer", "ScoreCounts", "Scores"]

#: Upper bounds of the score histogram (``stream_guard_model_score``).
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
_EMPTY: dict[str, Any] = {}
_AMOUNT, _HOUR, _RARITY, _POPULATION, _COMBINED = range(5)
_CODES = {"amount": _AMOUNT, "hour": _HOUR, "rarity": _RARITY, "HalfSpaceTrees": _POPULATION,
          "kth_highest": _COMBINED}


class Scores(dict):
    """``{model name: score or None}``, plus what the models read (to learn and explain)."""

    __slots__ = ("inputs", "shard")

    def __init__(self) -> None:
        super().__init__()
        self.inputs: dict[str, Any] = {}
        self.shard = 0


class ScoreCounts:
    """Per model: events scored and seen while warming up, and the scores' histogram."""

    __slots__ = ("scored", "scores", "warm", "warming")

    def __init__(self) -> None:
        self.scored = 0
        self.warming = 0
        self.scores = Buckets(SCORE_BUCKETS)
        self.warm = False  # has it given a score yet (any user, any shard)


def _reader(source: str) -> Callable[[Any, dict[str, Any]], Any]:
    if source == CLIENT:
        return lambda e, f: client_key(e)
    ns, _, key = source.partition(".")
    if ns == "event":
        return lambda e, f: e.__dict__[key]
    return lambda e, f: f.get(key)


def _count(c: ScoreCounts, score: float | None) -> None:
    if score is None:
        c.warming += 1
    else:
        c.scored += 1
        c.scores.observe(score)
        c.warm = True


class _Entry:
    __slots__ = ("code", "features", "model", "name", "p", "read", "readers", "warmup", "when")

    def __init__(self, model: Model):
        spec = model.spec
        self.model = model
        self.name = spec.name
        self.code = _CODES[spec.estimator]
        self.when = model.when.fn
        self.p = model.params
        self.warmup = spec.warmup
        self.read = _reader(spec.value) if spec.value else None
        self.readers = [(feat.name, _reader(feat.source)) for feat in spec.features]


class ModelScorer:
    """Scores events with every model of a registry; holds the population detectors.

    ``shards`` and ``shard_of``: how users map to population detectors (the worker's
    partitions). ``load(name, shard)`` gives a detector's checkpoint (``to_state()``), or
    None; ``dirty`` names the shards whose detectors learnt since :meth:`checkpoint`.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        shard_of: Callable[[str], int] | None = None,
        load: Callable[[str, int], list[Any] | None] | None = None,
    ):
        self.registry = registry
        self.shard_of = shard_of or (lambda uid: 0)
        self.load = load
        entries = [_Entry(m) for m in registry.models]
        # per event type, the models grouped by their 'when': each distinct condition is
        # evaluated once per event (the login models share theirs)
        self._on: dict[str, list[tuple[Any, list[_Entry]]]] = {}
        for t in ("login", "transfer"):
            groups: dict[str, tuple[Any, list[_Entry]]] = {}
            for e in entries:
                if e.code != _COMBINED and e.model.spec.on == t:
                    groups.setdefault(e.model.when.source, (e.when, []))[1].append(e)
            self._on[t] = list(groups.values())
        self._combined = [(e.name, tuple(e.model.spec.of), e.model.spec.at_least) for e in entries if e.code == _COMBINED]
        self._entries = {e.name: e for e in entries}
        self._baseline_models = sum(1 for e in entries if e.code in (_AMOUNT, _HOUR, _RARITY))
        self.populations: dict[tuple[str, int], PopulationModel] = {}
        self.dirty: set[int] = set()
        self.counts = {name: ScoreCounts() for name in registry.names}
        self._shards: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.registry.models)

    # -- the hot path ---------------------------------------------------------------------
    def score(self, event: Any, f: dict[str, Any], state: Any, t: float) -> Scores:
        s = Scores()
        inputs = s.inputs
        baselines = state.baselines
        counts = self.counts
        for when, group in self._on[event.type]:
            if not when(event, f, _EMPTY, _EMPTY, t):
                continue
            for e in group:
                self._score_one(e, event, f, baselines, t, s, inputs, counts)
        for name, of, k in self._combined:
            values = sorted((s[m] for m in of if s.get(m) is not None), reverse=True)
            if not values and not any(m in s for m in of):
                continue  # none of its models saw the event
            score = values[k - 1] if len(values) >= k else None
            s[name] = score
            _count(counts[name], score)
        return s

    def _score_one(self, e: _Entry, event: Any, f: dict[str, Any], baselines: dict[str, list], t: float,
                   s: Scores, inputs: dict[str, Any], counts: dict[str, ScoreCounts]) -> None:
        name = e.name
        code = e.code
        p = e.p
        b = baselines.get(name)
        if code == _AMOUNT:
            v = e.read(event, f)
            if v is None or v < 0:
                return
            score = None if b is None else Amount.score(
                b, v, warmup=e.warmup, prior_spread=p.prior_spread, prior_weight=p.prior_weight)
        elif code == _HOUR:
            v = t
            score = None if b is None else Hour.score(b, t, warmup=e.warmup, alpha=p.alpha)
        elif code == _RARITY:
            v = e.read(event, f)
            if v is None:
                return
            v = Rarity.key(v)
            score = None if b is None else Rarity.score(b, v, warmup=e.warmup)
        else:
            m = self._population(name, event.user_id, s)
            raw = {fname: read(event, f) for fname, read in e.readers}
            x = m.vector_of(raw)
            v = (x, raw)
            score = m.score(x) if m.n >= e.warmup and m.n >= e.p.window_size else None
        inputs[name] = v
        s[name] = score
        _count(counts[name], score)

    def learn(self, s: Scores, state: Any) -> None:
        """Fold the event into the models that saw it (after the rules looked at it)."""
        if not s.inputs:
            return
        baselines = state.baselines
        entries = self._entries
        for name, v in s.inputs.items():
            e = entries[name]
            code = e.code
            if code == _POPULATION:
                self.populations[(name, s.shard)].learn(v[0])
                self.dirty.add(s.shard)
                continue
            b = baselines.get(name)
            p = e.p
            if code == _AMOUNT:
                Amount.learn(b if b is not None else baselines.setdefault(name, Amount.fresh()), v, p.horizon)
            elif code == _HOUR:
                Hour.learn(b if b is not None else baselines.setdefault(name, Hour.fresh()), v, p.cap)
            else:
                Rarity.learn(b if b is not None else baselines.setdefault(name, Rarity.fresh()), v, p.slots, p.cap)
        if len(baselines) > self._baseline_models:  # a model was removed: its per-user state goes
            for name in [n for n in baselines if n not in entries]:
                del baselines[name]

    def _population(self, name: str, user_id: str, s: Scores) -> PopulationModel:
        shard = self._shards.get(user_id)
        if shard is None:
            if len(self._shards) > 1_000_000:
                self._shards.clear()
            shard = self._shards[user_id] = self.shard_of(user_id)
        s.shard = shard
        m = self.populations.get((name, shard))
        if m is None:
            e = self._entries[name]
            spec = e.model.spec
            saved = self.load(name, shard) if self.load is not None else None
            m = PopulationModel.from_state(spec.features, e.p, e.model.signature, saved or [])
            self.populations[(name, shard)] = m
        return m

    # -- evidence ---------------------------------------------------------------------------
    def explain(self, name: str, s: Scores, state: Any) -> dict[str, Any] | None:
        """Why ``score.<name>`` is what it is for this event: the user's usual value, or the
        features that set it apart from the population. Called only when a rule fires."""
        e = self._entries.get(name)
        if e is None or name not in s:
            return None
        if e.code == _COMBINED:
            of = e.model.spec.of
            return {"at_least": e.model.spec.at_least,
                    "of": {m: None if s.get(m) is None else round(s[m], 4) for m in of}}
        v = s.inputs.get(name)
        b = state.baselines.get(name)
        if e.code == _AMOUNT:
            if b is None:
                return {"value": v, "observations": 0}
            return {
                "value": v, "usual": round(Amount.usual(b)), "observations": b[0],
                "spread_factor": round(10 ** Amount.spread(b, e.p.prior_spread, e.p.prior_weight), 2),
                "spreads_above_usual": round(Amount.z(b, v, e.p.prior_spread, e.p.prior_weight), 1),
            }
        if e.code == _HOUR:
            return {"hour_utc": Hour.hour(v), "usual_hours_utc": Hour.usual(b) if b else [],
                    "observations": Hour.count(b) if b else 0}
        if e.code == _RARITY:
            if not b:
                return {"value": v, "observations": 0}
            seen = Rarity.count_of(b, v)
            usual = Rarity.usual(b)
            return {"value": v, "seen_share": round(seen / b[0], 3) if b[0] else 0.0,
                    "observations": b[0], "usual": [u for u in usual if isinstance(u, str | int)]}
        m = self.populations.get((name, s.shard))
        if m is None or v is None:
            return None
        return {"drivers": m.drivers(v[0], v[1]), "learnt": m.n}

    # -- checkpoints ------------------------------------------------------------------------
    def checkpoint(self, shard: int) -> dict[str, list[Any]]:
        """The shard's population detectors as JSON-able state (and the shard marked clean)."""
        self.dirty.discard(shard)
        return {name: m.to_state() for (name, sh), m in self.populations.items() if sh == shard}

    def drop_shards(self, shards: set[int]) -> None:
        """Forget detectors of partitions this worker no longer owns (reloaded if they return)."""
        for key in [k for k in self.populations if k[1] in shards]:
            del self.populations[key]
        self.dirty -= shards
