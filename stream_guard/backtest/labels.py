"""Labelled traffic in a backtest: the headline figures, and what each rule contributes.

The **headline figures** are exactly EVENTS.md's, computed by :func:`stream_guard.scoring.score`
over every *enforced* decision: recall per attack kind, the share of benign users flagged,
and the attacks that every rule missed (each missed attack lists the shadow rules that
would have caught it).

**Per rule**, every decision of the rule counts as if the rule were enforced (that is what
a backtest of a shadow rule asks):

- ``attacks_caught`` / ``caught_by_kind``: the attacks the rule's decisions alone catch,
  by EVENTS.md's rule (a decision naming the user within two hours of ``key_ts``; for an
  attack on many accounts from one source, the IP or half of the victims);
- ``benign_users_flagged``: the benign users its decisions alone flag, by EVENTS.md's rule;
- each decision is a **hit** when it names the user of a labelled attack, one of its
  victims, or its source IP (``group.ip``) within two hours of the attack's ``key_ts``; a
  **false alarm** when it names a benign user and is not a hit; **other** otherwise (a user
  the labels do not mention, or an attacked user far from the attack);
- ``precision`` = hits / (hits + false alarms); ``null`` when the rule has neither.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from stream_guard.backtest.record import DecisionRecord
from stream_guard.core.clock import parse_ts
from stream_guard.core.errors import ConfigError
from stream_guard.scoring import WINDOW, Score, score


class LabelError(ConfigError):
    """A labels file that is not EVENTS.md's labelled format; the message names the field."""

    def __init__(self, message: str):
        super().__init__(message, code="bad-labels")


class _Attack(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    kind: str
    key_ts: str
    user_id: str | None = None
    ip: str | None = None
    victims: list[str] | None = None
    key_event_id: str | None = None

    @field_validator("key_ts")
    @classmethod
    def _ts(cls, v: str) -> str:
        parse_ts(v)
        return v

    @model_validator(mode="after")
    def _whom(self) -> _Attack:
        if not self.user_id and not self.victims and not self.ip:
            raise ValueError("an attack names its user_id, or the ip and victims of an attack on many accounts")
        return self


class _Labels(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    benign_users: list[str]
    attacks: list[_Attack]


def parse_labels(data: bytes, name: str = "labels.json") -> dict[str, Any]:
    """Validate a labels file's bytes; return its JSON as :func:`score` reads it.

    >>> parse_labels(b'{"benign_users": [], "attacks": [{"kind": "x", "key_ts": "yesterday"}]}')
    Traceback (most recent call last):
    ...
    stream_guard.backtest.labels.LabelError: labels.json: attacks.0.key_ts: not an RFC 3339 date-time such as '2026-11-24T09:15:02+09:00': 'yesterday'
    """
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LabelError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise LabelError(f"{name}: expected an object with benign_users and attacks, got {type(obj).__name__}")
    try:
        _Labels.model_validate(obj)
    except ValidationError as exc:
        problems = []
        for e in exc.errors()[:5]:
            loc = ".".join(str(p) for p in e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            got = "" if e["type"] in ("missing", "value_error") else f", got {e['input']!r}"
            problems.append(f"{name}: {loc + ': ' if loc else ''}{msg}{got}")
        more = exc.error_count() - len(problems)
        raise LabelError("\n".join(problems) + (f"\n… and {more} more" if more > 0 else "")) from None
    return obj


def load_labels(path: Path) -> dict[str, Any]:
    """:func:`parse_labels` of a file; :class:`LabelError` if it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LabelError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_labels(data, str(path))


def headline(records: Iterable[DecisionRecord], labels: Mapping[str, Any]) -> Score:
    """EVENTS.md's figures over the enforced decisions."""
    return score((d.for_scoring() for d in records), labels)


def caught_attacks(result: Score, attacks: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Which of ``attacks`` ``result`` caught: ``score`` lists the missed ones in order."""
    missed = iter(result.missed)
    nxt = next(missed, None)
    out = []
    for a in attacks:
        if nxt is not None and nxt == a:
            out.append(False)
            nxt = next(missed, None)
        else:
            out.append(True)
    return out


class _Index:
    """Attack times by the user they name (user_id or victim) and by source IP."""

    def __init__(self, labels: Mapping[str, Any]):
        by_user: dict[str, list[float]] = defaultdict(list)
        by_ip: dict[str, list[float]] = defaultdict(list)
        for a in labels.get("attacks", []):
            t = parse_ts(a["key_ts"]).timestamp()
            if a.get("user_id"):
                by_user[a["user_id"]].append(t)
            for v in a.get("victims") or []:
                by_user[v].append(t)
            if a.get("ip") and not a.get("user_id"):
                by_ip[a["ip"]].append(t)
        self.by_user = {k: sorted(v) for k, v in by_user.items()}
        self.by_ip = {k: sorted(v) for k, v in by_ip.items()}
        self.benign = set(labels.get("benign_users", []))

    @staticmethod
    def _near(times: list[float] | None, t: float) -> bool:
        if not times:
            return False
        i = bisect_left(times, t - WINDOW)
        return i < len(times) and times[i] <= t + WINDOW

    def classify(self, d: DecisionRecord) -> str:
        if self._near(self.by_user.get(d.user_id), d.t) or (
            d.ip is not None and self._near(self.by_ip.get(d.ip), d.t)
        ):
            return "hit"
        return "false_alarm" if d.user_id in self.benign else "other"


def per_rule(
    grouped: Mapping[str, Sequence[DecisionRecord]], labels: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """The label figures of each rule's decisions, counted as if the rule were enforced."""
    index = _Index(labels)
    attacks = labels.get("attacks", [])
    out = {}
    for rule_id, ds in grouped.items():
        result = score((d.for_scoring(mode="enforce") for d in ds), labels)
        kinds = defaultdict(int)
        for d in ds:
            kinds[index.classify(d)] += 1
        hits, false_alarms = kinds["hit"], kinds["false_alarm"]
        out[rule_id] = {
            "attacks_caught": sum(result.caught_by_kind.values()),
            "caught_by_kind": {k: n for k, n in sorted(result.caught_by_kind.items()) if n},
            "benign_users_flagged": len(result.benign_flagged),
            "hits": hits,
            "false_alarms": false_alarms,
            "other": kinds["other"],
            "precision": round(hits / (hits + false_alarms), 4) if hits + false_alarms else None,
            "_caught": caught_attacks(result, attacks) if ds else [False] * len(attacks),
        }
    return out


def figures(
    records: Sequence[DecisionRecord],
    grouped: Mapping[str, Sequence[DecisionRecord]],
    modes: Mapping[str, str],
    labels: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(labels section, per-rule figures)`` of a backtest's JSON."""
    result = headline(records, labels)
    rules = per_rule(grouped, labels)
    attacks = labels.get("attacks", [])
    caught_by: dict[int, list[str]] = defaultdict(list)
    for rule_id, fig in rules.items():
        for i, ok in enumerate(fig.pop("_caught")):
            if ok:
                caught_by[i].append(rule_id)
    caught = caught_attacks(result, attacks)
    missed = []
    for i, a in enumerate(attacks):
        if not caught[i]:
            shadow = sorted(r for r in caught_by.get(i, []) if modes.get(r) == "shadow")
            missed.append({**a, "caught_by_shadow": shadow} if shadow else dict(a))
    section = result.to_dict()
    section.update(
        missed=missed,
        attacks=len(attacks),
        caught=sum(result.caught_by_kind.values()),
        caught_by_kind={k: n for k, n in sorted(result.caught_by_kind.items()) if n},
        attacks_by_kind=dict(sorted(result.attacks_by_kind.items())),
        benign_users=result.benign_users,
    )
    return section, rules
