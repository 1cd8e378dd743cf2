"""Replay a JSONL file of events through the detector, in file order.

Invalid lines are counted and reported with their line numbers and reasons, never fatal;
late and redelivered events are counted. The same :class:`LocalRunner` serves backtests,
and :func:`build_detector` is the one place replay and backtests make their detector.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from stream_guard.core.decisions import Decision
from stream_guard.core.detector import DEFAULT_LATENESS, Detector, LocalRunner
from stream_guard.core.errors import EventError
from stream_guard.core.events import parse_event
from stream_guard.core.models import ModelRegistry, ModelScorer
from stream_guard.core.rules.pack import RuleSet

#: How many invalid lines a summary lists one by one (all are counted).
MAX_LISTED_INVALID = 50


@dataclass
class ReplayStats:
    lines: int = 0
    events: int = 0
    invalid: int = 0
    invalid_lines: list[tuple[int, str]] = field(default_factory=list)
    late: int = 0
    late_ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    decisions: Counter = field(default_factory=Counter)
    by_mode: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    #: the first valid event's time and the newest event time seen (POSIX seconds), and the
    #: UTC offset the first event was written with (seconds): the period a backtest covers
    first_t: float | None = None
    last_t: float | None = None
    utc_offset: float = 0.0

    def to_dict(self) -> dict:
        return {
            "lines": self.lines,
            "events": self.events,
            "invalid": self.invalid,
            "invalid_lines": [{"line": n, "reason": r} for n, r in self.invalid_lines],
            "late": self.late,
            "late_event_ids": self.late_ids[:MAX_LISTED_INVALID],
            "duplicates": self.duplicates,
            "decisions_by_rule": dict(sorted(self.decisions.items())),
            "decisions_by_mode": dict(sorted(self.by_mode.items())),
            "seconds": round(self.seconds, 3),
        }


#: Partitions replay assumes when it splits users between population models as a worker
#: with this many partitions does (``STREAM_GUARD_PARTITIONS``; see docs/models.md).
DEFAULT_PARTITIONS = 4


def partition_of(partitions: int) -> Callable[[str], int]:
    """Kafka's default partitioner for a ``user_id`` key (murmur2), as the worker routes users."""
    from aiokafka.partitioner import murmur2

    return lambda user_id: (murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions


def load_pack(
    rules_dir: str | Path | None = None, models_dir: str | Path | None = None
) -> tuple[RuleSet, ModelRegistry]:
    """A rule set and the models its rules read (defaults: ./rules and ./models, else the
    bundled ones); RuleSetError lists every problem of either."""
    from stream_guard.core.models import load_models
    from stream_guard.core.rules.loader import load_rules
    from stream_guard.paths import default_models_dir, default_rules_dir

    models = load_models(models_dir if models_dir is not None else default_models_dir())
    rules = load_rules(rules_dir if rules_dir is not None else default_rules_dir(), scores=models.names)
    return rules, models


def build_detector(
    rules: RuleSet,
    *,
    models: ModelRegistry | None = None,
    lateness: float = DEFAULT_LATENESS,
    partitions: int = DEFAULT_PARTITIONS,
    scorer: ModelScorer | None = None,
) -> Detector:
    """The detector that replay, backtests and the worker run: the production core over
    ``rules``, scoring with ``models`` (one population detector per partition of
    ``partitions``, users split between them as Kafka's default partitioner does). The
    worker passes its own ``scorer`` instead, which outlives rule swaps and resumes from
    the checkpoints of its partitions."""
    if scorer is None and models:
        scorer = ModelScorer(models, shard_of=partition_of(partitions))
    return Detector(rules, lateness=lateness, scorer=scorer)


def replay(
    lines: Iterable[bytes],
    detector: Detector,
    emit: Callable[[Decision], None],
    *,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    """Run every line through ``detector``; call ``emit`` per decision; return the stats."""
    import time

    stats = ReplayStats()
    runner = LocalRunner(detector)
    started = time.perf_counter()
    nbytes = 0
    for n, line in enumerate(lines, 1):
        stats.lines = n
        nbytes += len(line)
        if progress is not None and n % 2048 == 0:
            progress(nbytes)
        if not line.strip():
            continue
        if n == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]  # a UTF-8 byte-order mark, as some Windows tools write
        try:
            event = parse_event(line)
        except EventError as exc:
            stats.invalid += 1
            if len(stats.invalid_lines) < MAX_LISTED_INVALID:
                stats.invalid_lines.append((n, str(exc)))
            continue
        stats.events += 1
        if stats.first_t is None:
            stats.first_t = event.ts.timestamp()
            offset = event.ts.utcoffset()
            stats.utc_offset = offset.total_seconds() if offset is not None else 0.0
        for d in runner.feed(event):
            stats.decisions[d.rule_id] += 1
            stats.by_mode[d.mode] += 1
            emit(d)
    if progress is not None:
        progress(nbytes)
    marks = [s.watermark for s in runner.users.values() if s.watermark is not None]
    stats.last_t = max(marks, default=stats.first_t)
    stats.late = len(runner.late)
    stats.late_ids = runner.late
    stats.duplicates = runner.duplicates
    stats.seconds = time.perf_counter() - started
    return stats


def read_lines(stream: BinaryIO) -> Iterable[bytes]:
    yield from stream
