"""What a Faust process of Stream Guard serves on its web port: metrics and health.

- ``GET /metrics``: the Prometheus text exposition of the process's collector.
- ``GET /healthz``: liveness — 200 while the event loop answers (it serves this page).
- ``GET /readyz``: readiness — 200 when the process does its job (a worker: partitions
  assigned and recovered; the actions agent: Redis answers), else 503; the body says why.

Faust's own pages that show internals (tables' contents, the router, statistics) are
switched off: a table page would serve users' profiles to anyone who can reach the port.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

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
