"""``stream-guard api``: serve the HTTP API and the agents' console; ``api hash-token``: make a token."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from stream_guard.cli._common import ConfigOpt, err, settings_or_exit
from stream_guard.cli.actions import RedisOpt, _catalog_or_exit
from stream_guard.core.errors import ConfigError

api_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)


@api_app.callback(invoke_without_command=True)
def api_command(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8080,
    redis: RedisOpt = None,
    tokens_file: Annotated[
        Path | None,
        typer.Option("--tokens", help="A TOML or YAML file of tokens (a `tokens` list; env STREAM_GUARD_API__TOKENS_FILE).", show_default=False),
    ] = None,
    log_level: Annotated[
        str | None, typer.Option("--log-level", "-l", help="debug, info (one line per request), warn or error (default warn).", show_default=False)
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the HTTP API and the agents' console at /console/ (runs until Ctrl-C).

    Every route under /api/v1 needs a bearer token from the configuration (api.tokens in the
    settings file, or --tokens FILE); /health/live, /health/ready and /openapi.json are public.
    Starts even while Redis is away: /health/ready answers 503 until it is back.
    """
    if ctx.invoked_subcommand is not None:
        return
    from stream_guard.api.app import check_tokens, create_app
    from stream_guard.api.config import all_tokens

    settings = settings_or_exit(config, redis_url=redis, log_level=log_level)
    if tokens_file is not None:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update={"tokens_file": tokens_file})})
    from stream_guard.actions.connection import connect

    try:
        tokens = all_tokens(settings.api)
        check_tokens(tokens)
        connect(settings.redis_url)  # a bad URL fails here, not in uvicorn's startup (it connects only when used)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    app = create_app(settings, tokens, catalog=_catalog_or_exit(settings))

    import uvicorn

    roles = ", ".join(f"{sum(1 for t in tokens if t.role == r)} {r}" for r in ("agent", "analyst", "admin"))
    where = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
    err.print(f"stream-guard api on {where} (console {where}/console/), Redis {escape(settings.redis_url)}, tokens: {roles}")
    uvicorn.run(
        app, host=host, port=port, log_level={"warn": "warning"}.get(settings.log_level, settings.log_level),
        access_log=settings.log_level in ("debug", "info"), server_header=False, lifespan="on",
    )


@api_app.command("hash-token")
def hash_token_command(
    subject: Annotated[str, typer.Option("--subject", "-s", help="Who holds it: the agent's name in task histories and the audit trail.")],
    role: Annotated[str, typer.Option("--role", "-r", help="agent, analyst or admin.")],
    lang: Annotated[
        list[str] | None, typer.Option("--lang", help="A language the holder takes calls in (repeatable; * for any).", show_default=False)
    ] = None,
    key_id: Annotated[
        str | None, typer.Option("--key-id", help="The token's public key id (default: random; 8-32 lower-case letters and digits).", show_default=False)
    ] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Hash the token read from standard input instead of making a new one.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="toml (a [[tokens]] table), yaml (a list item) or json.")] = "toml",
) -> None:
    """Make a new API token and print the entry that stores it hashed (salted scrypt).

    The entry goes to standard output (append it to the tokens file, or put it in the
    settings file as [[api.tokens]]); the token itself goes to standard error, once: hand it
    to its holder, it is not stored anywhere.
    """
    from pydantic import ValidationError

    from stream_guard.api.config import TokenEntry
    from stream_guard.api.tokens import hash_token, key_id_of, new_token

    if fmt not in ("toml", "yaml", "json"):
        err.print(f"[red]error:[/] --format {escape(fmt)!r}: use toml, yaml or json")
        raise typer.Exit(2)
    if stdin:
        token = sys.stdin.readline().strip()
        kid = key_id_of(token)
        if kid is None:
            err.print("[red]error:[/] standard input is not a token like sg_<key id>_<secret> "
                      "(key id: 8-32 lower-case letters and digits; secret: 20-128 of A-Z a-z 0-9 _ -)")
            raise typer.Exit(2)
        if key_id is not None and key_id != kid:
            err.print(f"[red]error:[/] --key-id {escape(key_id)} differs from the token's key id {escape(kid)}")
            raise typer.Exit(2)
    else:
        try:
            token = new_token(key_id)
        except ValueError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        kid = key_id_of(token)
    try:
        entry = TokenEntry(id=kid, subject=subject, role=role, languages=lang or [], hash=hash_token(token))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        err.print(f"[red]error:[/] {escape(problems)}")
        raise typer.Exit(2) from None
    print(_render(entry.model_dump(), fmt))
    if not stdin:
        err.print(f"token for {escape(subject)} ({role}), shown only this once:", highlight=False)
        err.print(token, markup=False, highlight=False)


def _render(entry: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(entry, ensure_ascii=False)
    if fmt == "yaml":
        lines = [f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items()]
        return "- " + "\n".join(lines)[2:]
    body = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items())
    return f"# in the settings file, write [[api.tokens]] instead\n[[tokens]]\n{body}"
