"""``stream-guard produce``: send a JSONL file of events to the input topics, keyed by user."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from stream_guard.cli._common import (
    BrokerOpt,
    ConfigOpt,
    WaitOpt,
    byte_progress,
    err,
    open_events,
    quiet_kafka_client,
    settings_or_exit,
)
from stream_guard.core.errors import ConfigError


def produce_command(
    events: Annotated[
        Path,
        typer.Argument(
            help="Events as JSONL (EVENTS.md); .gz is read compressed; '-' reads standard input.",
            allow_dash=True,
            metavar="EVENTS",
            show_default=False,
        ),
    ],
    broker: BrokerOpt = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate",
            help="Send about this many events per second (default: as fast as possible).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    wait: WaitOpt = 10.0,
    summary_json: Annotated[
        Path | None,
        typer.Option(
            "--summary-json", help="Also write the summary as JSON here.", show_default=False
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no summary.")
    ] = False,
) -> None:
    """Send each event to the logins or transfers topic (by its type), keyed by its user_id.

    Lines go as they are, byte for byte. Lines that cannot be routed (not a JSON object, no type login/transfer, no user_id) are skipped and listed with their line numbers; other invalid events are sent, and the worker dead-letters them with their reason.

    The topics must exist: stream-guard topics create.
    """
    if rate is not None and not rate > 0:
        raise typer.BadParameter(
            "must be a positive number of events per second", param_hint="--rate"
        )
    settings = settings_or_exit(config, broker=broker)
    from stream_guard.stream.producer import ProduceError, ProduceStats, produce_file

    with ExitStack() as stack:
        source, total = open_events(stack, events)
        stack.enter_context(quiet_kafka_client())
        progress_cb = byte_progress(stack, "producing", total, quiet=quiet)
        try:
            stats: ProduceStats = produce_file(
                source, settings, progress=progress_cb, rate=rate, timeout=wait
            )
        except (ConfigError, ProduceError) as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        except (OSError, EOFError) as exc:  # an unreadable or truncated file
            reason = escape(str(exc) or type(exc).__name__)
            err.print(f"[red]error:[/] reading {escape(str(events))} failed: {reason}")
            raise typer.Exit(1) from None
    if summary_json:
        summary_json.write_text(orjson.dumps(stats.to_dict(), option=orjson.OPT_INDENT_2).decode())
    if not quiet:
        print_summary(stats, str(events))


def print_summary(stats, source: str) -> None:
    err.print(
        f"[bold]{escape(source)}[/]: {stats.lines:,} lines, {stats.events:,} events sent, "
        f"{stats.skipped:,} skipped; {stats.seconds:.2f}s ({stats.events_per_second:,.0f} events/s)"
    )
    table = Table(title="events sent", title_justify="left")
    table.add_column("topic")
    table.add_column("events", justify="right")
    for topic, n in stats.sent.items():
        table.add_row(topic, f"{n:,}")
    err.print(table)
    for line, reason in stats.skipped_lines:
        err.print(f"[yellow]line {line}:[/] skipped: {escape(reason)}", highlight=False)
    if stats.skipped > len(stats.skipped_lines):
        err.print(f"… and {stats.skipped - len(stats.skipped_lines):,} more skipped lines")
