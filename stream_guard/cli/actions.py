"""``stream-guard actions`` (the actions agent) and ``stream-guard freeze`` (status, lift, audit)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from stream_guard.cli._common import (
    BrokerOpt,
    ConfigOpt,
    err,
    out,
    quiet_kafka_client,
    settings_or_exit,
)
from stream_guard.core.errors import ConfigError, StreamGuardError

RedisOpt = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Redis URL: redis://host:port/db, rediss://…, redis+cluster://host:port (env STREAM_GUARD_REDIS_URL; default redis://127.0.0.1:6379/0).",
        show_default=False,
    ),
]


def actions_command(
    broker: BrokerOpt = None,
    redis: RedisOpt = None,
    webhook_url: Annotated[
        str | None, typer.Option("--webhook-url", help="Also POST every alert here (JSON, retried with backoff).", show_default=False)
    ] = None,
    web_port: Annotated[int | None, typer.Option("--web-port", help="Faust's web port (default 6066).", show_default=False)] = None,
    log_level: Annotated[str | None, typer.Option("--log-level", "-l", help="debug, info, warn or error (default warn).", show_default=False)] = None,
    stats_file: Annotated[
        Path | None, typer.Option("--stats-file", help="Write the agent's counters here as JSON every second.", show_default=False)
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Turn decisions into actions: callback tasks, freezes, alerts (runs until Ctrl-C).

    Consumes stream-guard.decisions in its own consumer group, writes tasks, freezes and
    alerts to Redis, publishes freeze changes to stream-guard.freezes and alerts to
    stream-guard.alerts. Decisions are committed only once their actions are done; while
    Redis is unreachable the agent waits and retries.
    """
    flags: dict[str, Any] = {"broker": broker, "redis_url": redis, "web_port": web_port,
                             "log_level": log_level, "stats_file": stats_file}
    settings = settings_or_exit(config, **flags)
    if webhook_url:
        settings = settings.model_copy(update={"actions": settings.actions.model_copy(update={"webhook_url": webhook_url})})
    catalog = _catalog_or_exit(settings)
    from stream_guard.actions.agent import run_actions

    try:
        with quiet_kafka_client():
            run_actions(settings, catalog)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


def _catalog_or_exit(settings: Any) -> Any:
    from stream_guard.actions.templates import Catalog, TemplateError

    try:
        return Catalog.load(settings.actions.templates_dir)
    except TemplateError as exc:
        for p in exc.problems:
            err.print(p, markup=False)
        err.print(f"[red]{len(exc.problems)} error(s)[/] in the alert templates")
        raise typer.Exit(1) from None


# -- freeze ------------------------------------------------------------------------------------

freeze_app = typer.Typer(help="Read and lift account freezes (every change goes to the audit trail).", no_args_is_help=True)


def _run(settings: Any, fn: Any) -> Any:
    """Run ``fn(store)`` against the settings' Redis; exit 1 with a message if unreachable."""
    from stream_guard.actions.connection import connect, ping
    from stream_guard.actions.store import ActionsStore

    async def go() -> Any:
        client = connect(settings.redis_url)
        try:
            await ping(client, settings.redis_url, wait=3.0)
            return await fn(ActionsStore(client, settings.actions))
        finally:
            await client.aclose()

    try:
        return asyncio.run(go())
    except StreamGuardError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None


@freeze_app.command("status")
def freeze_status(
    user: Annotated[str, typer.Argument(help="The user id.")],
    redis: RedisOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the status as JSON.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Whether USER's withdrawals and logins are frozen, and by which freezes (exit 0 either way)."""
    from stream_guard.actions.freezes import FreezeRegistry

    settings = settings_or_exit(config, redis_url=redis)
    st = _run(settings, lambda store: FreezeRegistry(store).status(user))
    if as_json:
        print(st.model_dump_json())
        return
    def yes(v: bool) -> str:
        return "[bold red]frozen[/]" if v else "[green]allowed[/]"
    out.print(f"user [bold]{escape(user)}[/]: withdrawals {yes(st.withdrawals_frozen)}, login {yes(st.login_frozen)}")
    if st.freezes:
        t = Table("freeze", "scope", "since", "until", "by", "reason", "decisions")
        for f in st.freezes:
            t.add_row(escape(f.freeze_id), f.scope, f"{f.created_at:%Y-%m-%d %H:%M:%S}Z",
                      f"{f.expires_at:%Y-%m-%d %H:%M:%S}Z" if f.expires_at else "lifted by hand",
                      escape(f.by), escape(f.reason), escape(", ".join(f.decision_ids)))
        out.print(t)


@freeze_app.command("lift")
def freeze_lift(
    user: Annotated[str, typer.Argument(help="The user id.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why (goes to the audit trail).")],
    by: Annotated[str | None, typer.Option("--by", help="Who lifts it (default: $USER).", show_default=False)] = None,
    scope: Annotated[str | None, typer.Option("--scope", help="Only freezes of this scope: withdrawals, login or all.", show_default=False)] = None,
    freeze_id: Annotated[list[str] | None, typer.Option("--freeze", help="Only this freeze (repeatable).", show_default=False)] = None,
    redis: RedisOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Lift USER's active freezes; exit 1 if none was active."""
    import getpass

    from stream_guard.actions.freezes import FreezeRegistry

    settings = settings_or_exit(config, redis_url=redis)
    who = by or getpass.getuser()
    lifted = _run(settings, lambda store: FreezeRegistry(store).lift(user, reason=reason, by=who, scope=scope, freeze_ids=freeze_id or None))
    if not lifted:
        err.print(f"no active freeze{' of scope ' + scope if scope else ''} for {escape(user)}")
        raise typer.Exit(1)
    out.print(f"lifted {len(lifted)} freeze(s) of {escape(user)}: {escape(', '.join(lifted))} (by {escape(who)})")


@freeze_app.command("audit")
def freeze_audit(
    user: Annotated[str, typer.Argument(help="The user id.")],
    redis: RedisOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    config: ConfigOpt = None,
) -> None:
    """USER's freeze audit trail, oldest first: who, when, why, which decisions."""
    from stream_guard.actions.freezes import FreezeRegistry

    settings = settings_or_exit(config, redis_url=redis)
    trail = _run(settings, lambda store: FreezeRegistry(store).audit(user))
    if as_json:
        for e in trail:
            print(e.model_dump_json())
        return
    t = Table("when (UTC)", "change", "scope", "by", "reason", "decisions", "after")
    for e in trail:
        after = ", ".join(n for n, v in (("withdrawals", e.withdrawals_frozen), ("login", e.login_frozen)) if v) or "nothing frozen"
        t.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.action, e.scope, escape(e.by), escape(e.reason),
                  escape(", ".join(e.decision_ids)), after)
    out.print(t if trail else f"no freeze changes for {escape(user)}")


# -- tasks -------------------------------------------------------------------------------------

tasks_app = typer.Typer(help="The callback task queue: list, show, claim, resolve, release.", no_args_is_help=True)


@tasks_app.command("list")
def tasks_list(
    redis: RedisOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show.")] = 20,
    breached: Annotated[bool, typer.Option("--breached", help="Only tasks past their SLA deadline.")] = False,
    config: ConfigOpt = None,
) -> None:
    """Open tasks in the order they will be worked, with counts and SLA breaches."""
    from stream_guard.actions.tasks import TaskQueue

    settings = settings_or_exit(config, redis_url=redis)

    async def go(store: Any) -> Any:
        q = TaskQueue(store)
        rows = await (q.breaches(limit=limit) if breached else q.entries(limit=limit))
        return rows, await q.counts()

    rows, counts = _run(settings, go)
    ready = ", ".join(f"{k} {v}" for k, v in counts.ready.items())
    out.print(f"open {counts.open} (ready: {ready}; claimed {counts.leased}; waiting to retry {counts.delayed}) · "
              f"[bold red]past SLA {counts.breached}[/] · escalated {counts.escalated}")
    t = Table("task", "state", "priority", "lang", "deadline (UTC)", "agent")
    for e in rows:
        t.add_row(escape(e.task_id), e.state, e.priority, e.lang, f"{e.deadline:%Y-%m-%d %H:%M:%S}", escape(e.owner or ""))
    out.print(t)


def _task_or_exit(task: Any, task_id: str) -> Any:
    if task is None:
        err.print(f"no task {escape(task_id)}")
        raise typer.Exit(1)
    return task


def _print_profile(decisions: list[Any]) -> None:
    """Who the user is, as the newest decision that says knew him (see docs/api.md)."""
    newest = next((d for d in reversed(decisions) if getattr(d, "profile", None)), None)
    if newest is None:
        out.print("[bold]the user:[/] not known (rules keyed by an IP or an address, or the user's first event)")
        return
    p = newest.profile
    login = p.get("last_login") or {}
    countries = p.get("countries") or []
    change = p.get("last_security_change") or {}
    w, dep = p.get("withdrawals") or {}, p.get("deposits") or {}
    lines = [
        f"account {p.get('account_age_days')} days old · locale {p.get('locale') or '-'}",
        f"last sign-in {login.get('at')} from {login.get('country') or '?'} on {login.get('device') or '?'}"
        if login else "no successful sign-in seen",
        f"signs in from {', '.join(countries) or 'no known country'} · {p.get('devices_known')} device(s) · "
        f"{p.get('ips_known')} IP(s) · 2FA {'on' if p.get('mfa_enabled') else 'OFF'} · "
        f"{p.get('failed_login_streak', 0)} failed sign-in(s) in a row",
        f"last security change: {change.get('kind')} {change.get('at')}" if change else "no security change seen",
        f"withdrawals {w.get('count', 0)} (largest {w.get('max_krw', 0):,} KRW, last {w.get('last_at') or '-'}) · "
        f"deposits {dep.get('count', 0)} (largest {dep.get('max_krw', 0):,} KRW, last {dep.get('last_at') or '-'})",
    ]
    out.print(f"[bold]the user[/] (as known just before {escape(newest.ts)}, {escape(newest.rule_id)}):")
    for line in lines:
        out.print(f"  {escape(line)}")


def _print_task(task: Any, script: Any = None) -> None:
    out.print(f"[bold]{escape(task.task_id)}[/] {task.state} · priority {task.priority} · language {task.lang}"
              f" (locale {escape(task.locale or '-')}) · deadline {task.deadline:%Y-%m-%d %H:%M:%S}Z"
              + (f" · agent {escape(task.owner)} until {task.lease_until:%H:%M:%S}Z" if task.owner and task.lease_until else "")
              + (f" · outcome {task.outcome}" + (" (escalated)" if task.escalated else "") if task.outcome else ""))
    out.print(f"reason: {escape(task.reason)}")
    t = Table("decision", "rule", "severity", "event time", "reason")
    for d in task.decisions:
        t.add_row(escape(d.decision_id), escape(d.rule_id), d.severity, escape(d.ts), escape(d.reason))
    out.print(t)
    _print_profile(task.decisions)
    if script is not None:
        out.print(f"[bold]call script ({script.language}): {escape(script.title)}[/]")
        for i, step in enumerate(script.steps, 1):
            out.print(f"  {i}. {escape(step)}")
    for e in task.log:
        extra = {k: v for k, v in e.model_dump().items() if k not in ("at", "event") and v not in (None, "")}
        out.print(f"  [dim]{e.at:%Y-%m-%d %H:%M:%S}Z {e.event} {escape(str(extra)) if extra else ''}[/]")


AgentOpt = Annotated[str, typer.Option("--agent", "-a", help="The agent's name (goes to the task's history).")]


@tasks_app.command("show")
def tasks_show(
    task_id: Annotated[str, typer.Argument(help="The task id, e.g. u-1029~1.")],
    redis: RedisOpt = None,
    config: ConfigOpt = None,
) -> None:
    """A task: its decisions, the call script in the user's language, its history."""
    from stream_guard.actions.formatting import zone
    from stream_guard.actions.tasks import TaskQueue

    settings = settings_or_exit(config, redis_url=redis)
    catalog = _catalog_or_exit(settings)
    task = _task_or_exit(_run(settings, lambda store: TaskQueue(store).get(task_id)), task_id)
    _print_task(task, catalog.script_for_task(task, zone(settings.actions.timezone)))


@tasks_app.command("claim")
def tasks_claim(
    agent: AgentOpt,
    lang: Annotated[list[str], typer.Option("--lang", help="A language the agent speaks (repeatable; * for any).")],
    redis: RedisOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Claim the next task in the agent's languages (exit 1 if there is none)."""
    from stream_guard.actions.formatting import zone
    from stream_guard.actions.tasks import TaskQueue

    settings = settings_or_exit(config, redis_url=redis)
    catalog = _catalog_or_exit(settings)
    task = _run(settings, lambda store: TaskQueue(store).claim(agent, lang))
    if task is None:
        err.print(f"no task waiting in {', '.join(lang)}")
        raise typer.Exit(1)
    _print_task(task, catalog.script_for_task(task, zone(settings.actions.timezone)))


@tasks_app.command("resolve")
def tasks_resolve(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    agent: AgentOpt,
    outcome: Annotated[str, typer.Option("--outcome", "-o", help="confirmed_legitimate, confirmed_fraud or unreachable.")],
    note: Annotated[str, typer.Option("--note", help="What the user said (goes to the history and the audit trail).")] = "",
    redis: RedisOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Record a call's outcome: lifts the task's freezes, keeps them and escalates, or calls again later."""
    from stream_guard.actions.tasks import TaskQueue

    settings = settings_or_exit(config, redis_url=redis)
    r = _run(settings, lambda store: TaskQueue(store).resolve(task_id, agent, outcome, note))
    what = f"{escape(task_id)}: {r.outcome.value}"
    if r.retry_at is not None:
        what += f", calling again after {r.retry_at:%Y-%m-%d %H:%M:%S}Z (attempt {r.attempts})"
    if r.escalated:
        what += ", escalated"
    if r.freezes_changed:
        what += f"; freezes changed: {escape(', '.join(r.freezes_changed))}"
    out.print(what)


@tasks_app.command("release")
def tasks_release(
    task_id: Annotated[str, typer.Argument(help="The task id.")],
    agent: AgentOpt,
    redis: RedisOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Give a claimed task back to the queue (it keeps its place)."""
    from stream_guard.actions.tasks import TaskQueue

    settings = settings_or_exit(config, redis_url=redis)
    _run(settings, lambda store: TaskQueue(store).release(task_id, agent))
    out.print(f"{escape(task_id)} is back in the queue")


# -- alerts ------------------------------------------------------------------------------------

alerts_app = typer.Typer(help="Alert templates, security reminders and call scripts.", no_args_is_help=True)


@alerts_app.command("check")
def alerts_check(
    directory: Annotated[Path | None, typer.Argument(help="Templates directory (default: ./alerts, else the bundled ones).", show_default=False)] = None,
    rules: Annotated[Path | None, typer.Option("--rules", help="Also check that every template and reminder these rules name exists.", show_default=False)] = None,
) -> None:
    """Validate the template files: every problem as file:line:column, exit 1 on any."""
    from stream_guard.actions.templates import ALERT, REMINDER, Catalog, TemplateError
    from stream_guard.cli._common import load_rules_or_exit

    try:
        catalog = Catalog.load(directory)
    except TemplateError as exc:
        for p in exc.problems:
            err.print(p, markup=False)
        err.print(f"[red]{len(exc.problems)} error(s)[/]")
        raise typer.Exit(1) from None
    problems = []
    if rules is not None:
        ruleset = load_rules_or_exit(rules)
        actions = [a for r in ruleset.rules for a in r.actions]
        actions += [a.to_dict() for lv in ruleset.policy.levels for a in lv.actions]
        for name in catalog.missing(ALERT, sorted({a["template"] for a in actions if a["kind"] == "alert"})):
            problems.append(f"{rules}: a rule sends alert template {name!r}, which {catalog.directory}/en.yaml does not have")
        for name in catalog.missing(REMINDER, sorted({a["topic"] for a in actions if a["kind"] == "remind"})):
            problems.append(f"{rules}: a rule sends reminder {name!r}, which {catalog.directory}/en.yaml does not have")
    for p in problems:
        err.print(p, markup=False)
    t = Table("language", "alerts", "reminders", "call scripts")
    for lang in catalog.languages:
        kinds = [k for (la, k, _) in catalog.templates if la == lang]
        t.add_row(lang, str(kinds.count(ALERT)), str(kinds.count(REMINDER)), str(sum(1 for la, _ in catalog.scripts if la == lang)))
    out.print(t)
    if problems:
        raise typer.Exit(1)
