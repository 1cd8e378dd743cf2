"""The hand-made case of backtest_fixture.py, written once per test, and its backtest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from backtest_fixture import Case, run_case, write_case

from stream_guard.backtest import backtest_json, load_labels


@pytest.fixture
def case(tmp_path: Path) -> Case:
    return write_case(tmp_path / "case")


@pytest.fixture
def doc(case: Case) -> dict[str, Any]:
    """The backtest JSON of the case, with its labels and baseline."""
    return backtest_json(
        run_case(case), source=str(case.events), labels=load_labels(case.labels), baseline=run_case(case, case.baseline)
    )
