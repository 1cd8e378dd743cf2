"""The FastAPI app: routes for agents and tools, the agents' console, health.

:func:`create_app` builds it from the settings and the configured tokens; ``stream-guard api``
serves it with uvicorn. One :class:`~stream_guard.actions.store.ActionsStore` per process is
made in the lifespan and closed with it; Redis being away does not stop the app from starting
(``/health/ready`` says so, and routes that need Redis answer 503 until it is back).

Public paths — no token: ``/health/live``, ``/health/ready``, ``/metrics``, ``/openapi.json``, ``/`` and
``/console/…`` (static files; the console asks for a token and sends it on each call).
Everything else — all of ``/api/…`` — needs a bearer token (see :mod:`~stream_guard.api.auth`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from stream_guard.actions.connection import connect
from stream_guard.actions.formatting import zone
from stream_guard.actions.freezes import FreezeRegistry
from stream_guard.actions.store import ActionsStore
from stream_guard.actions.tasks import TaskQueue
from stream_guard.actions.templates import Catalog
from stream_guard.api import errors
from stream_guard.api.auth import BearerAuth, TokenVerifier, permission_of, roles_with
from stream_guard.api.config import TokenEntry
from stream_guard.api.deps import Services
from stream_guard.api.routes import health, me, metrics, stats, tasks, users
from stream_guard.core.errors import ConfigError
from stream_guard.metrics import HttpCounts, api_metrics, registry_for
from stream_guard.settings import Settings

API_PREFIX = "/api/v1"
#: Every router of the app, with its prefix.
ROUTERS = ((health.router, ""), (metrics.router, ""), (me.router, API_PREFIX), (tasks.router, API_PREFIX),
           (users.router, API_PREFIX), (stats.router, API_PREFIX))
CONSOLE_DIR = Path(__file__).resolve().parent / "console"
_PUBLIC_EXACT = frozenset({"/", "/openapi.json", "/health/live", "/health/ready", "/metrics", "/console"})

#: The console's pages may run only their own script and talk only to this server.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def is_public(path: str) -> bool:
    return path in _PUBLIC_EXACT or path.startswith("/console/")


def create_app(
    settings: Settings,
    tokens: Sequence[TokenEntry],
    *,
    catalog: Catalog | None = None,
    clock: Callable[[], float] = time.time,
    client: Any = None,
) -> FastAPI:
    """The app. ``tokens``: who may call it; ``client``: a ``redis.asyncio`` client to use
    instead of one for ``settings.redis_url`` (it is then not closed by the app)."""
    if catalog is None:
        catalog = Catalog.load(settings.actions.templates_dir)
    tz = zone(settings.actions.timezone)
    verifier = TokenVerifier(tokens)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = client is None
        redis = connect(settings.redis_url) if own else client
        store = ActionsStore(redis, settings.actions, clock=clock)
        app.state.services = Services(settings, store, TaskQueue(store), FreezeRegistry(store), catalog, tz)
        try:
            yield
        finally:
            if own:
                await redis.aclose()

    app = FastAPI(
        title="Stream Guard API",
        version=_version(),
        summary="Callback tasks, account freezes, their audit trail and alerts, for support agents and tools.",
        description=(
            "Every route under /api/v1 needs `Authorization: Bearer <token>`; the token's role "
            "(agent, analyst, admin) decides what it may do (each operation lists its roles in "
            "`x-roles`). Errors answer `{\"code\": …, \"message\": …}` (docs/errors.md). "
            "See docs/api.md."
        ),
        lifespan=lifespan,
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN: not here
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    errors.install(app)
    for router, prefix in ROUTERS:
        app.include_router(router, prefix=prefix)

    if settings.api.console:
        @app.get("/", include_in_schema=False)
        async def root() -> RedirectResponse:
            return RedirectResponse("/console/", status_code=307)

        app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BearerAuth, verifier=verifier, public=is_public)
    app.add_middleware(SecurityHeaders)
    counts = HttpCounts()
    app.state.metrics_registry = registry_for(lambda: api_metrics(counts))
    app.add_middleware(RequestMetrics, counts=counts)  # outermost: it sees the 401s too
    return app


def api_routes() -> list[tuple[str, str, str | None]]:
    """``(method, path, permission)`` of every route of :data:`ROUTERS` (permission None: public).

    Read from the routers rather than ``app.routes``, whose shape differs between FastAPI
    versions (newer ones keep an included router whole)."""
    out = []
    for router, prefix in ROUTERS:
        for r in router.routes:
            for method in sorted(getattr(r, "methods", set()) - {"HEAD"}):
                out.append((method, prefix + r.path_format, permission_of(r)))
    return out


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with each operation's permission and roles (``x-permission``, ``x-roles``)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary,
                         description=app.description, routes=app.routes)
    for method, path, perm in api_routes():
        op = schema["paths"].get(path, {}).get(method.lower())
        if perm is None or op is None:
            continue
        op["x-permission"] = perm
        op["x-roles"] = roles_with(perm)
        op["description"] = (op.get("description") or "").rstrip() + f"\n\nRoles: {', '.join(roles_with(perm))}."
    app.openapi_schema = schema
    return schema


class SecurityHeaders:
    """ASGI middleware: no caching of answers (they hold personal data), no sniffing, no
    framing, no referrer, and the console's Content-Security-Policy."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        console = scope["path"] == "/console" or scope["path"].startswith("/console/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"x-frame-options", b"DENY"), (b"content-security-policy", CSP.encode())]
                if not console:
                    extra.append((b"cache-control", b"no-store"))
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestMetrics:
    """ASGI middleware: counts every answer by route template, method and status, and times it."""

    def __init__(self, app: Any, counts: HttpCounts):
        from starlette.routing import compile_path

        self.app = app
        self.counts = counts
        # every route's path template, matched by hand: a request refused before routing
        # (401) has no route in its scope, and the label must never be the concrete path
        self.templates = [(compile_path(path)[0], path) for path in dict.fromkeys(p for _m, p, _perm in api_routes())]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.counts.observe(self._template(scope), scope["method"], status, time.perf_counter() - started)

    def _template(self, scope: Any) -> str:
        """The path template a request matched (also when it was refused before routing)."""
        path = scope["path"]
        for regex, template in self.templates:
            if regex.match(path):
                return template
        return "/console" if path == "/console" or path.startswith("/console/") else "unmatched"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stream-guard")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def check_tokens(tokens: Sequence[TokenEntry]) -> None:
    """ConfigError when no token is configured: the API would refuse every call."""
    if not tokens:
        raise ConfigError(
            "no API tokens configured: make one with `stream-guard api hash-token --subject NAME --role agent` "
            "and put the entry it prints in the settings file's [api] table or in api.tokens_file"
        )
