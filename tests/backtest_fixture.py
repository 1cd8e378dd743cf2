"""A hand-made backtest case whose every figure is worked out by hand below.

Two days (2026-11-01 and -02, at +09:00), five users, three rules:

- ``failed_burst``: 3 failed logins in 10 min (suppressed 10 min after firing);
- ``big_withdrawal``: a withdrawal of 10M KRW or more;
- ``big_withdrawal_shadow`` (shadow): a withdrawal of 5M KRW or more.

Day 1: u-a fails at 10:00, 10:01, 10:02, 10:03 (failed_burst fires at 10:02, then 10:03 is
suppressed) and withdraws 20M at 10:30 (both withdrawal rules); u-b withdraws 7M at 12:00
(shadow only). Day 2: u-c fails at 09:00-09:02 (fires at 09:02) and 09:20-09:22 (the
first three dropped out of the window: fires again at 09:22); u-b withdraws 15M at 15:00
(both withdrawal rules); u-e withdraws 6M at 18:00 (shadow only). Two lines are invalid.

The baseline differs: failed_burst needs 4 failures (fires at u-a's 10:03 only), there is
no big_withdrawal, and the shadow rule is severity medium instead of low.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream_guard.backtest import Run, backtest_json, load_labels, run
from stream_guard.replay import load_pack

RULES = """
rules:
  - id: failed_burst
    title: Failed logins in a burst
    severity: high
    on: login
    when: not event.success
    aggregate: {function: count, by: user_id, window: 10m, threshold: THRESHOLD}
    actions:
      - alert: {template: failed_login_attempts}
  - id: big_withdrawal
    title: Big withdrawal
    severity: medium
    on: transfer
    when: event.direction == 'withdrawal' and event.value_krw >= 10_000_000
    actions:
      - callback: {priority: high, reason: "Confirm the withdrawal"}
  - id: big_withdrawal_shadow
    title: Big withdrawal, lower bar
    severity: SEVERITY
    mode: shadow
    on: transfer
    when: event.direction == 'withdrawal' and event.value_krw >= 5_000_000
    actions:
      - callback: {priority: medium, reason: "Confirm the withdrawal"}
"""

D1 = "2026-11-01T{}:00+09:00"
D2 = "2026-11-02T{}:00+09:00"


def _login(eid: str, ts: str, user: str) -> dict:
    return {"event_id": eid, "type": "login", "ts": ts, "user_id": user, "success": False,
            "failure_reason": "bad_password", "ip": "45.155.205.17", "device_id": "d-x"}


def _withdrawal(eid: str, ts: str, user: str, krw: int) -> dict:
    return {"event_id": eid, "type": "transfer", "ts": ts, "user_id": user, "direction": "withdrawal",
            "asset": "BTC", "amount": "0.1", "value_krw": krw, "address": f"bc1q{user}", "network": "bitcoin"}


EVENTS = [
    _login("l-a1", D1.format("10:00"), "u-a"),
    _login("l-a2", D1.format("10:01"), "u-a"),
    _login("l-a3", D1.format("10:02"), "u-a"),
    _login("l-a4", D1.format("10:03"), "u-a"),
    _withdrawal("t-a1", D1.format("10:30"), "u-a", 20_000_000),
    _withdrawal("t-b1", D1.format("12:00"), "u-b", 7_000_000),
    _login("l-c1", D2.format("09:00"), "u-c"),
    _login("l-c2", D2.format("09:01"), "u-c"),
    _login("l-c3", D2.format("09:02"), "u-c"),
    _login("l-c4", D2.format("09:20"), "u-c"),
    _login("l-c5", D2.format("09:21"), "u-c"),
    _login("l-c6", D2.format("09:22"), "u-c"),
    _withdrawal("t-b2", D2.format("15:00"), "u-b", 15_000_000),
    _withdrawal("t-e1", D2.format("18:00"), "u-e", 6_000_000),
]
INVALID = [b"{not json", b'{"type":"login","event_id":"l-z"}']

LABELS = {
    "benign_users": ["u-b", "u-c"],
    "attacks": [
        {"kind": "brute_force", "user_id": "u-a", "key_event_id": "l-a4", "key_ts": D1.format("10:03")},
        {"kind": "credential_stuffing", "user_id": None, "ip": "45.155.205.17", "victims": ["u-c", "u-x"],
         "key_ts": D2.format("09:10")},
        {"kind": "takeover", "user_id": "u-d", "key_event_id": "t-d1", "key_ts": D2.format("12:00")},
        {"kind": "takeover", "user_id": "u-e", "key_event_id": "t-e1", "key_ts": D2.format("17:30")},
    ],
}


@dataclass
class Case:
    root: Path
    events: Path
    labels: Path
    rules: Path
    baseline: Path


def write_case(root: Path) -> Case:
    root.mkdir(parents=True, exist_ok=True)
    lines = [orjson.dumps(e) for e in EVENTS]
    lines[6:6] = INVALID  # lines 7 and 8, between the two days
    events = root / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    labels = root / "labels.json"
    labels.write_bytes(orjson.dumps(LABELS))
    rules = root / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES.replace("THRESHOLD", "3").replace("SEVERITY", "low"))
    baseline = root / "baseline"
    baseline.mkdir()
    text = RULES.replace("THRESHOLD", "4").replace("SEVERITY", "medium")
    start = text.index("  - id: big_withdrawal\n")
    end = text.index("  - id: big_withdrawal_shadow")
    (baseline / "rules.yaml").write_text(text[:start] + text[end:])
    return Case(root, events, labels, rules, baseline)


def run_file(events: Path, rules: Path) -> Run:
    """A backtest run of ``events`` through the rules in ``rules``."""
    with events.open("rb") as f:
        ruleset, models = load_pack(rules)
        return run(f, ruleset, rules_dir=str(rules), models=models)


def run_case(case: Case, rules: Path | None = None) -> Run:
    return run_file(case.events, rules or case.rules)


# The fixtures of the case. Test modules declare them with ``pytest.fixture(make_case,
# name="case")``: a conftest.py here would be a module named ``conftest`` clashing with the
# other test directories' when several directories are collected together.


def make_case(tmp_path: Path) -> Case:
    """The case, written to a fresh directory."""
    return write_case(tmp_path / "case")


def make_doc(case: Case) -> dict[str, Any]:
    """The backtest JSON of the case, with its labels and baseline."""
    return backtest_json(
        run_case(case), source=str(case.events), labels=load_labels(case.labels), baseline=run_case(case, case.baseline)
    )
