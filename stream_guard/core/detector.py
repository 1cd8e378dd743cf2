"""The detector: one event, the user's state in, decisions out — deterministically.

Processing is split along the keys that state lives under, because that is how the
streaming worker partitions it:

- :meth:`Detector.process_user` runs everything keyed by the user: features, conditions,
  user-keyed aggregates and sequences, suppression, the risk score and its policy. For
  rules grouped by another key (``by: ip``) it evaluates the rule's filter here — where the
  user's features are — and hands back :class:`GroupItem` s.
- :meth:`Detector.process_group` folds one GroupItem into the state of its key (an IP's
  window) and decides. The worker routes GroupItems to the key's partition; replay and
  rule tests call it right away (:class:`LocalRunner`).

Event time only: windows, spans, suppressions and decay use the events' ``ts``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Protocol

from stream_guard.core.clock import format_duration, iso
from stream_guard.core.decisions import (
    CONTEXT_FIELDS,
    Decision,
    decision_id,
    event_context,
    render_reason,
)
from stream_guard.core.events import LoginEvent, TransferEvent
from stream_guard.core.features import compute_features
from stream_guard.core.profiles import ProfileLimits, update_profile
from stream_guard.core.rules.pack import INDEX_FIELDS, CompiledRule, RuleSet
from stream_guard.core.sequences import Partial, advance
from stream_guard.core.state import RECENT_IDS, GroupState, RuleState, UserState

Event = LoginEvent | TransferEvent


class Scorer(Protocol):
    """What the detector asks of the models (:class:`~stream_guard.core.models.scoring.ModelScorer`):
    scores before the rules, learning after them, and evidence when a rule reading a score fires."""

    def score(self, event: Event, f: dict[str, Any], state: UserState, t: float) -> Mapping[str, float | None]: ...

    def learn(self, s: Any, state: UserState) -> None: ...

    def explain(self, name: str, s: Any, state: UserState) -> dict[str, Any] | None: ...

_NO_STEPS: Mapping[str, Any] = {}
_NO_SCORES: Mapping[str, float | None] = {}  # shared, like _NO_STEPS: nothing writes to it
#: Default tolerance for out-of-order events (event time behind the key's newest event).
DEFAULT_LATENESS = 600.0


@dataclass(slots=True)
class GroupItem:
    """One event's contribution to a rule grouped by a non-user key."""

    rule_id: str
    key: str  # the event field, e.g. "ip"
    value: Any  # its value, e.g. "45.155.205.17"
    t: float
    ts: str
    event_id: str
    event_type: str
    user_id: str
    payload: Any  # aggregate: the field's value; sequence: bit mask of matching steps

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class UserResult:
    decisions: list[Decision] = field(default_factory=list)
    group_items: list[GroupItem] = field(default_factory=list)
    late: bool = False
    duplicate: bool = False


class _Index:
    """Which rules could match an event of one type, cached by the event's indexed values.

    The cache holds :data:`_Candidate` tuples rather than bare rules: what the detector needs
    from each candidate for every event (its condition function; a sequence's first step,
    for the fast path) is worked out once here rather than per event. Each cache entry also
    counts the events it served (``[candidates, events]``): how often each rule was
    evaluated is worked out from those when asked (:meth:`fold`), not per event and rule.
    """

    __slots__ = ("cache", "entries", "evaluated", "fields", "key_of")

    def __init__(self, rules: Iterable[CompiledRule], event_type: str):
        fields = INDEX_FIELDS[event_type]
        self.entries: list[tuple[_Candidate, dict[str, frozenset]]] = []
        used: set[str] = set()
        for r in rules:
            g = r.guards_for(event_type)
            used.update(g)
            self.entries.append((_candidate(r), g))
        self.fields = tuple(f for f in fields if f in used)
        # The cache key: attrgetter reads all the indexed fields in one C call (a tuple of
        # them, or a single field's bare value). Without indexed fields every event of the
        # type has the same candidates, and its (constant) type is the key.
        self.key_of = attrgetter(*self.fields) if self.fields else attrgetter("type")
        self.cache: dict[Any, list[Any]] = {}  # key -> [candidates, events since the last fold]
        self.evaluated: dict[str, int] = {}  # rule id -> events folded so far

    def candidates(self, event: Event) -> list[Any]:
        """The cache entry for ``event``: ``[candidates, events]``."""
        key = self.key_of(event)
        hit = self.cache.get(key)
        if hit is None:
            fields = self.fields
            values = dict(zip(fields, key, strict=True)) if len(fields) > 1 else dict.fromkeys(fields, key)
            hit = [
                tuple(c for c, g in self.entries if all(values[f] in allowed for f, allowed in g.items())),
                0,
            ]
            if len(self.cache) >= 4096:
                self.fold()
                self.cache.clear()
            self.cache[key] = hit
        return hit

    def fold(self) -> dict[str, int]:
        """Add the cache entries' event counts to :attr:`evaluated` (per rule); return it."""
        evaluated = self.evaluated
        for hit in self.cache.values():
            n = hit[1]
            if n:
                for c in hit[0]:
                    evaluated[c[0].id] = evaluated.get(c[0].id, 0) + n
                hit[1] = 0
        return evaluated


#: ``(rule, when, start)``: ``when`` is the rule's condition function, or ``None`` for a
#: sequence; ``start`` is ``(event type, condition function)`` of a user-keyed sequence's
#: first step (``None`` otherwise), for the fast path that skips most events.
_Candidate = tuple[CompiledRule, Callable[..., Any] | None, tuple[str, Callable[..., Any]] | None]


def _candidate(rule: CompiledRule) -> _Candidate:
    if rule.sequence is None:
        return (rule, rule.when.fn, None)
    if rule.group_by is not None:
        return (rule, None, None)
    first = rule.steps[0]
    return (rule, None, (first.on, first.when.fn))


def _evidence_value(v: Any) -> Any:
    if hasattr(v, "isoformat"):
        return v.isoformat()
    if isinstance(v, float):
        return round(v, 4)
    return v


class Detector:
    """Runs a :class:`RuleSet` over events; holds no per-user state itself."""

    def __init__(
        self,
        rules: RuleSet,
        *,
        lateness: float = DEFAULT_LATENESS,
        limits: ProfileLimits | None = None,
        scorer: Scorer | None = None,
    ):
        self.rules = rules
        self.lateness = lateness
        self.limits = limits or ProfileLimits()
        self.scorer = scorer if scorer else None  # no models declared: nothing to call per event
        active = [r for r in rules.rules if r.mode != "off"]
        self._index = {t: _Index([r for r in active if t in r.on], t) for t in INDEX_FIELDS}
        self._by_id = {r.id: r for r in active}
        # AggregateSpec.fields builds a new tuple on each read; _aggregate needs it per event
        self._agg_fields = {r.id: r.aggregate.fields for r in active if r.aggregate is not None}
        self.half_life = rules.policy.half_life
        self.levels = rules.policy.levels

    def evaluations(self) -> dict[str, int]:
        """How many events each rule has been evaluated on (considered by its condition or
        sequence) so far; rules keyed by another value count their events' filters here."""
        out: dict[str, int] = {}
        for index in self._index.values():
            for rule_id, n in index.fold().items():
                out[rule_id] = out.get(rule_id, 0) + n
        return out

    # -- user-keyed -------------------------------------------------------------------
    def process_user(self, event: Event, state: UserState) -> UserResult:
        out = UserResult()
        self._process_user(event, state, out)
        return out

    def _process_user(self, event: Event, state: UserState, out: UserResult) -> None:
        """:meth:`process_user` into ``out``, which must be empty. LocalRunner reuses one
        UserResult: building the dataclass costs ~0.5 µs, a few per cent of an event."""
        event_id = event.event_id
        ids = state.recent_ids
        if event_id in ids:  # UserState.seen(), inlined: it runs for every event
            out.duplicate = True
            return
        t = event.ts.timestamp()
        mark = state.watermark
        if mark is not None and t < mark - self.lateness:
            out.late = True
            return
        if mark is None or t > mark:
            state.watermark = t
        f = compute_features(state.profile, event, t)
        scorer = self.scorer
        s = scorer.score(event, f, state, t) if scorer is not None else _NO_SCORES
        etype = event.type
        index = self._index[etype]
        hit = index.cache.get(index.key_of(event))  # _Index.candidates' usual case
        if hit is None:
            hit = index.candidates(event)
        hit[1] += 1
        partials = state.partials
        for rule, when, start in hit[0]:
            if when is None:  # a sequence
                # Fast path, for most events: a user-keyed sequence with no open partial
                # match, and this event cannot start one.
                if start is not None and not partials.get(rule.id):
                    on, first = start
                    if on != etype or not first(event, f, s, _NO_STEPS, t):
                        continue
                self._sequence(rule, event, t, f, s, state, out)
                continue
            if not when(event, f, s, _NO_STEPS, t) or (
                rule.excepts and self._excepted(rule, event, f, s, t)
            ):
                continue
            if rule.aggregate is None:
                self._fire(rule, event, t, f, s, state, out, {})
            else:
                self._aggregate(rule, event, t, f, s, state, out)
        update_profile(state.profile, event, t, self.limits)
        if scorer is not None:
            scorer.learn(s, state)
        # UserState.remember(), inlined
        ids[event_id] = None
        if len(ids) > RECENT_IDS:
            del ids[next(iter(ids))]

    def _excepted(self, rule: CompiledRule, e: Event, f, s, t: float, st=_NO_STEPS) -> bool:
        return any(x.fn(e, f, s, st, t) for x in rule.excepts)

    def _aggregate(self, rule, e, t, f, s, state: UserState, out: UserResult) -> None:
        value = None
        fields = self._agg_fields[rule.id]
        if fields:
            for name in fields:  # the first of the fields that is set
                value = getattr(e, name)
                if value is not None:
                    break
            else:
                return
        if rule.group_by is not None:
            key = getattr(e, rule.group_by)
            if key is not None:
                out.group_items.append(
                    GroupItem(rule.id, rule.group_by, key, t, e.ts.isoformat(), e.event_id, e.type, e.user_id, value)
                )
            return
        extra = self._window(rule, state, t, value)
        if extra is not None:
            self._fire(rule, e, t, f, s, state, out, extra)

    def _window(self, rule: CompiledRule, rs: RuleState, t: float, value: Any) -> dict | None:
        agg = rule.aggregate
        w = rs.window(rule)
        w.add(t, value, agg.window)
        v = w.value()
        if v < agg.threshold:
            return None
        first, _ = w.span()
        ev = {
            "aggregate": f"{agg.function}({'|'.join(agg.fields)})" if agg.fields else "count",
            "value": _evidence_value(float(v)),
            "threshold": agg.threshold,
            "window": format_duration(agg.window),
            "events_in_window": len(w.items),
            "first_ts": iso(first),
        }
        if agg.function == "count_distinct":
            ev["sample"] = w.sample()
        return ev

    def _sequence(self, rule, e, t, f, s, state: UserState, out: UserResult) -> None:
        steps = rule.steps
        if rule.group_by is not None:
            mask = 0
            for i, step in enumerate(steps):
                if step.on == e.type and step.when.fn(e, f, s, _NO_STEPS, t):
                    mask |= 1 << i
            key = getattr(e, rule.group_by)
            if mask and key is not None:
                out.group_items.append(
                    GroupItem(rule.id, rule.group_by, key, t, e.ts.isoformat(), e.event_id, e.type, e.user_id, mask)
                )
            return

        # (process_user has already skipped the events that can neither advance an open
        # partial match nor start one)

        def matches(i: int, st) -> bool:
            return bool(steps[i].when.fn(e, f, s, st, t))

        def capture(i: int) -> dict[str, Any]:
            return {name: _evidence_value(getattr(e, name)) for name in steps[i].captures}

        done = advance(state.partials_of(rule), rule.sequence, t, e.type, e.event_id, matches, capture)
        if done is None:
            return
        if rule.excepts and self._excepted(rule, e, f, s, t, done.view()):
            return
        self._fire(rule, e, t, f, s, state, out, _sequence_evidence(rule, done))

    # -- firing -----------------------------------------------------------------------
    def _fire(self, rule: CompiledRule, e, t, f, s, state: UserState, out: UserResult, extra: dict) -> None:
        if rule.suppress is not None:
            if state.suppressed(rule.id, t):
                return
            state.suppress[rule.id] = t + rule.suppress
        evidence = self._evidence(rule, e, f, s, state)
        evidence.update(extra)
        before = state.risk.at(t, self.half_life)
        risk = before
        if rule.mode == "enforce" and rule.risk:
            risk = state.risk.add(rule.risk, t=t, half_life=self.half_life, source=rule.id)
            evidence["risk_points"] = rule.risk
        profile = state.profile.brief(t)  # before the event: update_profile runs after the rules
        out.decisions.append(self._decision(rule, e, evidence, risk=round(risk, 1), profile=profile))
        for level in self.levels:
            if before < level.at <= risk:
                out.decisions.append(self._policy_decision(level, e, state, risk, profile))

    def _evidence(self, rule: CompiledRule, e, f, s, state: UserState) -> dict[str, Any]:
        names = set(rule.when.names)
        for step in rule.steps:
            if step.on == e.type:
                names.update(n for n in step.when.names if not n.startswith("steps."))
        ev: dict[str, Any] = {}
        for name in sorted(names):
            ns, _, key = name.partition(".")
            if ns == "event":
                if not hasattr(e, key):
                    continue
                v = getattr(e, key)
            elif ns == "features":
                if key not in f:
                    continue
                v = f[key]
            elif ns == "score":
                v = s.get(key)
                why = self.scorer.explain(key, s, state) if self.scorer is not None else None
                if why is not None:
                    ev.setdefault("models", {})[key] = why
            else:
                continue
            ev[name] = _evidence_value(v)
        return ev

    def _decision(self, rule: CompiledRule, e, evidence: dict, *, risk: float | None, group=None,
                  profile: dict[str, Any] | None = None) -> Decision:
        values = {**{k.partition(".")[2]: v for k, v in evidence.items() if "." in k}, **evidence}
        for why in evidence.get("models", {}).values():  # a model's usual value etc., for reasons
            for k, v in why.items():
                values.setdefault(k, v)
        values.update(user_id=e.user_id, rule_id=rule.id)
        reason = render_reason(rule.reason, values) if rule.reason else _default_reason(rule, evidence)
        context = event_context(e)
        for k, v in (group or {}).items():  # a group decision knows the key it was grouped by
            if k in CONTEXT_FIELDS:
                context.setdefault(k, v)
        return Decision(
            decision_id=decision_id(rule.id, e.event_id),
            rule_id=rule.id,
            rule_version=rule.version,
            mode=rule.mode,
            severity=rule.severity,
            title=rule.title,
            user_id=e.user_id,
            event_id=e.event_id,
            event_type=e.type,
            ts=e.ts.isoformat(),
            actions=[dict(a) for a in rule.actions],
            reason=reason,
            evidence=evidence,
            group=group,
            risk=risk,
            tags=list(rule.tags),
            context=context,
            profile=profile,
        )

    def _policy_decision(self, level, e, state: UserState, risk: float, profile: dict[str, Any] | None) -> Decision:
        contributions = [
            {"rule_id": src, "points": pts, "ts": iso(at)} for src, pts, at in state.risk.recent
        ]
        by = ", ".join(f"{c['rule_id']} (+{c['points']:g})" for c in contributions[-4:])
        return Decision(
            decision_id=decision_id(level.id, e.event_id),
            rule_id=level.id,
            rule_version=1,
            mode="enforce",
            severity=level.severity,
            title=level.title or f"Risk score reached {level.at:g}",
            user_id=e.user_id,
            event_id=e.event_id,
            event_type=e.type,
            ts=e.ts.isoformat(),
            actions=[a.to_dict() for a in level.actions],
            reason=f"risk score {risk:.0f} crossed {level.at:g} after {by}",
            evidence={"risk": round(risk, 1), "level": level.at, "contributions": contributions},
            group=None,
            risk=round(risk, 1),
            tags=["risk_policy"],
            context=event_context(e),
            profile=profile,
        )

    # -- other keys -------------------------------------------------------------------
    def process_group(self, item: GroupItem, state: GroupState) -> Decision | None:
        rule = self._by_id.get(item.rule_id)
        if rule is None:
            return None  # the rule was removed or switched off since the item was made
        if rule.aggregate is not None:
            extra = self._window(rule, state, item.t, item.payload)
        else:
            mask = item.payload
            done = advance(
                state.partials_of(rule), rule.sequence, item.t, item.event_type, item.event_id,
                lambda i, st: bool(mask >> i & 1),
            )
            extra = _sequence_evidence(rule, done) if done is not None else None
        if extra is None:
            return None
        if rule.suppress is not None:
            if state.suppressed(rule.id, item.t):
                return None
            state.suppress[rule.id] = item.t + rule.suppress
        evidence = {rule.group_by: item.value, **extra}
        e = _ItemEvent(item)
        return self._decision(rule, e, evidence, risk=None, group={item.key: item.value})


class _ItemEvent:
    """The few event attributes a group decision needs, taken from a GroupItem."""

    __slots__ = ("event_id", "ts", "type", "user_id")

    def __init__(self, item: GroupItem):
        self.event_id = item.event_id
        self.type = item.event_type
        self.user_id = item.user_id
        self.ts = _Ts(item.ts)


class _Ts(str):
    def isoformat(self) -> str:
        return str(self)


def _sequence_evidence(rule: CompiledRule, done: Partial) -> dict[str, Any]:
    steps = [
        {"step": name, "event_id": cap["event_id"], "ts": iso(cap["t"])}
        for name, cap in done.steps.items()
    ]
    return {
        "steps": steps,
        "span": format_duration(done.last - done.start) or "0s",
        "within": format_duration(rule.sequence.within),
    }


def _default_reason(rule: CompiledRule, evidence: dict[str, Any]) -> str:
    if "aggregate" in evidence:
        return (
            f"{rule.title}: {evidence['aggregate']} = {evidence['value']:g} in {evidence['window']}"
            f" (threshold {evidence['threshold']:g})"
        )
    if "steps" in evidence:
        return f"{rule.title}: {' → '.join(s['step'] for s in evidence['steps'])} within {evidence['span']}"
    return rule.title


class LocalRunner:
    """All state in memory: what replay, backtests and rule tests use."""

    def __init__(self, detector: Detector):
        self.detector = detector
        self.users: dict[str, UserState] = {}
        self.groups: dict[tuple[str, Any], GroupState] = {}
        self.late: list[str] = []
        self.duplicates = 0
        self._res = UserResult()  # reset and refilled by each feed()

    def feed(self, event: Event) -> list[Decision]:
        state = self.users.get(event.user_id)
        if state is None:
            state = self.users[event.user_id] = UserState()
        res = self._res
        res.decisions = decisions = []  # a new list: the caller keeps it
        res.group_items.clear()
        res.late = res.duplicate = False
        self.detector._process_user(event, state, res)
        if res.late:
            self.late.append(event.event_id)
        if res.duplicate:
            self.duplicates += 1
        for item in res.group_items:
            gkey = (item.key, item.value)
            gs = self.groups.get(gkey)
            if gs is None:
                gs = self.groups[gkey] = GroupState()
            d = self.detector.process_group(item, gs)
            if d is not None:
                decisions.append(d)
        return decisions
