"""``stream-guard shadow-report``: what the rules in shadow mode did in production."""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from stream_guard.backtest.shadow import DecisionReader, summarise
from stream_guard.cli._common import (
    BrokerOpt,
    ConfigOpt,
    WaitOpt,
    err,
    open_events,
    quiet_kafka_client,
    settings_or_exit,
    write_json,
)
from stream_guard.core.clock import parse_duration, parse_ts
from stream_guard.core.errors import ConfigError

#: Examples printed per shadow rule (--json has all the report keeps).
SHOWN_EXAMPLES = 3


def _moment(text: str | None, now: float, option: str) -> float | None:
    """An RFC 3339 time, or a duration meaning that long before ``now``."""
    if text is None:
        return None
    try:
        return parse_ts(text).timestamp()
    except ValueError:
        pass
    try:
        return now - parse_duration(text)
    except ConfigError:
        raise typer.BadParameter(
            f"expected an RFC 3339 time such as 2026-11-24T00:00:00+09:00, or a duration such as 7d, got {text!r}",
            param_hint=option,
        ) from None


def shadow_report_command(
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions",
            help="Read decisions from this JSONL file (as replay --out writes them; .gz, '-' for standard input) instead of the decisions topic.",
            allow_dash=True,
            show_default=False,
        ),
    ] = None,
    broker: BrokerOpt = None,
    config: ConfigOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Start of the period (event time, included): an RFC 3339 time, or a duration before --until / now such as 7d.", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="End of the period (excluded): an RFC 3339 time, or a duration before now.", show_default=False),
    ] = None,
    rule: Annotated[
        str | None,
        typer.Option("--rule", "-r", help="Only the shadow rules whose id contains this.", show_default=False),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the review as JSON here ('-': standard output).", allow_dash=True),
    ] = None,
    wait: WaitOpt = 10.0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console summary.")] = False,
) -> None:
    """Summarise what each rule in shadow mode would have done over a period: decisions,
    users, per day, overlap with the enforced rules, examples — the evidence for
    switching it to enforce.

    Reads the decisions topic (setting decisions_topic on --broker) from its beginning
    to its end at the start of the reading, or a file of decisions with --decisions.
    Decisions are counted once by decision id; unreadable ones are listed and skipped.
    """
    now = time.time()
    until_t = _moment(until, now, "--until")
    since_t = _moment(since, until_t if until_t is not None else now, "--since")
    if since_t is not None and until_t is not None and since_t >= until_t:
        raise typer.BadParameter("the period is empty: --since must come before --until", param_hint="--since")
    if json_out is not None and str(json_out) != "-" and not json_out.parent.is_dir():
        raise typer.BadParameter(f"no such directory: {json_out.parent}", param_hint="--json")
    reader = DecisionReader(since=since_t, until=until_t)
    if decisions is not None:
        if broker is not None:
            raise typer.BadParameter("give either --decisions or --broker, not both", param_hint="--decisions")
        with ExitStack() as stack:
            lines, _ = open_events(stack, decisions)
            reader.feed_lines(lines)
        source = str(decisions)
    else:
        settings = settings_or_exit(config, broker=broker)
        from stream_guard.stream.decisions_log import consume_topic

        try:
            with quiet_kafka_client():
                consume_topic(settings, settings.decisions_topic, reader.feed, timeout=wait)
        except ConfigError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(1) from None
        source = f"{settings.decisions_topic} on {settings.broker}"
    doc = summarise(reader, source=source)
    if rule is not None:
        doc["rules"] = {rid: r for rid, r in doc["rules"].items() if rule in rid}
    if json_out is not None:
        write_json(json_out, doc)
    if not quiet:
        print_shadow(doc)


def print_shadow(doc: dict[str, Any]) -> None:
    read, period = doc["read"], doc["period"]
    span = f"{period['since'] or period['first_ts'] or '…'} … {period['until'] or period['last_ts'] or '…'}"
    err.print(
        f"[bold]{escape(doc['source'])}[/]: {read['messages']:,} read, {read['decisions']:,} decisions in "
        f"{span} ({len(period['days'])} days; {read['outside_period']:,} outside, "
        f"{read['duplicates']:,} duplicate, {read['invalid']:,} invalid)"
    )
    for item in read["invalid_items"]:
        err.print(f"[yellow]{escape(item['at'])}:[/] {escape(item['reason'])}")
    if read["invalid"] > len(read["invalid_items"]):
        err.print(f"… and {read['invalid'] - len(read['invalid_items']):,} more invalid decisions")
    rules = doc["rules"]
    if not rules:
        err.print("no shadow decisions in the period")
        return
    err.print(f"{len(rules)} shadow rule(s), as if enforced:")
    for rid, r in sorted(rules.items(), key=lambda kv: (-kv[1]["decisions"], kv[0])):
        versions = ",".join(map(str, r["versions"]))
        err.print(
            f"[bold]{escape(rid)}[/] (version {versions}, {escape(r['severity'])}): {r['decisions']:,} decisions "
            f"on {r['users']:,} users, {r['per_day_mean']:.2f}/day (max {r['per_day_max']:,})"
        )
        err.print(
            f"  new: {r['new_decisions']:,} decisions with no enforced decision on the user within 2h; "
            f"{r['new_users']:,} users no enforced rule named"
        )
        overlap = ", ".join(
            f"{o} {v['decisions']:,}" for o, v in r["overlap_enforced"].items() if v["decisions"]
        )
        err.print(f"  overlaps enforced: {escape(overlap or 'none')}")
        actions = ", ".join(f"{n:,} {k}" for k, n in r["actions"].items()) or "nothing"
        err.print(f"  would have called for: {escape(actions)}")
        for e in r["examples"][:SHOWN_EXAMPLES]:
            err.print(f"  e.g. {escape(e['ts'])} {escape(e['user_id'])} event {escape(e['event_id'])}: {escape(e['reason'])}")
    enforced = doc["enforced_rules"]
    if enforced:
        err.print(f"enforced in the same period: {sum(enforced.values()):,} decisions by {len(enforced)} rules")
