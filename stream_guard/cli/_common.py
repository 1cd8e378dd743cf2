"""Console helpers shared by the commands: one stderr console, rule loading with readable errors."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import sys
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, BinaryIO

import orjson
import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from stream_guard.backtest.labels import LabelError, load_labels
from stream_guard.core.errors import ConfigError, RuleSetError
from stream_guard.core.models import ModelRegistry, load_models
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.pack import RuleSet
from stream_guard.paths import default_models_dir, default_rules_dir
from stream_guard.settings import Settings, load_settings

#: How wide tables are drawn when no terminal says (a file, a pipe, a CI log) and COLUMNS is
#: unset; rich's 80 squeezed the backtest's rule table to "mo…" and "de…" columns.
UNATTENDED_WIDTH = 160


class CliConsole(Console):
    """rich's console, drawing :data:`UNATTENDED_WIDTH` columns wide when it writes to no
    terminal and COLUMNS is unset (a terminal, or COLUMNS, decide as usual)."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self._width is None and not self.is_terminal and "COLUMNS" not in self._environ:
            return ConsoleDimensions(max(size.width, UNATTENDED_WIDTH), size.height)
        return size

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


err = CliConsole(stderr=True, highlight=False, soft_wrap=True)
out = CliConsole(highlight=False, soft_wrap=True)


def rules_dir_or_default(directory: Path | None) -> Path:
    return directory if directory is not None else default_rules_dir()


def load_rules_or_exit(directory: Path | None, *, scores: Collection[str] | None = None) -> RuleSet:
    """Load a rule set, or print every error as file:line:col and exit with status 1.

    ``scores``: the model names rules may read as ``score.<name>`` (default: the default
    models directory's)."""
    path = rules_dir_or_default(directory)
    if scores is None:
        scores = models_or_exit(None).names
    try:
        return load_rules(path, scores=scores)
    except RuleSetError as exc:
        _print_errors(exc, path)
        raise typer.Exit(1) from None


#: The ``--models`` option of the commands that run the core.
ModelsOption = Annotated[
    Path | None,
    typer.Option(
        "--models",
        help="Anomaly model declarations (default: ./models, else the bundled ones; an empty directory: no models).",
        show_default=False,
    ),
]


def rules_and_models_or_exit(rules: Path | None, models: Path | None) -> tuple[RuleSet, ModelRegistry]:
    """The models, and the rules checked against their names (``score.<name>``), or exit 1."""
    registry = models_or_exit(models)
    return load_rules_or_exit(rules, scores=registry.names), registry


def models_or_exit(directory: Path | None) -> ModelRegistry:
    """The model declarations (default: ./models, else the bundled ones), or every error as
    file:line:col and exit with status 1."""
    path = directory if directory is not None else default_models_dir()
    try:
        return load_models(path)
    except RuleSetError as exc:
        _print_errors(exc, path)
        raise typer.Exit(1) from None


def _print_errors(exc: RuleSetError, path: Path) -> None:
    for e in exc.errors:
        err.print(e.render(), markup=False)
    err.print(f"[red]{len(exc.errors)} error(s)[/] in {path}")


def labels_or_exit(path: Path) -> dict:
    """A validated labels.json (EVENTS.md), or every problem by field and exit status 2."""
    try:
        return load_labels(path)
    except LabelError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


def open_events(stack: ExitStack, events: Path) -> tuple[BinaryIO, int | None]:
    """A JSONL events file ('-': standard input; .gz: read compressed) and its size in bytes
    for a progress bar (None when unknown); exits with status 2 if there is no such file."""
    if str(events) == "-":
        return sys.stdin.buffer, None
    if not events.is_file():
        err.print(f"[red]no such file:[/] {events}")
        raise typer.Exit(2)
    if events.suffix == ".gz":  # compressed: progress counts uncompressed bytes, total unknown
        return stack.enter_context(gzip.open(events, "rb")), None
    return stack.enter_context(events.open("rb")), events.stat().st_size


def byte_progress(
    stack: ExitStack, verb: str, total: int | None, *, quiet: bool
) -> Callable[[int], None] | None:
    """A transient progress bar over bytes read, on a terminal only (not quiet, not in CI);
    returns the callback to feed it the bytes done so far, or None when there is no bar."""
    if quiet or not err.is_terminal or os.environ.get("CI"):
        return None
    progress = stack.enter_context(
        Progress(
            TextColumn(verb),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
    )
    task = progress.add_task(verb, total=total)
    return lambda n: progress.update(task, completed=n)


# -- the Kafka commands ------------------------------------------------------------------

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        "-b",
        help="Kafka bootstrap servers, kafka://host:port (env STREAM_GUARD_BROKER; default kafka://127.0.0.1:9092).",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Settings file (.toml or .yaml; env STREAM_GUARD_CONFIG).",
        show_default=False,
    ),
]
WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait", min=0.1, help="Seconds to wait for the broker to answer before giving up."
    ),
]


def settings_or_exit(config: Path | None, **flags: object) -> Settings:
    """Settings from flags, environment and file; a readable message and status 2 if bad."""
    try:
        return load_settings(config, **flags)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None


@contextlib.contextmanager
def quiet_kafka_client() -> Iterator[None]:
    """Hide aiokafka's own log lines (each failed connection): our messages say it once."""
    logger = logging.getLogger("aiokafka")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


def write_json(path: Path, doc: object) -> None:
    """``doc`` as indented JSON into ``path`` ('-': standard output); OSError if it cannot."""
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    if str(path) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        path.write_bytes(data)
