"""Run the ``tests:`` that rules carry: a short event sequence in, match or no match out.

Each test runs its rule alone (with the rule set's lists and macros, no risk levels) on a
fresh detector, so stateful rules — aggregates, sequences — are tested exactly as they run.
Test events are EVENTS.md events with friendly defaults: ``type`` is required, the rest
defaults (see :data:`DEFAULTS`); ``at: "+5m"`` places an event after the test's ``start``
(without ``ts`` or ``at``, each event comes one minute after the previous one).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from typing import Any

from stream_guard.core.clock import iso, parse_duration, parse_ts
from stream_guard.core.detector import Detector, LocalRunner
from stream_guard.core.errors import ConfigError, EventError, RuleError, SourcePos
from stream_guard.core.events import parse_obj
from stream_guard.core.models import ModelRegistry, ModelScorer
from stream_guard.core.rules.pack import RuleSet

DEFAULTS: dict[str, dict[str, Any]] = {
    "login": {
        "user_id": "u-test",
        "action": "login",
        "success": True,
        "ip": "203.0.113.10",
        "country": "KR",
        "city": "Seoul",
        "lat": 37.57,
        "lon": 126.98,
        "asn": 4766,
        "device_id": "d-home",
        "channel": "ios",
        "locale": "ko",
    },
    "transfer": {
        "user_id": "u-test",
        "direction": "withdrawal",
        "status": "requested",
        "asset": "BTC",
        "amount": "0.01",
        "value_krw": 1_300_000,
        "network": "bitcoin",
        "address": "bc1qtestaddress00000000000000000000000",
        "ip": "203.0.113.10",
        "device_id": "d-home",
    },
}


@dataclass
class TestOutcome:
    rule_id: str
    name: str
    passed: bool
    detail: str
    pos: SourcePos | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)


def _offset(at: Any) -> float:
    """Seconds in an ``at:`` offset: ``"+5m"``, ``"-10d"``, ``0`` or a number of seconds."""
    if isinstance(at, int | float) and not isinstance(at, bool):
        return float(at)
    text = str(at).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if re.fullmatch(r"0+(\.0+)?(ms|s|m|h|d|w)?", text):
        return 0.0
    return sign * parse_duration(text)


def build_events(test: Any, rule_id: str, index: int) -> list:
    """The test's events as validated event objects (RuleError on a bad one)."""
    start = parse_ts(test.start).timestamp()
    t = start - 60
    events = []
    for i, raw in enumerate(test.events):
        raw = dict(raw)
        etype = raw.get("type")
        if etype not in DEFAULTS:
            raise RuleError(
                f"test {test.name!r} event {i + 1}: 'type' must be login or transfer",
                code="bad-test",
            )
        at = raw.pop("at", None)
        if "ts" in raw:
            with contextlib.suppress(ValueError):  # parse_obj below reports it, naming the field
                t = parse_ts(raw["ts"]).timestamp()
        else:
            try:
                t = t + 60 if at is None else start + _offset(at)
            except ConfigError as exc:
                raise RuleError(
                    f"test {test.name!r} event {i + 1}: 'at': {exc}", code="bad-test"
                ) from None
            raw["ts"] = iso(t)
        merged = {**DEFAULTS[etype], **test.defaults, **raw}
        merged.setdefault("event_id", f"{rule_id}-t{index}-e{i + 1}")
        try:
            events.append(parse_obj(merged))
        except EventError as exc:
            raise RuleError(f"test {test.name!r} event {i + 1}: {exc}", code="bad-test") from None
    return events


def run_rule_tests(rules: RuleSet, models: ModelRegistry | None = None) -> list[TestOutcome]:
    """Every inline test of every rule in the set, in file order; each test starts with
    fresh ``models`` (a rule reading ``score.<name>`` needs them)."""
    outcomes = []
    for rule in rules.rules:
        spec = rule.spec
        if spec is None:
            continue
        for index, test in enumerate(spec.tests):
            pos = SourcePos(rule.path, rule.line)
            try:
                events = build_events(test, rule.id, index)
            except RuleError as exc:
                outcomes.append(TestOutcome(rule.id, test.name, False, exc.message, pos))
                continue
            single = rules.only(rule.id)
            if rule.mode == "off":  # test the logic even while the rule is switched off
                single = _switched_on(single)
            runner = LocalRunner(Detector(single, scorer=ModelScorer(models) if models else None))
            fired_on = []
            decisions = []
            for e in events:
                for d in runner.feed(e):
                    if d.rule_id == rule.id:
                        fired_on.append(e.event_id)
                        decisions.append(d.to_dict())
            last = events[-1].event_id
            if test.expect == "match":
                ok = last in fired_on
                detail = (
                    "fired on the last event"
                    if ok
                    else (
                        f"expected a match on the last event; fired on {fired_on}"
                        if fired_on
                        else "expected a match; the rule did not fire"
                    )
                )
            else:
                ok = not fired_on
                detail = "did not fire" if ok else f"expected no match; fired on {fired_on}"
            if ok and test.decisions is not None and len(decisions) != test.decisions:
                ok = False
                detail = f"expected {test.decisions} decisions, got {len(decisions)}"
            if runner.late:
                detail += f" ({len(runner.late)} events too late: {runner.late})"
            outcomes.append(TestOutcome(rule.id, test.name, ok, detail, pos, decisions))
    return outcomes


def _switched_on(rules: RuleSet) -> RuleSet:
    from dataclasses import replace

    return replace(rules, rules=tuple(replace(r, mode="shadow") for r in rules.rules))
