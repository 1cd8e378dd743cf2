"""Threshold sensitivity: predicted decisions at other thresholds are what a run with that
threshold makes, and never grow with the threshold."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from backtest_fixture import make_case, make_doc, run_file

from stream_guard.backtest.sensitivity import thresholds
from stream_guard.paths import bundled
from stream_guard.replay import load_pack

case = pytest.fixture(make_case, name="case")
doc = pytest.fixture(make_doc, name="doc")


def test_points_on_the_case(doc: dict[str, Any]):
    s = doc["rules"]["failed_burst"]["sensitivity"]
    assert (s["threshold"], s["actual"], s["window"], s["suppress"]) == (3, 3, "10m", "10m")
    # u-a: 1..4 failures in a burst; u-c: two bursts of 3, 18 minutes apart
    assert [(p["threshold"], p["decisions"], p["keys"]) for p in s["points"]] == [
        (2, 3, 2), (3, 3, 2), (4, 1, 1), (5, 0, 0), (6, 0, 0),
    ]
    assert s["max_value"] == 4
    assert "sensitivity" not in doc["rules"]["big_withdrawal"]  # not an aggregate


def test_count_thresholds_are_whole_and_include_the_rules():
    rules, _ = load_pack(bundled("rules"), bundled("models"))
    th = thresholds(rules.rule("structuring_under_travel_rule"))  # count >= 3
    assert th == [2, 3, 4, 5, 6]
    assert all(float(t).is_integer() for t in thresholds(rules.rule("credential_stuffing_ip")))


@pytest.fixture(scope="module")
def sample_run():
    return run_file(bundled("sample") / "events.jsonl", bundled("rules"))


def test_hits_never_grow_with_the_threshold(sample_run):
    assert sample_run.sensitivity, "the default pack has aggregate rules"
    for rid, s in sample_run.sensitivity.items():
        counts = [p["decisions"] for p in s["points"]]
        assert counts == sorted(counts, reverse=True), rid
        keys = [p["keys"] for p in s["points"]]
        assert keys == sorted(keys, reverse=True), rid
        at_own = next(p for p in s["points"] if p["threshold"] == s["threshold"])
        assert at_own["decisions"] == s["actual"] == sample_run.stats.decisions[rid], rid


@pytest.mark.parametrize(
    ("rule_id", "file", "old", "new"),
    [
        ("credential_stuffing_ip", "logins.yaml", "by: ip, window: 10m, threshold: 10", 5),  # keyed by IP
        ("structuring_under_travel_rule", "transfers.yaml", "window: 24h, threshold: 3", 2),
        ("brute_force_account", "logins.yaml", "window: 30m, threshold: 10", 5),
    ],
)
def test_prediction_equals_a_run_at_that_threshold(tmp_path: Path, sample_run, rule_id, file, old, new):
    predicted = next(p for p in sample_run.sensitivity[rule_id]["points"] if p["threshold"] == new)
    rules = tmp_path / "rules"
    shutil.copytree(bundled("rules"), rules)
    text = (rules / file).read_text()
    assert text.count(old) == 1
    (rules / file).write_text(text.replace(old, re.sub(r"threshold: \d+", f"threshold: {new}", old)))
    rerun = run_file(bundled("sample") / "events.jsonl", rules)
    assert rerun.stats.decisions[rule_id] == predicted["decisions"]
    assert rerun.stats.decisions[rule_id] != sample_run.stats.decisions[rule_id], "a threshold that changes something"
