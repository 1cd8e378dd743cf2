"""Model declarations: the bundled ones load; every mistake is reported at file:line:column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stream_guard.core.errors import RuleSetError
from stream_guard.core.models import load_models
from stream_guard.core.rules.loader import load_rules
from stream_guard.paths import bundled

GOOD = """\
models:
  - name: withdrawal_amount
    title: t
    kind: baseline
    estimator: amount
    on: transfer
    when: event.direction == "withdrawal"
    value: event.value_krw
    warmup: 2
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "m.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return tmp_path


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RuleSetError) as exc:
        load_models(write(tmp_path, text))
    return [e.render() for e in exc.value.errors]


def test_bundled_models_load_and_the_default_rules_read_them() -> None:
    reg = load_models(bundled("models"))
    assert {"withdrawal_amount", "login_unusual", "withdrawal_population"} <= set(reg.names)
    assert reg.names[-1] == "login_unusual"  # combined models are scored after their inputs
    rules = load_rules(bundled("rules"), scores=reg.names)
    assert "withdrawal_far_above_usual" in {r.id for r in rules.rules}


def test_rules_reading_an_undeclared_score_are_refused() -> None:
    with pytest.raises(RuleSetError) as exc:
        load_rules(bundled("rules"))  # no models: score.withdrawal_amount is unknown
    assert any(e.code == "unknown-score" for e in exc.value.errors)


def test_a_good_declaration(tmp_path: Path) -> None:
    reg = load_models(write(tmp_path, GOOD))
    assert reg.names == ("withdrawal_amount",)
    assert reg.models[0].params.prior_spread == 0.5


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (("estimator: amount", "estimator: amnt"), "m.yaml:2:5", "estimator 'amnt' is not one of the baseline estimators"),
        (("value: event.value_krw", "value: event.value"), "m.yaml:8:12", "unknown transfer field 'value'"),
        (("value: event.value_krw", "value: event.asset"), "m.yaml:8:12", "is a string, this needs a number"),
        (('when: event.direction == "withdrawal"', "when: event.directon == 1"), "m.yaml:7:11", "unknown"),
        (('when: event.direction == "withdrawal"', "when: score.x > 1"), "m.yaml:7:11", "unknown score"),
        (("warmup: 2", "warmup: -1"), "m.yaml:9:13", "greater than or equal to 0"),
        (("warmup: 2", "warmup: 2\n    params: {prior_spred: 1}"), "m.yaml:10:14", "unknown key 'prior_spred'"),
    ],
)
def test_mistakes_point_at_file_line_column(tmp_path: Path, change: tuple[str, str], where: str, message: str) -> None:
    found = errors(tmp_path, GOOD.replace(*change))
    assert any(f"/{where}: " in e and message in e for e in found), found


def test_population_features_need_a_range_and_combined_models_known_inputs(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        models:
          - name: pop
            title: t
            kind: population
            estimator: HalfSpaceTrees
            on: transfer
            features:
              - {name: v, from: event.value_krw, scale: log}
          - name: both
            title: t
            kind: combined
            estimator: kth_highest
            of: [pop, nothing]
            at_least: 2
        """)
    text = "\n".join(found)
    assert "needs 'range: [low, high]'" in text
    assert "m.yaml:13:15: model 'both': unknown model 'nothing' in 'of' [unknown-model]" in text



def test_a_name_declared_twice(tmp_path: Path) -> None:
    found = errors(tmp_path, GOOD + GOOD.removeprefix("models:\n"))
    assert any("model 'withdrawal_amount' is already declared at" in e and "[duplicate-model]" in e for e in found)


def test_no_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="no models directory"):
        load_models(tmp_path / "nope")
    assert len(load_models(tmp_path)) == 0
