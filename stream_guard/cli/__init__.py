"""The ``stream-guard`` command line (typer + rich)."""

from __future__ import annotations

import typer

from stream_guard.cli import (
    actions,
    api,
    backtest,
    demo,
    generate,
    models,
    produce,
    replay,
    rules,
    schema,
    shadow,
    topics,
    worker,
)

app = typer.Typer(
    name="stream-guard",
    help=(
        "Stream Guard watches an exchange's login and transfer events for account takeover, "
        "brute force, credential stuffing, impossible travel and laundering-shaped withdrawals.\n\n"
        "Start with: stream-guard replay --sample"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("replay")(replay.replay_command)
app.add_typer(rules.app, name="rules")
app.add_typer(models.app, name="models")
app.command("generate")(generate.generate_command)
app.command("schema")(schema.schema_command)
app.command("worker")(worker.worker_command)
app.add_typer(topics.app, name="topics")
app.command("produce")(produce.produce_command)
app.command("demo")(demo.demo_command)
app.command("backtest")(backtest.backtest_command)
app.command("shadow-report")(shadow.shadow_report_command)
app.command("actions")(actions.actions_command)
app.add_typer(actions.freeze_app, name="freeze")
app.add_typer(actions.tasks_app, name="tasks")
app.add_typer(actions.alerts_app, name="alerts")
app.add_typer(api.api_app, name="api")


def main() -> None:
    app()
