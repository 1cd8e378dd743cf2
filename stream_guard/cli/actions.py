"""``stream-guard actions`` (the actions agent) and ``stream-guard freeze`` (status, lift, audit)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from stream_guard.cli._common import BrokerOpt, ConfigOpt, err, quiet_kafka_client, settings_or_exit
from stream_guard.core.errors import ConfigError, StreamGuardError

RedisOpt = Annotated[
    str | None,
    typer.Option(
        "--redis",
        help="Redis URL: redis://host:port/db, rediss://…, redis+cluster://host:port (env STREAM_GUARD_REDIS_URL; default redis://127.0.0.1:6379/0).",
        show_default=False,
    ),
]
out = Console(highlight=False, soft_wrap=True)


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

tasks_app = typer.Typer(help="The callback task queue at a glance (agents work it through the API).", no_args_is_help=True)


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
