"""Scoring with the bundled models: determinism, state round trips, checkpoints, evidence,
and injected anomalies found in generated traffic."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from stream_guard.backtest.evaluate import evaluate
from stream_guard.core.detector import Detector, LocalRunner
from stream_guard.core.events import parse_event
from stream_guard.core.models import ModelScorer, load_models
from stream_guard.core.models.baselines import Hour, Rarity
from stream_guard.core.models.population import PopulationModel
from stream_guard.core.models.scoring import SAMPLE_EVERY
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.state import UserState
from stream_guard.generator import generate, write_labelled
from stream_guard.paths import bundled
from stream_guard.replay import build_detector, replay

MODELS = load_models(bundled("models"))
RULES = load_rules(bundled("rules"), scores=MODELS.names)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("traffic")
    write_labelled(generate(users=400, days=14, seed=11), out)
    return out


def scores_of(path: Path, partitions: int = 4) -> list[tuple[str, dict[str, Any]]]:
    det = build_detector(RULES, models=MODELS, partitions=partitions)
    seen: list[tuple[str, dict[str, Any]]] = []
    score = det.scorer.score

    def keep(event, f, state, t):
        s = score(event, f, state, t)
        seen.append((event.event_id, dict(s.materialize())))
        return s

    det.scorer.score = keep  # type: ignore[method-assign]
    with (path / "events.jsonl").open("rb") as f:
        replay(f, det, lambda d: None)
    return seen


def test_the_same_stream_gives_the_same_scores(traffic: Path) -> None:
    first, second = scores_of(traffic), scores_of(traffic)
    assert first == second
    scored = [s for _, s in first if any(v is not None for v in s.values())]
    assert len(scored) > 1000


def test_a_model_that_has_not_warmed_up_scores_null(make_event: Callable[..., Any]) -> None:
    scorer = ModelScorer(MODELS)
    state = UserState()
    s = scorer.score(make_event("transfer", value_krw=1_000_000), {}, state, 0.0)
    assert s["withdrawal_amount"] is None and s["withdrawal_population"] is None
    assert s.get("login_hour") is None and "login_hour" not in s  # a login model does not see transfers
    with pytest.raises(KeyError):
        s["login_hour"]
    scorer.learn(s, state)
    assert scorer.counts["withdrawal_amount"].warming == 1 and not scorer.counts["withdrawal_amount"].warm


def test_scores_are_computed_when_read_and_never_after_learning(make_event: Callable[..., Any]) -> None:
    scorer = ModelScorer(MODELS)
    state = UserState()
    for i in range(SAMPLE_EVERY + 1):  # warm the baselines up; the first event is the sampled one
        login = make_event("login", at=i * 3600, country="KR", asn=4766, device_id="phone-1")
        s = scorer.score(login, {}, state, float(i * 3600))
        if i == 1:
            assert dict(s) == {}  # nothing read yet, nothing computed
        scorer.learn(s, state)
    login = make_event("login", at=40 * 3600, country="BR", asn=28573, device_id="phone-1")
    s = scorer.score(login, {}, state, 40.0 * 3600)
    assert s.get("login_country") > 0.9 and set(s) == {"login_country"}
    assert s["login_unusual"] is not None  # a combined score computes what it needs
    assert {"login_device", "login_network", "login_hour"} <= set(s)
    scorer.learn(s, state)
    assert s.get("login_country") > 0.9  # computed before learning: kept
    other = scorer.score(login, {}, state, 41.0 * 3600)
    scorer.learn(other, state)
    with pytest.raises(RuntimeError, match="after the models learnt"):
        other.get("login_country")


def test_counts_are_exact_and_the_histogram_is_sampled(traffic: Path) -> None:
    det = build_detector(RULES, models=MODELS)
    scorer = det.scorer
    seen = {name: 0 for name in MODELS.names}
    score = scorer.score

    def count(event, f, state, t):
        s = score(event, f, state, t)
        for name in dict(s.materialize()):
            seen[name] += 1
        return s

    scorer.score = count  # type: ignore[method-assign]
    with (traffic / "events.jsonl").open("rb") as f:
        replay(f, det, lambda d: None)
    for name in MODELS.names:
        c = scorer.counts[name]
        assert c.seen == seen[name] > 0, name
        sampled = sum(c.scores.counts)
        assert sampled <= c.scored
        if c.scored > 20 * SAMPLE_EVERY:  # one in SAMPLE_EVERY of the events the models see
            assert 0.7 < sampled * SAMPLE_EVERY / c.scored < 1.3, name


def test_the_generated_learning_is_the_baselines_own(make_event: Callable[..., Any]) -> None:
    """Random logins through the scorer leave exactly the state that Hour.learn and
    Rarity.learn give, halvings and evictions included (small ASNs collide with counts)."""
    rng = random.Random(5)
    scorer = ModelScorer(MODELS)
    state = UserState()
    expected = {"login_hour": Hour.fresh(), "login_country": Rarity.fresh(), "login_device": Rarity.fresh(),
                "login_network": Rarity.fresh()}
    p = {name: MODELS.by_name[name].params for name in expected}
    for i in range(3000):
        t = i * 1800.0 + rng.randrange(3600)
        country = rng.choice(["KR", "KR", "KR", "JP", "US", None, "TH", "VN", "DE", "FR"])
        asn = rng.choice([4766, 4766, 3, 7, 12, 40, 9318, None, 1, 2, 5])
        device = rng.choice(["phone-1", "phone-1", "a-very-long-device-fingerprint-0123456789", f"d{rng.randrange(12)}"])
        login = make_event("login", at=i, country=country, asn=asn, device_id=device)
        s = scorer.score(login, {}, state, t)
        scorer.learn(s, state)
        Hour.learn(expected["login_hour"], t, p["login_hour"].cap)
        for name, v in (("login_country", country), ("login_network", asn), ("login_device", device)):
            if v is not None:
                Rarity.learn(expected[name], Rarity.key(v), p[name].slots, p[name].cap)
    assert {name: state.baselines[name] for name in expected} == expected


def test_user_state_with_baselines_round_trips(traffic: Path) -> None:
    det = build_detector(RULES, models=MODELS)
    runner = LocalRunner(det)
    with (traffic / "events.jsonl").open("rb") as f:
        for line in f:
            runner.feed(parse_event(line))
    states = [s for s in runner.users.values() if len(s.baselines) >= 4]
    assert states
    for state in states[:200]:
        back = UserState.from_bytes(state.to_bytes(), RULES)
        assert back.baselines == state.baselines
        assert back.to_bytes() == state.to_bytes()
    # what the baselines add to a user's stored state (docs/models.md reports it)
    added = [len(orjson.dumps(s.baselines)) for s in states]
    assert sum(added) / len(added) < 400
    # a state written before the models existed still loads
    old = UserState()
    assert UserState.from_bytes(old.to_bytes()).baselines == {}


def test_population_checkpoint_resumes_where_it_stopped(traffic: Path) -> None:
    spec = MODELS.by_name["withdrawal_population"]
    feats, params, sig = spec.spec.features, spec.params, spec.signature
    rows = [{"value_krw": 1e5 * (1 + i % 37), "balance_share": (i % 10) / 10, "new_address": i % 3 == 0}
            for i in range(900)]
    straight = PopulationModel(feats, params, sig)
    for r in rows:
        straight.learn(straight.vector_of(r))
    half = PopulationModel(feats, params, sig)
    for r in rows[:600]:
        half.learn(half.vector_of(r))
    saved = orjson.loads(orjson.dumps(half.to_state()))  # through JSON, as in the table
    resumed = PopulationModel.from_state(feats, params, sig, saved)
    for r in rows[600:]:
        resumed.learn(resumed.vector_of(r))
    probe = resumed.vector_of({"value_krw": 5e9, "balance_share": 1.0, "new_address": True})
    assert resumed.score(probe) == straight.score(probe) > 0
    assert resumed.to_state() == straight.to_state()
    # a checkpoint of another declaration (changed features or parameters) is not used
    assert PopulationModel.from_state(feats, params, "other", saved).n == 0


def test_the_scorer_resumes_population_models_from_its_loader() -> None:
    saved: dict[tuple[str, int], list] = {}
    first = ModelScorer(MODELS, shard_of=lambda uid: 1)
    f = {"new_address": True, "balance_share": 0.5}
    for i in range(300):
        e = parse_event(orjson.dumps({
            "event_id": f"t-{i}", "type": "transfer", "ts": f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z",
            "user_id": f"u-{i}", "direction": "withdrawal", "status": "requested", "asset": "BTC",
            "amount": "0.01", "value_krw": 1_000_000 + i, "address": f"bc1q{i:036d}"}))
        st = UserState()
        s = first.score(e, f, st, float(i))
        first.learn(s, st)
    assert first.dirty == {1}
    for name, state in first.checkpoint(1).items():
        saved[(name, 1)] = orjson.loads(orjson.dumps(state))
    assert first.dirty == set()
    second = ModelScorer(MODELS, shard_of=lambda uid: 1, load=lambda name, shard: saved.get((name, shard)))
    s = second.score(e, f, UserState(), 301.0)
    assert s["withdrawal_population"] is not None  # warm: it resumed, it did not start from zero
    assert second.populations[("withdrawal_population", 1)].n == 300


def test_decisions_carry_the_models_evidence(make_event: Callable[..., Any]) -> None:
    runner = LocalRunner(Detector(RULES.only("withdrawal_far_above_usual"), scorer=ModelScorer(MODELS)))
    for i, v in enumerate((450_000, 520_000, 600_000)):
        runner.feed(make_event("transfer", at=i * 86400, value_krw=v))
    out = runner.feed(make_event("transfer", at=5 * 86400, value_krw=60_000_000, amount="0.5",
                                 address="bc1qscammer0000000000000000000000000000"))
    (d,) = [d for d in out if d.rule_id == "withdrawal_far_above_usual"]
    why = d.evidence["models"]["withdrawal_amount"]
    assert d.evidence["score.withdrawal_amount"] > 0.9
    assert why["observations"] == 3 and 400_000 < why["usual"] < 600_000 and why["spreads_above_usual"] > 3
    assert "usually withdraws about" in d.reason and "?" not in d.reason, d.reason


def test_injected_anomalies_are_found_in_generated_traffic(traffic: Path) -> None:
    labels = json.loads((traffic / "labels.json").read_text())
    doc = evaluate(lambda: (traffic / "events.jsonl").open("rb"), RULES, MODELS, labels)
    m = doc["models"]
    # logins from an intruder's device, network and country stand out for the user
    assert m["login_unusual"]["roc_auc"] > 0.8
    assert m["login_country"]["roc_auc"] > 0.8
    # large withdrawals stand out against the user's own: the top 1% is mostly attacks
    assert m["withdrawal_amount"]["precision_at_1pct"] > 0.2
    assert set(doc) >= {"models", "rules_only", "rules_and_models"}
    assert doc["rules_and_models"]["recall"] >= doc["rules_only"]["recall"]
    assert doc["model_rules"] == ["login_unusual_new_device", "withdrawal_far_above_usual"]
