"""``stream-guard replay``: run a JSONL file of events through the rules, print decisions."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from stream_guard.cli._common import (
    ModelsOption,
    byte_progress,
    err,
    labels_or_exit,
    open_events,
    rules_and_models_or_exit,
    settings_or_exit,
)
from stream_guard.core.clock import parse_duration
from stream_guard.core.detector import DEFAULT_LATENESS
from stream_guard.core.errors import ConfigError
from stream_guard.paths import bundled
from stream_guard.replay import ReplayStats, build_detector, replay
from stream_guard.scoring import Score, score


def replay_command(
    events: Annotated[
        Path | None,
        typer.Argument(
            help="Events as JSONL (EVENTS.md), sorted by ts; .gz is read compressed; '-' reads standard input.",
            allow_dash=True,
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="Rules directory (default: ./rules, else the bundled pack)."),
    ] = None,
    models: ModelsOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Write decisions (JSONL) here instead of standard output."
        ),
    ] = None,
    sample: Annotated[
        bool,
        typer.Option(
            "--sample", help="Replay the bundled sample traffic (generated, with injected attacks)."
        ),
    ] = False,
    lateness: Annotated[
        str,
        typer.Option(
            help="Accept events this far behind a user's newest event (e.g. 10m); later ones are counted as late."
        ),
    ] = "10m",
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="labels.json of labelled traffic (EVENTS.md): also report recall per attack kind and benign users flagged.",
        ),
    ] = None,
    summary_json: Annotated[
        Path | None, typer.Option("--summary-json", help="Also write the summary as JSON here.")
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")
    ] = False,
) -> None:
    """Replay events through the detection core and write its decisions as JSONL.

    Invalid lines are reported with their line numbers and reasons and skipped; a
    summary (events read, decisions per rule, invalid lines, late events) goes to
    standard error, so standard output stays pure JSONL.
    """
    if sample:
        if events is not None:
            raise typer.BadParameter("give either EVENTS or --sample, not both")
        events = bundled("sample") / "events.jsonl"
        labels = labels or bundled("sample") / "labels.json"
    if events is None:
        err.print(
            "Give a JSONL file of events, '-' for standard input, or --sample for the bundled sample."
        )
        raise typer.Exit(2)
    try:
        lateness_s = parse_duration(lateness) if lateness else DEFAULT_LATENESS
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lateness") from None
    label_data = None
    if labels is not None:
        label_data = labels_or_exit(labels)
    ruleset, registry = rules_and_models_or_exit(rules, models)
    scored: list[dict] = []
    detector = build_detector(ruleset, models=registry, lateness=lateness_s, partitions=settings_or_exit(None).partitions)

    with ExitStack() as stack:
        source, total = open_events(stack, events)
        sink = stack.enter_context(out.open("wb")) if out else sys.stdout.buffer
        write = sink.write

        def emit(d) -> None:
            record = d.to_dict()
            write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            if label_data is not None:
                scored.append({k: record[k] for k in ("mode", "ts", "user_id", "group")})

        progress = byte_progress(stack, "replaying", total, quiet=quiet)
        stats = replay(source, detector, emit, progress=progress)
        sink.flush()
    result = score(scored, label_data) if label_data is not None else None
    if summary_json:
        summary = {"rules_version": ruleset.version, **stats.to_dict()}
        if result is not None:
            summary["labels"] = result.to_dict()
        summary_json.write_text(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    if not quiet:
        print_summary(stats, ruleset.version, str(events))
        if result is not None:
            print_score(result)


def print_score(result: Score) -> None:
    table = Table(title=f"labelled attacks: {result.recall:.0%} caught", title_justify="left")
    table.add_column("attack kind")
    table.add_column("caught", justify="right")
    for kind in sorted(result.attacks_by_kind):
        table.add_row(kind, f"{result.caught_by_kind.get(kind, 0)}/{result.attacks_by_kind[kind]}")
    err.print(table)
    err.print(
        f"benign users flagged by an enforced decision: {len(result.benign_flagged)} of "
        f"{result.benign_users} ({result.benign_flagged_share:.1%})"
    )


def print_summary(stats: ReplayStats, version: str, source: str) -> None:
    rate = stats.events / stats.seconds if stats.seconds else 0.0
    err.print(
        f"[bold]{source}[/]: {stats.lines:,} lines, {stats.events:,} events, "
        f"{stats.invalid:,} invalid, {stats.late:,} late, {stats.duplicates:,} duplicate; "
        f"rules {version}; {stats.seconds:.2f}s ({rate:,.0f} events/s)"
    )
    if stats.decisions:
        table = Table(title=f"{sum(stats.decisions.values()):,} decisions", title_justify="left")
        table.add_column("rule")
        table.add_column("decisions", justify="right")
        for rule_id, n in stats.decisions.most_common():
            table.add_row(rule_id, f"{n:,}")
        err.print(table)
    else:
        err.print("no decisions")
    print_problems(stats)


def print_problems(stats: ReplayStats) -> None:
    """The invalid lines (line number and reason) and the late events of a replay."""
    for line, reason in stats.invalid_lines:
        err.print(f"[yellow]line {line}:[/] {reason}", markup=True, highlight=False)
    if stats.invalid > len(stats.invalid_lines):
        err.print(f"… and {stats.invalid - len(stats.invalid_lines):,} more invalid lines")
    if stats.late:
        shown = ", ".join(stats.late_ids[:10])
        err.print(
            f"[yellow]{stats.late:,} events arrived later than the lateness allows[/] (not evaluated): {shown}{' …' if stats.late > 10 else ''}"
        )
