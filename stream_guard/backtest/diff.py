"""What a candidate rule set changes against a baseline, on the same events.

Decisions are matched by ``decision_id`` — a hash of the rule id and the triggering
event's id — so a decision is **gained** when only the candidate makes it, **lost** when
only the baseline does, and **changed** when both make it with a different mode,
severity, rule version or actions. Per rule, with examples, so that a rule change is
reviewed like a code change; and the rule definitions that differ, key by key.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from stream_guard.backtest.record import DecisionRecord
from stream_guard.backtest.stats import examples
from stream_guard.core.rules.pack import RuleSet

#: What a decision says besides where it fired: a difference here is a changed decision.
_COMPARED = ("mode", "severity", "rule_version", "actions")


def definition_changes(candidate: RuleSet, baseline: RuleSet) -> dict[str, Any]:
    """Rules added, removed, and changed (the top-level keys of their definitions that
    differ, inline tests left out); risk levels and shared lists or macros likewise."""
    cand = {r.id: r for r in candidate.rules}
    base = {r.id: r for r in baseline.rules}
    changed: dict[str, list[str]] = {}
    for rid in sorted(cand.keys() & base.keys()):
        a, b = _definition(cand[rid]), _definition(base[rid])
        keys = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        if keys:
            changed[rid] = keys
    levels_c = {lv.id: lv.model_dump() for lv in candidate.policy.levels}
    levels_b = {lv.id: lv.model_dump() for lv in baseline.policy.levels}
    return {
        "rules_added": sorted(cand.keys() - base.keys()),
        "rules_removed": sorted(base.keys() - cand.keys()),
        "rules_changed": changed,
        "levels_changed": sorted(
            k for k in levels_c.keys() | levels_b.keys() if levels_c.get(k) != levels_b.get(k)
        ),
        "lists_changed": sorted(
            k for k in candidate.lists.keys() | baseline.lists.keys()
            if _list_key(candidate.lists.get(k)) != _list_key(baseline.lists.get(k))
        ),
        "macros_changed": sorted(
            k for k in candidate.macros.keys() | baseline.macros.keys()
            if candidate.macros.get(k) != baseline.macros.get(k)
        ),
    }


def _list_key(lst: Any) -> Any:
    # NamedList compares by identity; two loads of the same file are equal in content
    return None if lst is None else (lst.match, getattr(lst, "_values", None))


def _definition(rule: Any) -> dict[str, Any]:
    if rule.spec is None:
        return {"version": rule.version, "mode": rule.mode, "severity": rule.severity}
    return rule.spec.model_dump(exclude={"tests"}, by_alias=True)


def diff(
    candidate: Sequence[DecisionRecord],
    baseline: Sequence[DecisionRecord],
    *,
    n_examples: int = 5,
) -> dict[str, dict[str, Any]]:
    """Per rule (every rule with decisions in either run): decisions in each run, gained,
    lost and changed, the distinct users gained and lost, and examples of each."""
    cand = {d.decision_id: d for d in candidate}
    base = {d.decision_id: d for d in baseline}
    rows: dict[str, dict[str, list]] = defaultdict(lambda: {"gained": [], "lost": [], "changed": []})
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for did, d in cand.items():
        counts[d.rule_id][0] += 1
        old = base.get(did)
        if old is None:
            rows[d.rule_id]["gained"].append(d)
        elif any(getattr(d, k) != getattr(old, k) for k in _COMPARED):
            rows[d.rule_id]["changed"].append((old, d))
    for did, d in base.items():
        counts[d.rule_id][1] += 1
        if did not in cand:
            rows[d.rule_id]["lost"].append(d)
    out = {}
    for rule_id in sorted(counts):
        r = rows[rule_id]
        gained, lost, changed = r["gained"], r["lost"], r["changed"]
        out[rule_id] = {
            "candidate": counts[rule_id][0],
            "baseline": counts[rule_id][1],
            "gained": len(gained),
            "lost": len(lost),
            "changed": len(changed),
            "gained_users": len({d.user_id for d in gained}),
            "lost_users": len({d.user_id for d in lost}),
            "examples": {
                "gained": examples(gained, n_examples),
                "lost": examples(lost, n_examples),
                "changed": [_change(old, new) for old, new in sorted(changed, key=lambda p: p[1].t)[:n_examples]],
            },
        }
    return out


def _change(old: DecisionRecord, new: DecisionRecord) -> dict[str, Any]:
    fields = {k: [getattr(old, k), getattr(new, k)] for k in _COMPARED if getattr(old, k) != getattr(new, k)}
    if "actions" in fields:
        fields["actions"] = [list(old.actions), list(new.actions)]
    what = "; ".join(f"{k} {a} → {b}" for k, (a, b) in fields.items())
    return {**new.example(), "fields": fields, "change": what}


def totals(per_rule: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {k: sum(r[k] for r in per_rule.values()) for k in ("candidate", "baseline", "gained", "lost", "changed")}
