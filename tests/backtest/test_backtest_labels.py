"""Label figures of a backtest: EVENTS.md's headline via scoring.py, and per rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from backtest_fixture import Case, make_case, make_doc, run_file

from stream_guard.backtest import LabelError, load_labels, parse_labels
from stream_guard.backtest.labels import figures
from stream_guard.backtest.stats import by_rule
from stream_guard.replay import build_detector, load_pack, replay
from stream_guard.scoring import score

case = pytest.fixture(make_case, name="case")
doc = pytest.fixture(make_doc, name="doc")


def test_headline_figures_on_the_case(doc: dict[str, Any]):
    lab = doc["labels"]
    assert lab["recall_by_kind"] == {"brute_force": 1.0, "credential_stuffing": 1.0, "takeover": 0.0}
    # u-b was named by an enforced decision; u-c only within the stuffing attack's window
    assert lab["benign_flagged"] == ["u-b"] and lab["benign_flagged_share"] == 0.5
    assert [(a["user_id"], a.get("caught_by_shadow")) for a in lab["missed"]] == [
        ("u-d", None), ("u-e", ["big_withdrawal_shadow"]),
    ]
    assert (lab["attacks"], lab["caught"]) == (4, 2)


def test_per_rule_figures_count_each_rule_as_if_enforced(doc: dict[str, Any]):
    got = {rid: r["labels"] for rid, r in doc["rules"].items()}
    assert got["failed_burst"] == {
        "attacks_caught": 2, "caught_by_kind": {"brute_force": 1, "credential_stuffing": 1},
        "benign_users_flagged": 0, "hits": 3, "false_alarms": 0, "other": 0, "precision": 1.0,
    }
    assert got["big_withdrawal"]["precision"] == 0.5  # u-a hit, u-b false alarm
    shadow = got["big_withdrawal_shadow"]
    assert (shadow["hits"], shadow["false_alarms"], shadow["precision"]) == (2, 2, 0.5)
    assert shadow["caught_by_kind"] == {"brute_force": 1, "takeover": 1}


def test_headline_is_scoring_py_on_the_replayed_decisions():
    """The backtest's headline equals scoring.score over replay's own decisions, on the
    bundled sample with the default pack (many kinds, many benign users)."""
    from stream_guard.paths import bundled

    sample = bundled("sample")
    labels = load_labels(sample / "labels.json")
    rules, models = load_pack(bundled("rules"), bundled("models"))
    decisions: list[dict] = []
    with (sample / "events.jsonl").open("rb") as f:
        replay(f, build_detector(rules, models=models), lambda d: decisions.append(d.to_dict()))
    expected = score(decisions, labels).to_dict()

    result = run_file(sample / "events.jsonl", bundled("rules"))
    section, per_rule = figures(result.records, by_rule(result.records), {}, labels)
    for key in ("recall", "recall_by_kind", "benign_flagged_share", "benign_flagged"):
        assert section[key] == expected[key], key
    assert [a["key_ts"] for a in section["missed"]] == [a["key_ts"] for a in expected["missed"]]
    # a rule's own figure never beats the union of all rules
    assert sum(f["attacks_caught"] for f in per_rule.values()) >= section["caught"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"[1]", "expected an object with benign_users and attacks, got list"),
        (b"{not json", "not valid JSON"),
        (b'{"attacks": []}', "labels.json: benign_users: Field required"),
        (b'{"benign_users": [], "attacks": [{"user_id": "u-1", "key_ts": "2026-11-24T09:15:02Z"}]}',
         "labels.json: attacks.0.kind: Field required"),
        (b'{"benign_users": [], "attacks": [{"kind": "x", "user_id": "u-1", "key_ts": "2026-11-24T09:15:02"}]}',
         "labels.json: attacks.0.key_ts: timestamp has no UTC offset"),
        (b'{"benign_users": [], "attacks": [{"kind": "x", "key_ts": "2026-11-24T09:15:02Z"}]}',
         "labels.json: attacks.0: an attack names its user_id"),
        (b'{"benign_users": [7], "attacks": []}', "labels.json: benign_users.0: Input should be a valid string, got 7"),
    ],
)
def test_bad_labels_name_the_field(text: bytes, message: str):
    with pytest.raises(LabelError) as exc:
        parse_labels(text)
    assert message in str(exc.value)


def test_labels_file_that_cannot_be_read(tmp_path: Path):
    with pytest.raises(LabelError, match="cannot read"):
        load_labels(tmp_path / "nope.json")


def test_case_labels_are_valid(case: Case):
    assert parse_labels(case.labels.read_bytes()) == orjson.loads(case.labels.read_bytes())
