"""``stream-guard models check|evaluate``: validate model declarations, measure them on labelled traffic."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from stream_guard.cli._common import (
    ModelsOption,
    byte_progress,
    err,
    labels_or_exit,
    models_or_exit,
    open_events,
    out,
    rules_and_models_or_exit,
    settings_or_exit,
    write_json,
)

app = typer.Typer(help="Check anomaly model declarations and evaluate them on labelled traffic.", no_args_is_help=True)

DirArg = Annotated[
    Path | None,
    typer.Argument(help="Models directory (default: ./models if present, else the bundled declarations).", show_default=False),
]


@app.command("check")
def check(directory: DirArg = None) -> None:
    """Validate every model declaration (file:line:column errors, exit status 1 on any)."""
    registry = models_or_exit(directory)
    table = Table(title=f"{len(registry)} models OK in {registry.source}")
    for col in ("name (score.<name>)", "kind", "estimator", "on", "reads", "warm-up"):
        table.add_column(col)
    for m in registry.models:
        s = m.spec
        if s.kind == "combined":
            reads = f"no. {s.at_least} of {', '.join(s.of)}"
        elif s.features:
            reads = f"{len(s.features)} features"
        else:
            reads = s.value or "the hour"
        table.add_row(s.name, s.kind, s.estimator, s.on or "", reads, str(s.warmup))
    out.print(table)


@app.command("evaluate")
def evaluate_command(
    events: Annotated[Path, typer.Argument(help="Labelled traffic's events.jsonl (EVENTS.md), sorted by ts; .gz is read compressed.")],
    labels: Annotated[Path, typer.Option("--labels", help="Its labels.json (EVENTS.md).")],
    models: ModelsOption = None,
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="The rule pack to score with and without its model-based rules (default: ./rules, else the bundled pack).", show_default=False),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the figures as JSON here ('-': standard output).", allow_dash=True, show_default=False),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no console summary.")] = False,
) -> None:
    """Per model: ROC AUC and precision at the top 1% (positives: the attacks' key events;
    negatives: every event of benign users). Then the pack's recall and benign users
    flagged, with and without its model-based rules (docs/models.md)."""
    from stream_guard.backtest.evaluate import evaluate

    if str(events) == "-":
        err.print("[red]error:[/] evaluate reads the events twice: give a file, not standard input")
        raise typer.Exit(2)
    if json_out is not None and str(json_out) != "-" and not json_out.parent.is_dir():
        err.print(f"[red]error:[/] --json: no such directory: {escape(str(json_out.parent))}")
        raise typer.Exit(2)
    label_data = labels_or_exit(labels)
    ruleset, registry = rules_and_models_or_exit(rules, models)
    partitions = settings_or_exit(None).partitions
    with ExitStack() as stack:
        _, total = open_events(stack, events)  # exits with status 2 if there is no such file
        bars: dict[str, object] = {}

        def read():
            return open_events(stack, events)[0]  # afresh for each pass

        def progress(phase: str, n: int) -> None:
            if phase not in bars:
                bars[phase] = byte_progress(stack, phase, total, quiet=quiet)
            bar = bars[phase]
            if bar is not None:
                bar(n)  # type: ignore[operator]

        doc = evaluate(read, ruleset, registry, label_data, partitions=partitions, progress=progress)
    if json_out is not None:
        write_json(json_out, doc)
    if not quiet:
        print_evaluation(doc)


def _num(x: float | None, fmt: str = "{:.3f}") -> str:
    return "–" if x is None else fmt.format(x)


def print_evaluation(doc: dict) -> None:
    table = Table(title=f"models on {doc['events']:,} events ({doc['partitions']} partitions)", title_justify="left")
    for col in ("model", "ROC AUC", "precision @ top 1%", "positives", "negatives"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, m in doc["models"].items():
        table.add_row(name, _num(m["roc_auc"]), _num(m["precision_at_1pct"]), f"{m['positives']:,}", f"{m['negatives']:,}")
    err.print(table)
    pack = Table(title="the rule pack", title_justify="left")
    for col in ("", "recall", "benign users flagged"):
        pack.add_column(col, justify="left" if not col else "right")
    for key, label in (("rules_only", "rules only"), ("rules_and_models", "rules and models")):
        f = doc[key]
        pack.add_row(label, f"{f['recall']:.1%}", f"{f['benign_flagged_share']:.2%}")
    err.print(pack)
    err.print(f"model-based rules: {', '.join(doc['model_rules']) or 'none'}")
