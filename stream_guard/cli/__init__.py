"""The ``stream-guard`` command line (typer + rich)."""

from __future__ import annotations

import inspect

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


def _flowing(text: str) -> str:
    """Each paragraph of a docstring on one line: in rich markup mode typer keeps a docstring's
    line breaks, so at any terminal width but the source's its lines came out ragged (a
    lone word on a line, or a short line in the command list)."""
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


def _flow_help(t: typer.Typer) -> None:
    """Every command's and group's help in ``t`` (and below) as :func:`_flowing` paragraphs."""
    infos = [*t.registered_commands, t.info, *([t.registered_callback] if t.registered_callback else [])]
    for info in infos:
        doc = info.help if isinstance(info.help, str) else inspect.getdoc(info.callback) if info.callback else None
        if doc:
            info.help = _flowing(doc)
    for group in t.registered_groups:
        if isinstance(group.help, str):
            group.help = _flowing(group.help)
        _flow_help(group.typer_instance)


_flow_help(app)


def main() -> None:
    app()
