"""Every ```yaml example in docs/rules.md is a complete rule file that loads and passes its tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.testing import run_rule_tests

DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
EXAMPLES = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_doc_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"example{i + 1}" for i in range(len(EXAMPLES))])
def test_example_loads_and_its_tests_pass(example: str, tmp_path: Path):
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    rules = load_rules(tmp_path)
    assert rules.rules, "the example defines no rule"
    outcomes = run_rule_tests(rules)
    assert outcomes, "the example's rules carry no tests"
    failed = [f"{o.rule_id} :: {o.name}: {o.detail}" for o in outcomes if not o.passed]
    assert not failed
