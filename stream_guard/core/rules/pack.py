"""Compiled rules and the rule set the detector runs.

A :class:`CompiledRule` is a rule file entry after validation and compilation: its
conditions are Python functions (see ``compiler.py``), its durations are seconds, and it
knows which events can possibly match it (``on`` and ``guards``) so that the detector only
evaluates the rules that could fire.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from stream_guard.core.rules.compiler import Condition
from stream_guard.core.rules.schema import AggregateSpec, RiskLevel
from stream_guard.core.sequences import SequenceShape

#: Event fields the detector may index rules by: few, small-domain fields, so that the
#: index's cache of "rules for this combination of values" stays small.
INDEX_FIELDS = {
    "login": ("action", "success", "channel", "mfa_used"),
    "transfer": ("direction", "status", "asset", "network"),
}


@dataclass(frozen=True)
class CompiledStep:
    name: str
    on: str
    when: Condition
    absent: bool
    within: float | None
    captures: tuple[str, ...]  # event fields that later steps read as steps.<name>.<field>


@dataclass(frozen=True)
class CompiledRule:
    id: str
    title: str
    severity: str
    mode: str
    version: int
    tags: tuple[str, ...]
    on: frozenset[str]
    when: Condition
    excepts: tuple[Condition, ...]
    risk: float
    actions: tuple[dict[str, Any], ...]
    reason: str | None
    suppress: float | None
    aggregate: AggregateSpec | None = None
    sequence: SequenceShape | None = None
    steps: tuple[CompiledStep, ...] = ()
    group_by: str | None = None  # None: keyed by the user
    path: str = ""
    line: int = 0
    spec: Any = field(default=None, compare=False, repr=False)

    @cached_property
    def state_signature(self) -> str:
        """What this rule's saved state depends on (state saved under another shape is dropped)."""
        if self.aggregate is not None:
            return f"agg:{self.aggregate.function}:{'|'.join(self.aggregate.fields)}"
        if self.sequence is not None:
            return "seq:" + ",".join(f"{s.name}/{s.on}/{int(s.absent)}" for s in self.sequence.steps)
        return "cond"

    @property
    def kind(self) -> str:
        if self.aggregate is not None:
            return "aggregate"
        if self.sequence is not None:
            return "sequence"
        return "condition"

    def guards_for(self, event_type: str) -> dict[str, frozenset]:
        """Necessary conditions on indexable event fields (empty: always evaluate)."""
        if self.sequence is not None:
            return {}
        return {k: v for k, v in self.when.guards.items() if k in INDEX_FIELDS[event_type]}


@dataclass(frozen=True)
class Policy:
    half_life: float
    levels: tuple[RiskLevel, ...] = ()


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[CompiledRule, ...]
    policy: Policy
    lists: dict[str, Any]
    macros: dict[str, str]
    checksum: str
    version: str
    source: str
    files: tuple[str, ...] = ()

    def rule(self, rule_id: str) -> CompiledRule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    @property
    def group_keys(self) -> tuple[str, ...]:
        """Event fields other than user_id that rules group by (the worker repartitions by each)."""
        return tuple(sorted({r.group_by for r in self.rules if r.group_by and r.mode != "off"}))

    def only(self, rule_id: str) -> RuleSet:
        """This rule set with just one rule and no risk levels (for a rule's own tests)."""
        return replace(self, rules=(self.rule(rule_id),), policy=Policy(self.policy.half_life))
