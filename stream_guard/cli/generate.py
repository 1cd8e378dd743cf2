"""``stream-guard generate``: synthetic labelled traffic for demos, tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from stream_guard.cli._common import err


def generate_command(
    out_dir: Annotated[
        Path,
        typer.Argument(
            help="Directory to write events.jsonl and labels.json into (created if needed)."
        ),
    ],
    users: Annotated[int, typer.Option(min=10, max=1_000_000, help="Number of users.")] = 1000,
    days: Annotated[int, typer.Option(min=1, max=366, help="Days of traffic.")] = 14,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same bytes.")] = 7,
    start: Annotated[
        str | None, typer.Option(help="First day, RFC 3339 (default 2026-11-01T00:00:00+09:00).")
    ] = None,
    attacks_per_kind: Annotated[
        int | None,
        typer.Option(min=1, help="Attacks of each kind (default: users/200, at least 1)."),
    ] = None,
) -> None:
    """Write realistic synthetic traffic with labelled injected attacks (EVENTS.md's labelled format).

    Benign users have habits, trips abroad with real flight times, new phones, password
    typos; whales and small traders; plus every attack kind the default rules target.
    """
    from stream_guard.generator import generate, write_labelled

    begin = datetime.fromisoformat(start) if start else None
    with Progress(
        TextColumn("generating users"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("users", total=users)
        traffic = generate(
            users=users,
            days=days,
            seed=seed,
            start=begin,
            attacks_per_kind=attacks_per_kind,
            progress=lambda n: progress.update(task, completed=n),
        )
    events_path, labels_path = write_labelled(traffic, out_dir)
    kinds = Counter(a["kind"] for a in traffic.labels["attacks"])
    err.print(
        f"wrote {len(traffic.events):,} events to {events_path} and labels to {labels_path}: "
        f"{len(traffic.labels['benign_users']):,} benign users, {sum(kinds.values())} attacks "
        f"({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})"
    )
