"""``stream-guard rules check|test``: validate a rule set and run the tests its rules carry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stream_guard.cli._common import (
    ModelsOption,
    err,
    out,
    quiet_kafka_client,
    rules_and_models_or_exit,
    rules_dir_or_default,
    settings_or_exit,
)
from stream_guard.core.clock import format_duration
from stream_guard.core.rules.testing import run_rule_tests

app = typer.Typer(help="Check and test rule sets.", no_args_is_help=True)

DirArg = Annotated[
    Path | None,
    typer.Argument(help="Rules directory (default: ./rules if present, else the bundled pack)."),
]


@app.command("check")
def check(directory: DirArg = None, models: ModelsOption = None) -> None:
    """Validate every rule file: YAML, keys, conditions, lists, macros, policy.

    Each problem is printed as file:line:column, the rule id and a reason; the exit
    status is 1 if there is any. Rules may read the scores of the models declared in
    --models (score.<name>).
    """
    rules, _ = rules_and_models_or_exit(directory, models)
    table = Table(
        title=f"{len(rules.rules)} rules OK in {rules_dir_or_default(directory)} (version {rules.version})"
    )
    for col in ("id", "on", "kind", "key", "severity", "mode", "v"):
        table.add_column(col)
    for r in rules.rules:
        key = r.group_by or "user_id"
        kind = r.kind
        if r.aggregate is not None:
            kind = f"{r.aggregate.function} ≥ {r.aggregate.threshold:g} / {format_duration(r.aggregate.window)}"
        elif r.sequence is not None:
            kind = f"sequence of {len(r.steps)} / {format_duration(r.sequence.within)}"
        table.add_row(r.id, ",".join(sorted(r.on)), kind, key, r.severity, r.mode, str(r.version))
    out.print(table)
    lists = ", ".join(f"{name} ({len(lst)})" for name, lst in sorted(rules.lists.items()))
    out.print(f"lists: {lists or 'none'}; risk levels: {len(rules.policy.levels)}")


@app.command("test")
def test(
    directory: DirArg = None,
    models: ModelsOption = None,
    rule: Annotated[
        str | None,
        typer.Option("--rule", "-r", help="Only the tests of rules whose id contains this."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show passing tests too.")
    ] = False,
) -> None:
    """Run the inline `tests:` of every rule (exit status 1 if any fails)."""
    rules, registry = rules_and_models_or_exit(directory, models)
    outcomes = [o for o in run_rule_tests(rules, registry) if rule is None or rule in o.rule_id]
    failed = [o for o in outcomes if not o.passed]
    for o in outcomes:
        if o.passed and not verbose:
            continue
        mark = "[green]PASS[/]" if o.passed else "[red]FAIL[/]"
        out.print(
            f"{mark} {o.rule_id} :: {o.name} — {o.detail}"
            + (f"  ({o.pos})" if not o.passed and o.pos else "")
        )
    untested = [r.id for r in rules.rules if r.spec is not None and not r.spec.tests]
    if untested:
        err.print(f"[yellow]rules without tests:[/] {', '.join(untested)}")
    out.print(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed or not outcomes:
        raise typer.Exit(1)


@app.command("publish")
def publish(
    directory: DirArg = None,
    broker: Annotated[
        str | None,
        typer.Option("--broker", "-b", help="Kafka bootstrap servers, kafka://host:port (env STREAM_GUARD_BROKER).", show_default=False),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", help="Version number to publish (default: the published one + 1).", show_default=False),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Settings file (.toml or .yaml).", show_default=False),
    ] = None,
    models: ModelsOption = None,
) -> None:
    """Validate a rule set and publish it to the rules topic; running workers switch to it.

    Rules are checked against the models the workers run (--models, or the models_dir
    setting): a rule reading a score no worker computes is refused.

    A rule set with any error is refused (printed like `rules check`). Workers load a
    published set between two batches, without a restart; one that fails to load there is
    logged and counted, and the previous set stays in force.
    """
    from stream_guard.core.errors import ConfigError
    from stream_guard.stream.publish import publish as do_publish

    settings = settings_or_exit(config, broker=broker, models_dir=models)
    path = rules_dir_or_default(directory)
    rules, registry = rules_and_models_or_exit(path, settings.models_dir)
    try:
        with quiet_kafka_client():
            rs = do_publish(settings, path, version=version, scores=registry.names)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(
        f"published rule set version {rs.version} ({len(rules.rules)} rules, {len(rs.files)} files, "
        f"{rs.checksum[:19]}…) from {path} to {settings.rules_topic} on {settings.broker}"
    )
