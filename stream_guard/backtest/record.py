"""One decision as the workbench keeps it: the fields its figures and examples need.

A backtest over a month of traffic keeps every decision in memory, and a shadow review
reads every decision of a topic, so they are kept as small records rather than the full
decisions (whose evidence can be large). Both come from the same record, whether the
decision was made in this process (:meth:`DecisionRecord.from_decision`) or read back as
JSON from the decisions topic or a file (:meth:`DecisionRecord.from_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stream_guard.core.clock import parse_ts
from stream_guard.core.decisions import Decision

_MODES = ("enforce", "shadow", "off")


@dataclass(slots=True, frozen=True)
class DecisionRecord:
    decision_id: str
    rule_id: str
    rule_version: int
    mode: str
    severity: str
    title: str
    user_id: str
    event_id: str
    ts: str
    t: float
    group: Mapping[str, Any] | None
    reason: str
    actions: tuple[str, ...]  # the kinds of the decision's actions, in order

    @classmethod
    def from_decision(cls, d: Decision) -> DecisionRecord:
        return cls(
            d.decision_id, d.rule_id, d.rule_version, d.mode, d.severity, d.title, d.user_id,
            d.event_id, d.ts, datetime.fromisoformat(d.ts).timestamp(), d.group, d.reason,
            tuple(a.get("kind", "?") for a in d.actions),
        )

    @classmethod
    def from_dict(cls, obj: Any) -> DecisionRecord:
        """A decision as the worker publishes it (JSON, see docs/rules.md); ``ValueError``
        naming the field when ``obj`` is not one."""
        if not isinstance(obj, Mapping):
            raise ValueError(f"expected a decision (a JSON object), got {type(obj).__name__}")
        for key in ("decision_id", "rule_id", "mode", "user_id", "event_id", "ts"):
            v = obj.get(key)
            if not isinstance(v, str) or not v:
                raise ValueError(f"{key}: expected a non-empty string, got {v!r}")
        if obj["mode"] not in _MODES:
            raise ValueError(f"mode: expected one of {', '.join(_MODES)}, got {obj['mode']!r}")
        try:
            t = parse_ts(obj["ts"]).timestamp()
        except ValueError as exc:
            raise ValueError(f"ts: {exc}") from None
        group = obj.get("group")
        if group is not None and not isinstance(group, Mapping):
            raise ValueError(f"group: expected an object or null, got {group!r}")
        actions = obj.get("actions") or []
        if not isinstance(actions, list):
            raise ValueError(f"actions: expected a list, got {actions!r}")
        version = obj.get("rule_version", 1)
        return cls(
            obj["decision_id"], obj["rule_id"], version if isinstance(version, int) else 1,
            obj["mode"], str(obj.get("severity") or "?"), str(obj.get("title") or ""),
            obj["user_id"], obj["event_id"], obj["ts"], t, group, str(obj.get("reason") or ""),
            tuple(str(a.get("kind", "?")) if isinstance(a, Mapping) else "?" for a in actions),
        )

    @property
    def ip(self) -> str | None:
        """The IP a decision keyed by IP names (``group: {"ip": …}``)."""
        return self.group.get("ip") if self.group else None

    def example(self) -> dict[str, Any]:
        """What a reviewer needs to look the decision up: ids, user, time and reason."""
        out = {
            "decision_id": self.decision_id,
            "event_id": self.event_id,
            "user_id": self.user_id,
            "ts": self.ts,
            "reason": self.reason,
        }
        if self.group:
            out["group"] = dict(self.group)
        return out

    def for_scoring(self, *, mode: str | None = None) -> dict[str, Any]:
        """The keys :func:`stream_guard.scoring.score` reads (``mode`` overrides the mode)."""
        return {"mode": mode or self.mode, "ts": self.ts, "user_id": self.user_id, "group": self.group}
