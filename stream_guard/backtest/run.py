"""Run history through the production core and put a backtest's figures together.

:func:`run` is replay — the same :func:`~stream_guard.replay.replay` loop, the same
detector built by :func:`~stream_guard.replay.build_detector`, the same LocalRunner — with
each decision kept as a :class:`DecisionRecord` and the aggregate rules watched by a
:class:`SensitivityProbe`. :func:`backtest_json` turns one run (and optionally labels and
a baseline run on the same events) into the JSON document the console summary and the
HTML report are drawn from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stream_guard.backtest import diff as diffs
from stream_guard.backtest import labels as labelling
from stream_guard.backtest import stats
from stream_guard.backtest.days import Calendar
from stream_guard.backtest.record import DecisionRecord
from stream_guard.backtest.sensitivity import SensitivityProbe
from stream_guard.core.detector import DEFAULT_LATENESS
from stream_guard.core.models import ModelRegistry
from stream_guard.core.rules.pack import RuleSet
from stream_guard.replay import DEFAULT_PARTITIONS, ReplayStats, build_detector, replay


@dataclass
class Run:
    """One pass of the events through one rule set."""

    rules: RuleSet
    rules_dir: str
    stats: ReplayStats
    records: list[DecisionRecord]
    sensitivity: dict[str, dict[str, Any]]

    @property
    def calendar(self) -> Calendar:
        return Calendar(self.stats.utc_offset)


def run(
    lines: Iterable[bytes],
    rules: RuleSet,
    *,
    rules_dir: str = "",
    lateness: float = DEFAULT_LATENESS,
    progress: Callable[[int], None] | None = None,
    sensitivity: bool = True,
    models: ModelRegistry | None = None,
    partitions: int = DEFAULT_PARTITIONS,
) -> Run:
    """Replay ``lines`` through ``rules``; keep every decision, and the window values of
    aggregate rules for the threshold sensitivity (unless ``sensitivity`` is false)."""
    detector = build_detector(rules, models=models, lateness=lateness, partitions=partitions)
    probe = SensitivityProbe(detector) if sensitivity else None
    records: list[DecisionRecord] = []
    keep = records.append
    from_decision = DecisionRecord.from_decision
    result = replay(lines, detector, lambda d: keep(from_decision(d)), progress=progress)
    sens = probe.to_dict(dict(result.decisions)) if probe is not None else {}
    return Run(rules, rules_dir, result, records, sens)


def backtest_json(
    candidate: Run,
    *,
    source: str,
    labels: Mapping[str, Any] | None = None,
    baseline: Run | None = None,
) -> dict[str, Any]:
    """The backtest as JSON: ``rules`` per rule id, ``labels`` with labels, ``diff`` with
    a baseline, and the period, the replay's counts, severity mix and top users."""
    st = candidate.stats
    cal = candidate.calendar
    days = stats.period_days(cal, st.first_t, st.last_t, candidate.records)
    infos = stats.rule_infos(candidate.rules)
    rules = stats.per_rule(candidate.records, infos, cal, days)
    for rid, sens in candidate.sensitivity.items():
        if rid in rules:
            rules[rid]["sensitivity"] = sens
    modes = Counter(d.mode for d in candidate.records)
    out: dict[str, Any] = {
        "source": source,
        "rules_dir": candidate.rules_dir,
        "rules_version": candidate.rules.version,
        "period": {
            "first_ts": cal.iso(st.first_t) if st.first_t is not None else None,
            "last_ts": cal.iso(st.last_t) if st.last_t is not None else None,
            "utc_offset": cal.offset_text,
            "days": [cal.label(d) for d in days],
        },
        "replay": {
            **st.to_dict(),
            "events_per_second": round(st.events / st.seconds) if st.seconds else None,
        },
        "decisions": {
            "total": len(candidate.records),
            "by_mode": dict(sorted(modes.items())),
            "users": len({d.user_id for d in candidate.records}),
        },
        "severity": stats.severity_mix(candidate.records),
        "top_users": stats.top_users(candidate.records, 15),
        "rules": rules,
    }
    if labels is not None:
        by_rule = stats.by_rule(candidate.records)
        grouped = {rid: by_rule.get(rid, []) for rid in rules}
        section, per_rule = labelling.figures(
            candidate.records, grouped, {rid: r["mode"] for rid, r in rules.items()}, labels
        )
        out["labels"] = section
        for rid, fig in per_rule.items():
            rules[rid]["labels"] = fig
    if baseline is not None:
        per_rule_diff = diffs.diff(candidate.records, baseline.records)
        out["diff"] = {
            "baseline": {
                "rules_dir": baseline.rules_dir,
                "rules_version": baseline.rules.version,
                "decisions": len(baseline.records),
            },
            "totals": diffs.totals(per_rule_diff),
            "definitions": diffs.definition_changes(candidate.rules, baseline.rules),
            "rules": per_rule_diff,
        }
    return out
