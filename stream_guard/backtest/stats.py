"""Per-rule figures over a set of decisions: how often, on whom, when, alongside what.

For each rule: its decisions, the distinct users they name, decisions per calendar day
(every day of the period, zeros included), the action kinds they call for, its top users,
examples, and its **overlap** with every other rule.

Overlap is counted per decision: a decision of rule A *overlaps* rule B when B made a
decision naming the same user within :data:`OVERLAP_WINDOW` (two hours, the window
EVENTS.md uses to call an attack caught) before or after it. ``overlap[B].decisions`` is
how many of A's decisions overlap B, ``overlap[B].users`` how many users both A and B
named at any time in the period. A decision that overlaps no other rule is **unique**:
what the rule adds on its own.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stream_guard.backtest.days import Calendar
from stream_guard.backtest.record import DecisionRecord
from stream_guard.core.clock import format_duration
from stream_guard.core.rules.pack import CompiledRule, RuleSet
from stream_guard.core.rules.schema import RiskLevel
from stream_guard.scoring import WINDOW

#: Two decisions on the same user this close in event time overlap (seconds).
OVERLAP_WINDOW = WINDOW
#: Examples and top users kept per rule.
EXAMPLES = 5
TOP_USERS = 10
SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class RuleInfo:
    """What a report says about a rule besides its decisions."""

    id: str
    title: str
    mode: str
    severity: str
    kind: str
    version: int = 1
    threshold: float | None = None

    @classmethod
    def from_rule(cls, r: CompiledRule) -> RuleInfo:
        key = r.group_by or "user_id"
        kind, threshold = r.kind, None
        if r.aggregate is not None:
            a = r.aggregate
            field = f"({'|'.join(a.fields)})" if a.fields else ""
            kind = f"{a.function}{field} ≥ {a.threshold:g} in {format_duration(a.window)} by {key}"
            threshold = a.threshold
        elif r.sequence is not None:
            kind = f"sequence of {len(r.steps)} within {format_duration(r.sequence.within)} by {key}"
        return cls(r.id, r.title, r.mode, r.severity, kind, r.version, threshold)

    @classmethod
    def from_level(cls, level: RiskLevel) -> RuleInfo:
        title = level.title or f"Risk score reached {level.at:g}"
        return cls(level.id, title, "enforce", level.severity, f"risk level ≥ {level.at:g}")

    @classmethod
    def from_record(cls, d: DecisionRecord) -> RuleInfo:
        """For a rule known only from its decisions (read back from a topic)."""
        return cls(d.rule_id, d.title, d.mode, d.severity, "", d.rule_version)


def rule_infos(rules: RuleSet) -> dict[str, RuleInfo]:
    """Every rule the detector evaluates (mode enforce or shadow) and every risk level."""
    out = {r.id: RuleInfo.from_rule(r) for r in rules.rules if r.mode != "off"}
    out.update((lv.id, RuleInfo.from_level(lv)) for lv in rules.policy.levels)
    return out


def period_days(
    cal: Calendar, first_t: float | None, last_t: float | None, records: Sequence[DecisionRecord]
) -> list[int]:
    """The days from the first event (or decision) to the last event (or decision)."""
    times = [t for t in (first_t, last_t) if t is not None]
    if records:
        times += [min(d.t for d in records), max(d.t for d in records)]
    if not times:
        return []
    return list(range(cal.day(min(times)), cal.day(max(times)) + 1))


def by_rule(records: Iterable[DecisionRecord]) -> dict[str, list[DecisionRecord]]:
    out: dict[str, list[DecisionRecord]] = defaultdict(list)
    for d in records:
        out[d.rule_id].append(d)
    return out


def overlap(records: Iterable[DecisionRecord]) -> tuple[dict[str, Counter], Counter, dict[str, Counter]]:
    """``(decisions, unique, users)``: ``decisions[A][B]`` of A's decisions overlapping B,
    ``unique[A]`` of A's decisions overlapping no other rule, ``users[A][B]`` users both named.

    One sweep per user over their decisions in time order, with a counter of the rules
    inside the ±window: O(decisions × rules), however many decisions a user has.
    """
    per_user: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for d in records:
        per_user[d.user_id].append((d.t, d.rule_id))
    decisions: dict[str, Counter] = defaultdict(Counter)
    users: dict[str, Counter] = defaultdict(Counter)
    unique: Counter = Counter()
    w = OVERLAP_WINDOW
    for items in per_user.values():
        items.sort()
        inside: Counter = Counter()
        lo = hi = 0
        n = len(items)
        for t, rule in items:
            while hi < n and items[hi][0] <= t + w:
                inside[items[hi][1]] += 1
                hi += 1
            while items[lo][0] < t - w:
                r = items[lo][1]
                inside[r] -= 1
                if not inside[r]:
                    del inside[r]
                lo += 1
            others = [r for r in inside if r != rule]
            if others:
                row = decisions[rule]
                for r in others:
                    row[r] += 1
            else:
                unique[rule] += 1
        named = {r for _, r in items}
        if len(named) > 1:
            for a in named:
                for b in named:
                    if a != b:
                        users[a][b] += 1
    return decisions, unique, users


def top_users(records: Iterable[DecisionRecord], n: int = TOP_USERS) -> list[dict[str, Any]]:
    """The users named by the most decisions, with the rules that named them."""
    count: Counter = Counter()
    rules: dict[str, Counter] = defaultdict(Counter)
    for d in records:
        count[d.user_id] += 1
        rules[d.user_id][d.rule_id] += 1
    return [
        {"user_id": u, "decisions": c, "rules": dict(rules[u].most_common())}
        for u, c in sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    ]


def examples(records: Sequence[DecisionRecord], n: int = EXAMPLES) -> list[dict[str, Any]]:
    """Up to ``n`` decisions in time order, one per user first, so examples differ."""
    ordered = sorted(records, key=lambda d: (d.t, d.event_id))
    picked: list[DecisionRecord] = []
    seen: set[str] = set()
    for d in ordered:
        if d.user_id not in seen:
            seen.add(d.user_id)
            picked.append(d)
            if len(picked) == n:
                break
    if len(picked) < n:
        chosen = {id(d) for d in picked}
        picked += [d for d in ordered if id(d) not in chosen][: n - len(picked)]
        picked.sort(key=lambda d: (d.t, d.event_id))
    return [d.example() for d in picked]


def severity_mix(records: Iterable[DecisionRecord]) -> dict[str, dict[str, int]]:
    """Decisions by severity (most severe first) and mode."""
    mix: dict[str, Counter] = defaultdict(Counter)
    for d in records:
        mix[d.severity][d.mode] += 1
    order = [s for s in SEVERITIES if s in mix] + sorted(s for s in mix if s not in SEVERITIES)
    return {s: dict(sorted(mix[s].items())) for s in order}


def per_rule(
    records: Sequence[DecisionRecord],
    infos: Mapping[str, RuleInfo],
    cal: Calendar,
    days: Sequence[int],
) -> dict[str, dict[str, Any]]:
    """The figures of every rule in ``infos`` (zeros for those that never fired) and of
    every other rule that has decisions, in ``infos`` order then by id."""
    grouped = by_rule(records)
    ov_decisions, unique, ov_users = overlap(records)
    infos = dict(infos)
    for rule_id in sorted(grouped):
        if rule_id not in infos:
            infos[rule_id] = RuleInfo.from_record(grouped[rule_id][0])
    labels = [cal.label(d) for d in days]
    out: dict[str, dict[str, Any]] = {}
    for rule_id, info in infos.items():
        ds = grouped.get(rule_id, [])
        per_day = Counter(cal.day(d.t) for d in ds)
        counts = [per_day.get(day, 0) for day in days]
        actions: Counter = Counter(a for d in ds for a in d.actions)
        out[rule_id] = {
            "title": info.title,
            "mode": info.mode,
            "severity": info.severity,
            "kind": info.kind,
            "version": info.version,
            "decisions": len(ds),
            "users": len({d.user_id for d in ds}),
            "per_day": dict(zip(labels, counts, strict=True)),
            "active_days": sum(1 for c in counts if c),
            "per_day_mean": round(len(ds) / len(days), 3) if days else 0.0,
            "per_day_max": max(counts, default=0),
            "unique_decisions": unique.get(rule_id, 0),
            "overlap": _overlap_of(ov_decisions[rule_id], ov_users[rule_id]),
            "actions": dict(actions.most_common()),
            "top_users": top_users(ds, 5),
            "examples": examples(ds),
        }
        if info.threshold is not None:
            out[rule_id]["threshold"] = info.threshold
    return out


def _overlap_of(decisions: Counter, users: Counter) -> dict[str, dict[str, int]]:
    others = sorted(set(decisions) | set(users), key=lambda r: (-decisions[r], -users[r], r))
    return {r: {"decisions": decisions[r], "users": users[r]} for r in others}
