"""Inline rule tests: build_events (friendly defaults, ``at:`` offsets) and run_rule_tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from stream_guard.core.clock import parse_ts
from stream_guard.core.errors import RuleError
from stream_guard.core.models import load_models
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.schema import RuleTestSpec
from stream_guard.core.rules.testing import DEFAULTS, build_events, run_rule_tests

BUNDLED = Path(__file__).resolve().parents[3] / "rules"
MODELS = load_models(BUNDLED.parent / "models")
START = "2026-11-24T09:00:00+09:00"


def spec(events: list[dict], **kw) -> RuleTestSpec:
    return RuleTestSpec(name="t", events=events, expect=kw.pop("expect", "match"), **kw)


def offsets(events) -> list[float]:
    start = parse_ts(START).timestamp()
    return [e.ts.timestamp() - start for e in events]


# -- build_events ------------------------------------------------------------------------


def test_events_get_defaults_and_stable_ids():
    (login, transfer) = build_events(spec([{"type": "login"}, {"type": "transfer"}]), "my_rule", 2)
    assert (login.event_id, transfer.event_id) == ("my_rule-t2-e1", "my_rule-t2-e2")
    assert login.user_id == transfer.user_id == "u-test"
    assert login.ip == DEFAULTS["login"]["ip"] and login.success is True
    assert transfer.direction == "withdrawal" and transfer.amount == 0.01


def test_events_without_at_come_a_minute_apart_from_start():
    events = build_events(spec([{"type": "login"}] * 3), "r", 0)
    assert offsets(events) == [0, 60, 120]


def test_at_places_an_event_after_start_and_later_events_follow_it():
    evs = [{"type": "login"}, {"type": "login", "at": "+5m"}, {"type": "login"}, {"type": "login", "at": "2d5m"}]
    assert offsets(build_events(spec(evs), "r", 0)) == [0, 300, 360, 2 * 86400 + 300]


@pytest.mark.parametrize("at", [0, "0m", "+0s"])
def test_at_zero_is_the_start(at):
    assert offsets(build_events(spec([{"type": "login", "at": at}]), "r", 0)) == [0]


def test_test_defaults_apply_to_every_event_and_events_override_them():
    events = build_events(spec([{"type": "login"}, {"type": "login", "user_id": "u-2"}], defaults={"user_id": "u-1"}), "r", 0)
    assert [e.user_id for e in events] == ["u-1", "u-2"]


def test_start_can_be_changed():
    (e,) = build_events(spec([{"type": "login"}], start="2026-01-01T00:00:00Z"), "r", 0)
    assert e.ts.isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ({"type": "transfer", "amount": -1}, ["event 1", "amount", "greater than 0"]),
        ({"type": "transfer", "amount": "-1"}, ["event 1", "amount", "greater than 0"]),
        ({"type": "login", "success": "yes"}, ["event 1", "success", "'yes'"]),
        ({"type": "bogus"}, ["event 1", "'type' must be login or transfer"]),
        ({"type": "login", "at": "soon"}, ["event 1", "'soon'"]),
    ],
)
def test_a_bad_event_is_a_rule_error_naming_the_problem(event, words):
    with pytest.raises(RuleError) as info:
        build_events(spec([event]), "r", 0)
    assert info.value.code == "bad-test"
    assert all(w in info.value.message for w in words), info.value.message


def test_event_after_an_explicit_ts_comes_a_minute_after_it():
    events = build_events(spec([{"type": "login", "ts": "2026-11-24T10:00:00+09:00"}, {"type": "login"}]), "r", 0)
    assert offsets(events) == [3600, 3660]


def test_at_as_a_number_of_seconds():
    assert offsets(build_events(spec([{"type": "login", "at": 90}]), "r", 0)) == [90]


# -- run_rule_tests ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    return load_rules(BUNDLED, scores=MODELS.names)


def test_every_bundled_rule_has_tests(bundled):
    assert [r.id for r in bundled.rules if not r.spec.tests] == []


def test_every_bundled_rule_has_a_matching_test(bundled):
    assert [r.id for r in bundled.rules if not any(t.expect == "match" for t in r.spec.tests)] == []


def test_bundled_rule_tests_pass(bundled):
    outcomes = run_rule_tests(bundled, MODELS)
    assert len(outcomes) == sum(len(r.spec.tests) for r in bundled.rules)
    assert [(o.rule_id, o.name, o.detail) for o in outcomes if not o.passed] == []


PACK = """\
rules:
  - id: big_withdrawal
    title: Big withdrawal
    severity: high
    on: transfer
    when: event.value_krw >= 10_000_000
    tests:
{tests}
"""


def outcomes_of(load_pack, tests: str):
    return run_rule_tests(load_pack(PACK.format(tests=tests)))


def test_passing_tests_say_what_happened(load_pack):
    outs = outcomes_of(load_pack, """\
      - {name: big, events: [{type: transfer, value_krw: 20_000_000}], expect: match}
      - {name: small, events: [{type: transfer}], expect: no_match}
      - name: two
        events: [{type: transfer, value_krw: 20_000_000}, {type: transfer, value_krw: 30_000_000}]
        expect: match
        decisions: 2
    """)
    assert [(o.name, o.passed, o.detail) for o in outs] == [
        ("big", True, "fired on the last event"),
        ("small", True, "did not fire"),
        ("two", True, "fired on the last event"),
    ]
    assert outs[0].decisions[0]["rule_id"] == "big_withdrawal"
    assert outs[0].pos.line == 2


def test_wrong_no_match_expectation_fails_readably(load_pack):
    (o,) = outcomes_of(load_pack, "      - {name: wrong, events: [{type: transfer, value_krw: 20_000_000}], expect: no_match}\n")
    assert not o.passed
    assert o.detail == "expected no match; fired on ['big_withdrawal-t0-e1']"


def test_wrong_match_expectation_fails_readably(load_pack):
    (o,) = outcomes_of(load_pack, "      - {name: wrong, events: [{type: transfer}], expect: match}\n")
    assert (o.passed, o.detail) == (False, "expected a match; the rule did not fire")


def test_match_on_an_earlier_event_only_fails(load_pack):
    (o,) = outcomes_of(load_pack, "      - {name: early, events: [{type: transfer, value_krw: 20_000_000}, {type: transfer}], expect: match}\n")
    assert (o.passed, o.detail) == (False, "expected a match on the last event; fired on ['big_withdrawal-t0-e1']")


def test_wrong_decision_count_fails_readably(load_pack):
    (o,) = outcomes_of(load_pack, "      - {name: count, events: [{type: transfer, value_krw: 20_000_000}], expect: match, decisions: 3}\n")
    assert (o.passed, o.detail) == (False, "expected 3 decisions, got 1")


def test_bad_test_event_is_a_failing_outcome_naming_the_field(load_pack):
    (o,) = outcomes_of(load_pack, "      - {name: bad, events: [{type: transfer, amount: -1}], expect: match}\n")
    assert not o.passed
    assert o.detail.startswith("test 'bad' event 1: amount: ")
    assert o.decisions == []


def test_late_events_are_named_in_the_detail(load_pack):
    (o,) = outcomes_of(load_pack, """\
      - name: late
        events: [{type: transfer, at: 1h}, {type: transfer, value_krw: 20_000_000, at: 0m}]
        expect: no_match
    """)
    assert o.passed
    assert o.detail == "did not fire (1 events too late: ['big_withdrawal-t0-e2'])"


def test_switched_off_rules_are_tested_too(load_pack):
    rs = load_pack(PACK.format(tests="      - {name: big, events: [{type: transfer, value_krw: 20_000_000}], expect: match}\n")
                   .replace("    on: transfer", "    mode: off\n    on: transfer"))
    assert rs.rules[0].mode == "off"
    (o,) = run_rule_tests(rs)
    assert o.passed


def test_each_test_runs_alone(load_pack):
    outs = outcomes_of(load_pack, """\
      - {name: first, events: [{type: transfer, value_krw: 20_000_000}], expect: match}
      - {name: second, events: [{type: transfer, value_krw: 20_000_000}], expect: match, decisions: 1}
    """)
    assert all(o.passed for o in outs), [o.detail for o in outs]
