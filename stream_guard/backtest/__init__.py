"""The analyst workbench: backtests, rule-set diffs and shadow-mode review.

Everything here runs on decisions the production core made — in this process over a file
of history (:func:`run`, which is replay), or read back from the decisions topic or a file
(:mod:`stream_guard.backtest.shadow`) — and turns them into figures an analyst can act on:

- :mod:`~stream_guard.backtest.stats`: per rule decisions, users, per day, overlap;
- :mod:`~stream_guard.backtest.labels`: recall, benign users flagged, precision per rule;
- :mod:`~stream_guard.backtest.diff`: decisions gained and lost against a baseline;
- :mod:`~stream_guard.backtest.sensitivity`: aggregate rules at nearby thresholds;
- :mod:`~stream_guard.backtest.report`: one self-contained HTML file.
"""

from stream_guard.backtest.labels import LabelError, load_labels, parse_labels
from stream_guard.backtest.record import DecisionRecord
from stream_guard.backtest.run import Run, backtest_json, run

__all__ = ["DecisionRecord", "LabelError", "Run", "backtest_json", "load_labels", "parse_labels", "run"]
