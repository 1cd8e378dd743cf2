"""Scoring events with the declared models: what ``score.<name>`` reads in rules.

The detector calls :meth:`ModelScorer.score` after computing an event's features and before
the rules, and :meth:`ModelScorer.learn` after the rules (with the profile update): a model
compares an event with what it knew *before* it, as the features do. A model that has not
warmed up leaves its score ``None``, and one that does not see this kind of event leaves it
out; rules treat a missing score as not matching (docs/rules.md, "Missing values").

Scores are computed when something reads them, not when the event arrives: ``score()``
only decides which models see the event (their ``when``), and a score is worked out the
first time a rule, the evidence or :meth:`Scores.materialize` asks for it — most events
pass no rule that gets as far as reading a score, so most scores are never needed. What
every event costs is the learning, which every model must do. One event in
:data:`SAMPLE_EVERY` has all its scores computed for the score histogram (the metrics).

Per-user baselines live in ``UserState.baselines`` (name -> a short list of numbers, see
:mod:`.baselines`); population detectors live here, one per shard (the user's partition, by
Kafka's default partitioner, so replay learns exactly what each worker learns), and are
loaded from and checkpointed to the worker's ``models`` table by the streaming shell.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stream_guard.core.histogram import Buckets
from stream_guard.core.models._learning import (
    AMOUNT,
    COMBINED,
    HOUR,
    KINDS,
    POPULATION,
    RARITY,
    compile_learner,
    reader,
)
from stream_guard.core.models.baselines import Amount, Hour, Rarity
from stream_guard.core.models.population import PopulationModel
from stream_guard.core.models.registry import Model, ModelRegistry

__all__ = ["SAMPLE_EVERY", "SCORE_BUCKETS", "ModelScorer", "ScoreCounts", "Scores"]

#: Upper bounds of the score histogram (``stream_guard_model_score``).
SCORE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)
#: One event in this many (of those the models see) has every score computed and counted
#: in the histogram; the rest are computed only if read.
SAMPLE_EVERY = 32
_EMPTY: dict[str, Any] = {}
#: a model did not see the event (its value was missing): no score, not even None
_UNSEEN: Any = object()


class Scores(dict):
    """``{model name: score or None}`` for one event, filled as the scores are read.

    ``get(name)`` and ``[name]`` compute a score the first time (``get`` gives None, and
    ``[]`` raises KeyError, for a model that did not see the event); iterating gives only
    what has been computed — call :meth:`materialize` first for every score. ``inputs``
    keeps what each model read (to learn and explain). Read before ``learn``: afterwards
    the user's baselines already include the event, so a late read raises RuntimeError.
    """

    __slots__ = ("ctx", "inputs", "scorer", "seen", "shard")

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        v = dict.get(self, name, _UNSEEN)
        if v is _UNSEEN:
            v = self.scorer._compute(name, self)
            if v is _UNSEEN:
                return default
        return v

    def __missing__(self, name: str) -> Any:
        v = self.scorer._compute(name, self)
        if v is _UNSEEN:
            raise KeyError(name)
        return v

    def materialize(self) -> Scores:
        """Every score of the models that saw the event, computed (for evaluation, tests)."""
        for name in self.seen + self.scorer._combined_names:
            self.get(name)
        return self


class ScoreCounts:
    """Per model: events seen, of which while warming up, and the sampled scores' histogram."""

    __slots__ = ("scores", "seen", "warming")

    def __init__(self) -> None:
        self.seen = 0
        self.warming = 0
        self.scores = Buckets(SCORE_BUCKETS)  # one event in SAMPLE_EVERY

    @property
    def scored(self) -> int:
        return self.seen - self.warming

    @property
    def warm(self) -> bool:
        """Has it scored an event yet (any user, any shard)."""
        return self.seen > self.warming


class _Entry:
    __slots__ = ("code", "model", "name", "p", "read", "readers", "warmup", "when")

    def __init__(self, model: Model):
        spec = model.spec
        self.model = model
        self.name = spec.name
        self.code = KINDS[spec.estimator]
        self.when = model.when.fn
        self.p = model.params
        self.warmup = spec.warmup
        self.read = reader(spec.value) if spec.value else None
        self.readers = [(feat.name, reader(feat.source)) for feat in spec.features]


# Each per-user baseline's score is a closure built once per registry:
# ``compute(event, f, t, baselines, s)`` gives the score with the baselines' own ``score``
# (None while warming up), or _UNSEEN without a value, and keeps the value read in
# ``s.inputs``. It runs only when a score is read; learning, which runs for every event, is
# generated per set of models (_learning).


def _amount(e: _Entry):
    name, p = e.name, e.p

    def compute(event, f, t, b, s):
        v = e.read(event, f)
        if v is None or v < 0:
            return _UNSEEN
        s.inputs[name] = v
        st = b.get(name)
        return None if st is None else Amount.score(
            st, v, warmup=e.warmup, prior_spread=p.prior_spread, prior_weight=p.prior_weight)

    return compute


def _hour(e: _Entry):
    name = e.name

    def compute(event, f, t, b, s):
        s.inputs[name] = t
        st = b.get(name)
        return None if st is None else Hour.score(st, t, warmup=e.warmup, alpha=e.p.alpha)

    return compute


def _rarity(e: _Entry):
    name = e.name

    def compute(event, f, t, b, s):
        v = e.read(event, f)
        if v is None:
            return _UNSEEN
        s.inputs[name] = v = Rarity.key(v)
        st = b.get(name)
        return None if st is None else Rarity.score(st, v, warmup=e.warmup)

    return compute


class ModelScorer:
    """Scores events with every model of a registry; holds the population detectors.

    ``shard_of``: how users map to population detectors (the worker's partitions).
    ``load(name, shard)`` gives a detector's checkpoint (``to_state()``), or None; ``dirty``
    names the shards whose detectors learnt since :meth:`checkpoint`.
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
        self.counts = {name: ScoreCounts() for name in registry.names}
        self.populations: dict[tuple[str, int], PopulationModel] = {}
        self.dirty: set[int] = set()
        self._shards: dict[str, int] = {}
        entries = [_Entry(m) for m in registry.models]
        self._entries = {e.name: e for e in entries}
        build = {AMOUNT: _amount, HOUR: _hour, RARITY: _rarity}
        self._compute_of: dict[str, Any] = {e.name: build[e.code](e) for e in entries if e.code in build}
        self._population_learners: dict[str, Any] = {}
        for e in entries:
            if e.code == POPULATION:
                self._compute_of[e.name], self._population_learners[e.name] = self._population_model(e, self.counts[e.name])
        # per event type, the models grouped by their 'when': each distinct condition is
        # evaluated once per event (the login models share theirs)
        self._on: dict[str, list[tuple[Any, tuple[str, ...]]]] = {}
        for t in ("login", "transfer"):
            groups: dict[str, tuple[Any, list[str]]] = {}
            for e in entries:
                if e.code != COMBINED and e.model.spec.on == t:
                    groups.setdefault(e.model.when.source, (e.when, []))[1].append(e.name)
            self._on[t] = [(when, tuple(names)) for when, names in groups.values()]
        # combined model -> (its models, at_least, its counts)
        self._combined = {e.name: (tuple(e.model.spec.of), e.model.spec.at_least, self.counts[e.name])
                          for e in entries if e.code == COMBINED}
        self._combined_names = tuple(self._combined)
        self._baseline_models = sum(1 for e in entries if e.code in (AMOUNT, HOUR, RARITY))
        self._learners: dict[tuple[str, ...], Any] = {}  # per set of models that see an event
        self._tick = 1  # the first event the models see is sampled
        self._none = Scores()  # what an event no model sees gets (never written to)
        self._none.scorer, self._none.seen, self._none.ctx, self._none.inputs, self._none.shard = self, (), None, {}, 0

    def __bool__(self) -> bool:
        return bool(self.registry.models)

    # -- the hot path ---------------------------------------------------------------------
    def score(self, event: Any, f: dict[str, Any], state: Any, t: float) -> Scores:
        """The event's (lazy) scores: which models see it; each score computed when read."""
        seen = None
        for when, names in self._on[event.type]:
            if when(event, f, _EMPTY, _EMPTY, t):
                seen = names if seen is None else seen + names
        if seen is None:
            return self._none
        s = Scores()
        s.scorer, s.seen, s.ctx, s.inputs, s.shard = self, seen, (event, f, state, t), {}, 0
        self._tick -= 1
        if not self._tick:
            self._tick = SAMPLE_EVERY
            counts = self.counts
            for name, v in s.materialize().items():
                if v is not None:
                    counts[name].scores.observe(v)
        return s

    def _compute(self, name: str, s: Scores) -> Any:
        """``score.<name>`` for the event of ``s`` (kept in ``s``), or _UNSEEN."""
        if name in s.seen:
            if s.ctx is None:
                raise RuntimeError(f"score.{name} read after the models learnt from the event")
            event, f, state, t = s.ctx
            v = self._compute_of[name](event, f, t, state.baselines, s)
        else:
            combined = self._combined.get(name)
            if combined is None:
                return _UNSEEN
            v = self._combine(s, combined[0], combined[1])
        if v is not _UNSEEN:
            dict.__setitem__(s, name, v)
        return v

    @staticmethod
    def _combine(s: Scores, of: tuple[str, ...], k: int) -> Any:
        values = []
        seen = False
        for m in of:
            v = s.get(m, _UNSEEN)
            if v is not _UNSEEN:
                seen = True
                if v is not None:
                    values.append(v)
        if not seen:
            return _UNSEEN  # none of its models saw the event
        if len(values) < k:
            return None
        values.sort(reverse=True)
        return values[k - 1]

    def learn(self, s: Scores, state: Any) -> None:
        """Fold the event into the models that saw it (after the rules looked at it)."""
        seen = s.seen
        if not seen:
            return
        event, f, _, t = s.ctx
        s.ctx = None  # the scores not read by now are never computed (see Scores)
        baselines = state.baselines
        learn = self._learners.get(seen)
        if learn is None:
            learn = self._learners[seen] = self._compile(seen)
        learn(event, f, t, baselines, s)
        if len(baselines) > self._baseline_models:  # a model was removed: its per-user state goes
            for name in [n for n in baselines if n not in self._entries]:
                del baselines[name]

    def _compile(self, seen: tuple[str, ...]) -> Any:
        """The learning of the models ``seen`` (and the counts of the combined ones), as one function."""
        combined = []
        for of, k, counts in self._combined.values():
            positions = tuple(i for i, name in enumerate(seen) if name in of)
            if positions:
                combined.append((counts, k, positions))
        return compile_learner(seen, self._entries, self.counts, self._population_learners, combined)

    # -- population detectors -------------------------------------------------------------
    def _population_model(self, e: _Entry, counts: ScoreCounts):
        name = e.name
        ready = max(e.warmup, e.p.window_size)

        def vector(event, f, s):
            v = s.inputs.get(name)
            if v is None:
                m = self._population(name, event.user_id, s)
                raw = {fname: read(event, f) for fname, read in e.readers}
                v = s.inputs[name] = (m.vector_of(raw), raw)
            return v

        def compute(event, f, t, b, s):
            x = vector(event, f, s)[0]
            m = self.populations[(name, s.shard)]
            return None if m.n < ready else m.score(x)

        def learn(event, f, t, b, s):
            x = vector(event, f, s)[0]
            m = self.populations[(name, s.shard)]
            counts.seen += 1
            warm = m.n >= ready
            if not warm:
                counts.warming += 1
            m.learn(x)
            self.dirty.add(s.shard)
            return warm

        return compute, learn

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
        if e is None or s.get(name, _UNSEEN) is _UNSEEN:
            return None
        if e.code == COMBINED:
            of = e.model.spec.of
            return {"at_least": e.model.spec.at_least,
                    "of": {m: None if s.get(m) is None else round(s[m], 4) for m in of}}
        v = s.inputs.get(name)
        b = state.baselines.get(name)
        if e.code == AMOUNT:
            if b is None:
                return {"value": v, "observations": 0}
            return {
                "value": v, "usual": round(Amount.usual(b)), "observations": b[0],
                "spread_factor": round(10 ** Amount.spread(b, e.p.prior_spread, e.p.prior_weight), 2),
                "spreads_above_usual": round(Amount.z(b, v, e.p.prior_spread, e.p.prior_weight), 1),
            }
        if e.code == HOUR:
            return {"hour_utc": Hour.hour(v), "usual_hours_utc": Hour.usual(b) if b else [],
                    "observations": Hour.count(b) if b else 0}
        if e.code == RARITY:
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
