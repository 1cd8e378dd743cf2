"""``stream-guard topics``: create the topics the worker reads and writes."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from stream_guard.cli._common import (
    BrokerOpt,
    ConfigOpt,
    WaitOpt,
    err,
    quiet_kafka_client,
    settings_or_exit,
)
from stream_guard.core.errors import ConfigError
from stream_guard.settings import Settings

app = typer.Typer(
    help="Kafka topics: create the input, output and internal topics.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

def _roles(settings: Settings) -> dict[str, str]:
    roles: dict[str, list[str]] = {}
    for topic, role in (
        (settings.logins_topic, "input: logins"),
        (settings.transfers_topic, "input: transfers"),
        (settings.group_topic, "internal: by-IP items"),
        (settings.decisions_topic, "output: decisions"),
        (settings.dead_letter_topic, "output: dead letters"),
        (settings.rules_topic, "rule sets (compacted)"),
    ):
        roles.setdefault(topic, []).append(role)
    return {t: ", ".join(r) for t, r in roles.items()}


@app.command("create")
def create_command(
    broker: BrokerOpt = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            "--partitions",
            "-p",
            min=1,
            help="Partitions of the input, internal and output topics (default 4, or the count of an input topic that exists).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
    wait: WaitOpt = 10.0,
) -> None:
    """Create the missing topics; leave existing ones as they are.

    The two input topics must have the same partition count (a user's logins and transfers then reach the same worker); the rules topic has one partition and is compacted.
    """
    settings = settings_or_exit(config, broker=broker)
    from stream_guard.stream.admin import create_topics, partition_counts, wait_for_broker

    try:
        with quiet_kafka_client():
            wait_for_broker(settings.bootstrap_servers, wait)
            status = create_topics(settings, partitions=partitions, timeout=wait)
            counts = partition_counts(settings.bootstrap_servers, status, timeout=wait)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    roles = _roles(settings)
    table = Table(title=f"topics on {settings.broker}", title_justify="left")
    table.add_column("topic")
    table.add_column("role")
    table.add_column("partitions", justify="right")
    table.add_column("status")
    for topic, state in status.items():
        n = counts.get(topic)
        style = "green" if state == "created" else "dim"
        table.add_row(
            topic,
            roles.get(topic, ""),
            "?" if n is None else str(n),
            f"[{style}]{state.partition(' (')[0]}[/]",
        )
    err.print(table)
    created = sum(1 for s in status.values() if s == "created")
    err.print(f"{created} created, {len(status) - created} already there")
