"""``stream-guard backtest``: run history through the production core and report per rule."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from stream_guard.backtest import Run, backtest_json, run
from stream_guard.backtest.report import render_report
from stream_guard.backtest.svg import short
from stream_guard.cli._common import (
    ModelsOption,
    byte_progress,
    err,
    labels_or_exit,
    load_rules_or_exit,
    open_events,
    rules_and_models_or_exit,
    rules_dir_or_default,
    settings_or_exit,
    write_json,
)
from stream_guard.cli.replay import print_problems
from stream_guard.core.clock import parse_duration
from stream_guard.core.errors import ConfigError
from stream_guard.core.rules.pack import RuleSet

#: Missed attacks listed, and examples per rule and kind of change in a diff (--json has more).
SHOWN = 10
DIFF_EXAMPLES = 3


def backtest_command(
    events: Annotated[
        Path,
        typer.Argument(
            help="History as JSONL (EVENTS.md), sorted by ts; .gz is read compressed; '-' reads standard input.",
            allow_dash=True,
        ),
    ],
    rules: Annotated[
        Path | None,
        typer.Option("--rules", help="The rule set to test (default: ./rules, else the bundled pack)."),
    ] = None,
    models: ModelsOption = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="labels.json of labelled traffic (EVENTS.md): recall per attack kind, benign users flagged, precision per rule, missed attacks.",
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="A rules directory to compare with, on the same events: decisions gained and lost per rule, with examples.",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write a self-contained HTML report here (charts, tables; works offline)."),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the figures as JSON here ('-': standard output).", allow_dash=True),
    ] = None,
    lateness: Annotated[
        str,
        typer.Option(help="Accept events this far behind a user's newest event (as replay and the worker)."),
    ] = "10m",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no console summary.")
    ] = False,
) -> None:
    """Backtest a rule set on history: per rule, how often it fires, on whom, when, and
    alongside which other rules; with labels, what it catches; with a baseline, what
    changes.

    The events go through the same detector as replay and the streaming worker. The
    summary goes to standard error; --json and --report write the full figures.
    """
    try:
        lateness_s = parse_duration(lateness)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--lateness") from None
    if baseline is not None and str(events) == "-":
        err.print("[red]error:[/] --baseline reads the events twice: give a file, not standard input")
        raise typer.Exit(2)
    for path, option in ((report, "--report"), (json_out, "--json")):
        if path is not None and str(path) != "-" and not path.parent.is_dir():
            err.print(f"[red]error:[/] {option}: no such directory: {escape(str(path.parent))}")
            raise typer.Exit(2)
    label_data = labels_or_exit(labels) if labels is not None else None
    ruleset, registry = rules_and_models_or_exit(rules, models)
    base_rules = load_rules_or_exit(baseline, scores=registry.names) if baseline is not None else None
    partitions = settings_or_exit(None).partitions

    def _run(rules: RuleSet, rules_dir: Path, verb: str) -> Run:
        with ExitStack() as stack:
            source, total = open_events(stack, events)
            progress = byte_progress(stack, verb, total, quiet=quiet)
            return run(source, rules, rules_dir=str(rules_dir), lateness=lateness_s, progress=progress,
                       models=registry, partitions=partitions)

    candidate = _run(ruleset, rules_dir_or_default(rules), "backtesting")
    base_run = None
    if base_rules is not None and baseline is not None:
        base_run = _run(base_rules, baseline, "baseline")
    doc = backtest_json(candidate, source=str(events), labels=label_data, baseline=base_run)
    try:
        if json_out is not None:
            write_json(json_out, doc)
        if report is not None:
            report.write_text(render_report(doc), encoding="utf-8")
    except OSError as exc:
        err.print(f"[red]error:[/] cannot write {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}")
        raise typer.Exit(2) from None
    if not quiet:
        print_backtest(doc, candidate)
        if report is not None:
            err.print(f"report: {report}")


# -- the console summary -------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def print_backtest(doc: dict[str, Any], candidate: Run) -> None:
    rep, period = doc["replay"], doc["period"]
    rate = doc["replay"]["events_per_second"] or 0
    err.print(
        f"[bold]{escape(doc['source'])}[/]: {rep['lines']:,} lines, {rep['events']:,} events, "
        f"{rep['invalid']:,} invalid, {rep['late']:,} late, {rep['duplicates']:,} duplicate; "
        f"{period['first_ts'] or '?'} … {period['last_ts'] or '?'} ({len(period['days'])} days); "
        f"rules {doc['rules_version']}; {rep['seconds']:.1f}s ({rate:,} events/s)"
    )
    print_rules(doc)
    print_sensitivity(doc)
    if "labels" in doc:
        print_rule_labels(doc)
        print_labels(doc["labels"])
    if "diff" in doc:
        print_diff(doc["diff"])
    print_problems(candidate.stats)


def _ranked(rules: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(rules.items(), key=lambda kv: (-kv[1]["decisions"], kv[0]))


def print_rules(doc: dict[str, Any]) -> None:
    by_mode = doc["decisions"]["by_mode"]
    modes = ", ".join(f"{n:,} {m}" for m, n in by_mode.items())
    table = Table(
        title=f"{doc['decisions']['total']:,} decisions ({modes or 'none'}) over {len(doc['period']['days'])} days",
        title_justify="left",
    )
    table.add_column("rule", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    for col in ("decisions", "users", "/day", "unique"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("overlaps most with", overflow="fold", min_width=10)  # narrowed first
    for rid, r in _ranked(doc["rules"]):
        top = next(iter(r["overlap"].items()), None)
        overlap = f"{top[0]} ({top[1]['decisions']:,})" if top and top[1]["decisions"] else ""
        table.add_row(*(escape(str(c)) for c in (
            rid, r["mode"], f"{r['decisions']:,}", f"{r['users']:,}", f"{r['per_day_mean']:.2f}",
            f"{r['unique_decisions']:,}", overlap)))
    err.print(table)


def print_rule_labels(doc: dict[str, Any]) -> None:
    table = Table(title="each rule against the labels, as if enforced", title_justify="left")
    table.add_column("rule", no_wrap=True)
    for col in ("attacks caught", "hits", "false alarms", "precision", "benign flagged"):
        table.add_column(col, justify="right")
    rows = [(rid, r["labels"]) for rid, r in _ranked(doc["rules"]) if r["decisions"] and "labels" in r]
    if not rows:
        return
    for rid, lab in rows:
        table.add_row(escape(rid), f"{lab['attacks_caught']:,}", f"{lab['hits']:,}", f"{lab['false_alarms']:,}",
                      _pct(lab["precision"]), f"{lab['benign_users_flagged']:,}")
    err.print(table)


def print_sensitivity(doc: dict[str, Any]) -> None:
    rows = [(rid, r["sensitivity"]) for rid, r in doc["rules"].items() if "sensitivity" in r]
    if not rows:
        return
    table = Table(title="aggregate rules at nearby thresholds (decisions)", title_justify="left")
    table.add_column("rule")
    table.add_column("threshold", justify="right")
    table.add_column("decisions at threshold: …", justify="left")
    for rid, s in rows:
        points = " · ".join(
            (f"[bold]{short(p['threshold'])}: {p['decisions']:,}[/]" if p["factor"] == 1
             else f"{short(p['threshold'])}: {p['decisions']:,}")
            for p in s["points"]
        )
        table.add_row(escape(rid), short(s["threshold"]), points)
    err.print(table)


def print_labels(lab: dict[str, Any]) -> None:
    table = Table(title=f"labelled attacks: {lab['caught']}/{lab['attacks']} caught ({lab['recall']:.0%})",
                  title_justify="left")
    table.add_column("attack kind")
    table.add_column("caught", justify="right")
    table.add_column("recall", justify="right")
    for kind, n in lab["attacks_by_kind"].items():
        table.add_row(escape(kind), f"{lab['caught_by_kind'].get(kind, 0)}/{n}", _pct(lab["recall_by_kind"][kind]))
    err.print(table)
    err.print(
        f"benign users flagged by an enforced decision: {len(lab['benign_flagged']):,} of "
        f"{lab['benign_users']:,} ({lab['benign_flagged_share']:.1%})"
    )
    if lab["missed"]:
        err.print(f"[yellow]missed by every rule:[/] {len(lab['missed'])}")
        for a in lab["missed"][:SHOWN]:
            who = a.get("user_id") or f"ip {a.get('ip')} ({len(a.get('victims') or [])} victims)"
            shadow = f" — caught in shadow by {', '.join(a['caught_by_shadow'])}" if a.get("caught_by_shadow") else ""
            event = f" (event {a['key_event_id']})" if a.get("key_event_id") else ""
            err.print(f"  {escape(a['kind'])} {escape(str(who))} at {a['key_ts']}{escape(event)}{escape(shadow)}")
        if len(lab["missed"]) > SHOWN:
            err.print(f"  … and {len(lab['missed']) - SHOWN} more (see --json)")


def print_diff(diff: dict[str, Any]) -> None:
    tot, base = diff["totals"], diff["baseline"]
    err.print(
        f"[bold]against {escape(base['rules_dir'])}[/] (rules {base['rules_version']}): "
        f"[green]+{tot['gained']:,} gained[/], [red]-{tot['lost']:,} lost[/], {tot['changed']:,} changed "
        f"({tot['baseline']:,} → {tot['candidate']:,} decisions)"
    )
    defs = diff["definitions"]
    for key, label in (("rules_added", "rules added"), ("rules_removed", "rules removed")):
        if defs[key]:
            err.print(f"  {label}: {escape(', '.join(defs[key]))}")
    for rid, keys in defs["rules_changed"].items():
        err.print(f"  rule {escape(rid)} changed: {escape(', '.join(keys))}")
    for key in ("levels_changed", "lists_changed", "macros_changed"):
        if defs[key]:
            err.print(f"  {key.replace('_', ' ')}: {escape(', '.join(defs[key]))}")
    changed = {rid: r for rid, r in diff["rules"].items() if r["gained"] or r["lost"] or r["changed"]}
    if not changed:
        err.print("  no decision differs")
        return
    for rid, r in changed.items():
        err.print(
            f"[bold]{escape(rid)}[/]: {r['baseline']:,} → {r['candidate']:,} "
            f"([green]+{r['gained']:,}[/] on {r['gained_users']:,} users, "
            f"[red]-{r['lost']:,}[/] on {r['lost_users']:,} users, {r['changed']:,} changed)"
        )
        ex = r["examples"]
        for sign, colour, items in (("+", "green", ex["gained"]), ("-", "red", ex["lost"]), ("~", "yellow", ex["changed"])):
            for e in items[:DIFF_EXAMPLES]:
                what = f" ({e['change']})" if "change" in e else ""
                err.print(f"  [{colour}]{sign}[/] {escape(e['ts'])} {escape(e['user_id'])} {escape(e['event_id'])}: "
                          f"{escape(e['reason'])}{escape(what)}")
