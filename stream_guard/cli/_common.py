"""Console helpers shared by the commands: one stderr console, rule loading with readable errors."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import typer
from rich.console import Console

from stream_guard.core.errors import RuleSetError
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.pack import RuleSet
from stream_guard.paths import default_rules_dir

err = Console(stderr=True, highlight=False, soft_wrap=True)


def rules_dir_or_default(directory: Path | None) -> Path:
    return directory if directory is not None else default_rules_dir()


def load_rules_or_exit(directory: Path | None, *, scores: Collection[str] = ()) -> RuleSet:
    """Load a rule set, or print every error as file:line:col and exit with status 1."""
    path = rules_dir_or_default(directory)
    try:
        return load_rules(path, scores=scores)
    except RuleSetError as exc:
        for e in exc.errors:
            err.print(e.render(), markup=False)
        err.print(f"[red]{len(exc.errors)} error(s)[/] in {path}")
        raise typer.Exit(1) from None
