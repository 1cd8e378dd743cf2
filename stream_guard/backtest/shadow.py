"""The shadow review: what each rule in ``shadow`` mode would have done in production.

Production decisions — read back from the decisions topic or from a file of decisions —
are filtered to a period of event time (``since <= ts < until``); each decision counts once
(a decision id seen again, as at-least-once delivery and replays write it, is a
duplicate). For every rule with shadow decisions in the period the review gives the
backtest's per-rule figures (decisions, users, per day, actions it would have called for,
top users, examples) and, against the **enforced** decisions of the same period:

- ``overlap_enforced``: per enforced rule, how many of the shadow rule's decisions it
  overlaps (a decision naming the same user within two hours, as in a backtest);
- ``new_decisions``: the shadow rule's decisions that no enforced decision overlaps — what
  enforcing it would add;
- ``new_users``: its users no enforced decision named at any time in the period.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from stream_guard.backtest import stats
from stream_guard.backtest.days import Calendar
from stream_guard.backtest.record import DecisionRecord
from stream_guard.core.clock import parse_ts

#: How many unreadable decisions a summary lists one by one (all are counted).
MAX_LISTED = 50


@dataclass
class ReadStats:
    messages: int = 0
    decisions: int = 0
    invalid: int = 0
    invalid_items: list[tuple[str, str]] = field(default_factory=list)
    duplicates: int = 0
    outside_period: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "decisions": self.decisions,
            "invalid": self.invalid,
            "invalid_items": [{"at": w, "reason": r} for w, r in self.invalid_items],
            "duplicates": self.duplicates,
            "outside_period": self.outside_period,
        }


class DecisionReader:
    """Collects the decisions of a period from JSON messages or lines, one at a time."""

    def __init__(self, *, since: float | None = None, until: float | None = None):
        self.since = since
        self.until = until
        self.stats = ReadStats()
        self.records: list[DecisionRecord] = []
        self._ids: set[str] = set()

    def feed(self, where: str, data: bytes | None) -> None:
        """One message (``where``: ``partition:offset``) or line (``line N``)."""
        st = self.stats
        st.messages += 1
        if data is None or not data.strip():  # a tombstone on the topic is not a decision
            self._invalid(where, "empty message")
            return
        try:
            d = DecisionRecord.from_dict(orjson.loads(data))
        except orjson.JSONDecodeError as exc:
            self._invalid(where, f"not valid JSON ({exc})")
            return
        except ValueError as exc:
            self._invalid(where, str(exc))
            return
        if d.decision_id in self._ids:
            st.duplicates += 1
            return
        self._ids.add(d.decision_id)
        if (self.since is not None and d.t < self.since) or (self.until is not None and d.t >= self.until):
            st.outside_period += 1
            return
        st.decisions += 1
        self.records.append(d)

    def feed_lines(self, lines: Iterable[bytes]) -> None:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            self.feed(f"line {n}", line)

    def _invalid(self, where: str, reason: str) -> None:
        self.stats.invalid += 1
        if len(self.stats.invalid_items) < MAX_LISTED:
            self.stats.invalid_items.append((where, reason))


def _calendar(records: list[DecisionRecord]) -> Calendar:
    """Days at the UTC offset of the earliest decision's ``ts`` (as a backtest does)."""
    if not records:
        return Calendar()
    offset = parse_ts(min(records, key=lambda d: d.t).ts).utcoffset()
    return Calendar(offset.total_seconds() if offset is not None else 0.0)


def summarise(reader: DecisionReader, *, source: str) -> dict[str, Any]:
    """The review as JSON: ``rules`` (each shadow rule), ``enforced_rules``, the period and
    what was read."""
    records = reader.records
    cal = _calendar(records)
    hi = reader.until - 1e-6 if reader.until is not None else None  # until is excluded
    days = stats.period_days(cal, reader.since, hi, records)
    shadow = [d for d in records if d.mode == "shadow"]
    enforced = [d for d in records if d.mode == "enforce"]
    shadow_ids = sorted({d.rule_id for d in shadow})
    enforced_by_rule = stats.by_rule(enforced)
    infos = {rid: stats.RuleInfo.from_record(next(d for d in shadow if d.rule_id == rid)) for rid in shadow_ids}
    # overlap among the shadow rule's own decisions and the enforced ones only
    per = stats.per_rule(shadow + enforced, infos, cal, days)
    times: dict[str, list[float]] = defaultdict(list)
    for d in enforced:
        times[d.user_id].append(d.t)
    for v in times.values():
        v.sort()
    grouped = stats.by_rule(shadow)
    out_rules = {}
    for rid in shadow_ids:
        r = per[rid]
        ds = grouped[rid]
        r["overlap_enforced"] = {o: v for o, v in r.pop("overlap").items() if o in enforced_by_rule}
        r["new_decisions"] = sum(1 for d in ds if not _near(times.get(d.user_id), d.t))
        r["new_users"] = len({d.user_id for d in ds if d.user_id not in times})
        r["versions"] = sorted({d.rule_version for d in ds})
        r.pop("unique_decisions", None)
        out_rules[rid] = r
    return {
        "source": source,
        "period": {
            "since": cal.iso(reader.since) if reader.since is not None else None,
            "until": cal.iso(reader.until) if reader.until is not None else None,
            "first_ts": min(records, key=lambda d: d.t).ts if records else None,
            "last_ts": max(records, key=lambda d: d.t).ts if records else None,
            "utc_offset": cal.offset_text,
            "days": [cal.label(d) for d in days],
        },
        "read": reader.stats.to_dict(),
        "decisions": {"shadow": len(shadow), "enforce": len(enforced)},
        "rules": out_rules,
        "enforced_rules": {rid: len(ds) for rid, ds in sorted(enforced_by_rule.items())},
    }


def _near(times: list[float] | None, t: float) -> bool:
    if not times:
        return False
    i = bisect_left(times, t - stats.OVERLAP_WINDOW)
    return i < len(times) and times[i] <= t + stats.OVERLAP_WINDOW
