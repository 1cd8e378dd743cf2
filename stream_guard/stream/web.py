"""What a Faust process of Stream Guard serves on its web port: metrics and health.

- ``GET /metrics``: the Prometheus text exposition of the process's collector.
- ``GET /healthz``: liveness — 200 while the event loop answers (it serves this page).
- ``GET /readyz``: readiness — 200 when the process does its job (a worker: partitions
  assigned and recovered; the actions agent: Redis answers), else 503; the body says why.

Faust's own pages that show internals (tables' contents, the router, statistics) are
switched off: a table page would serve users' profiles to anyone who can reach the port.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from prometheus_client import CollectorRegistry

from stream_guard.metrics import exposition

#: Faust settings for the web server: on, on every interface, none of its internal pages.
WEB_SETTINGS: dict[str, Any] = {
    "web_enabled": True,
    "web_bind": "0.0.0.0",
    "web_router_enabled": False,
    "web_tables_enabled": False,
    "web_stats_enabled": False,
    "web_graph_enabled": False,
}

Readiness = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def add_pages(app: Any, registry: CollectorRegistry, ready: Readiness) -> None:
    """Register the three pages on the Faust app ``app``."""

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body, content_type = exposition(registry)
        return web.bytes(body, headers={"Content-Type": content_type})

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return web.json({"status": "alive"})

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ok, detail = await ready()
        return web.json({"status": "ready" if ok else "not ready", **detail}, status=200 if ok else 503)


def group_state(app: Any) -> str:
    """A Faust app's place in its consumer group: ``rebalancing``, ``recovering`` (its tables
    are read back from their changelogs) or ``ready``."""
    if app.rebalancing:
        return "rebalancing"
    tables = app.tables
    return "ready" if tables is not None and tables.recovery.completed.is_set() else "recovering"


def add_status_timers(
    app: Any, status: Callable[[], dict[str, Any]], stats_file: Path | None, log: logging.Logger, name: str
) -> None:
    """Log ``status()`` every 30 s; rewrite ``stats_file`` with it every second, if given."""

    @app.timer(interval=30.0)
    async def report() -> None:
        log.info("%s: %s", name, status())

    if stats_file is not None:

        @app.timer(interval=1.0)
        async def write_stats() -> None:
            tmp = stats_file.with_name(stats_file.name + ".tmp")
            tmp.write_bytes(orjson.dumps(status()))
            tmp.replace(stats_file)  # readers never see half a file
