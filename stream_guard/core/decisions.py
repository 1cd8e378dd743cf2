"""Decisions: what the engine says when a rule or a risk level fires.

A decision is a JSON object. Its ``decision_id`` is a stable hash of the rule id and the
triggering event's id, so replaying the same events — in a backtest, after a worker
restart, after a rebalance — yields the same ids, and actions are idempotent on it.
Its ``context`` carries the triggering event's fields that the actions show people (the
user's locale, the amount and asset, the address, the IP and place): alerts are rendered
from it, whatever the rule's condition happened to read.

>>> decision_id("brute_force_account", "l-7f3a")
'd-1a92cd42d59bc31d89105ebd'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

import orjson


def decision_id(rule_id: str, event_id: str) -> str:
    digest = hashlib.blake2b(f"{rule_id}\x1f{event_id}".encode(), digest_size=12).hexdigest()
    return f"d-{digest}"


@dataclass(slots=True)
class Decision:
    decision_id: str
    rule_id: str
    rule_version: int
    mode: str
    severity: str
    title: str
    user_id: str
    event_id: str
    event_type: str
    ts: str
    actions: list[dict[str, Any]]
    reason: str
    evidence: dict[str, Any]
    group: dict[str, Any] | None = None
    risk: float | None = None
    tags: list[str] = field(default_factory=list)
    context: dict[str, Any] | None = None
    #: who the user is, before the event (UserProfile.brief); None for group-keyed decisions
    profile: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "rule_id": self.rule_id,
            "rule_version": self.rule_version,
            "mode": self.mode,
            "severity": self.severity,
            "title": self.title,
            "user_id": self.user_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "ts": self.ts,
            "group": self.group,
            "actions": self.actions,
            "risk": self.risk,
            "evidence": self.evidence,
            "reason": self.reason,
            "tags": self.tags,
            "context": self.context,
            "profile": self.profile,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_NON_STR_KEYS)


#: Event fields copied into a decision's ``context`` when the event has them.
CONTEXT_FIELDS = (
    "locale", "action", "success", "direction", "status", "asset", "amount", "value_krw",
    "network", "address", "counterparty_user_id", "ip", "country", "city", "device_id", "channel",
)


def event_context(event: Any) -> dict[str, Any]:
    """The :data:`CONTEXT_FIELDS` that ``event`` has and that are not null.

    >>> class E: locale, asset, amount, ip = "ko", "BTC", 0.5, None
    >>> event_context(E())
    {'locale': 'ko', 'asset': 'BTC', 'amount': 0.5}
    """
    out: dict[str, Any] = {}
    for name in CONTEXT_FIELDS:
        v = getattr(event, name, None)
        if v is not None:
            out[name] = v if isinstance(v, str | int | float | bool) else str(v)
    return out


_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_.]*)\}")


def render_reason(template: str, values: dict[str, Any]) -> str:
    """Fill ``{name}`` placeholders from ``values``; only plain names, never attribute access.

    >>> render_reason("{count} failed logins in {window}", {"count": 12, "window": "10m"})
    '12 failed logins in 10m'
    """

    def one(m: re.Match[str]) -> str:
        v = values.get(m.group(1))
        return "?" if v is None else _fmt(v)

    return _PLACEHOLDER.sub(one, template)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return f"{int(v):,}"
        return f"{v:,.2f}" if abs(v) >= 100 else f"{v:.3g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
