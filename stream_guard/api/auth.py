"""Who is calling, and what their role lets them do.

Two steps, so that nothing under ``/api/`` is parsed, routed or answered for a caller
without a valid token:

1. :class:`BearerAuth`, an ASGI middleware, checks the ``Authorization: Bearer …`` header of
   every request to a non-public path and refuses a missing, malformed or unknown token with
   ``401`` and ``WWW-Authenticate: Bearer`` — before routing, so an unknown route or a bad
   body answers 401 too. It puts the :class:`Principal` in the request's state.
2. Each route names the permission it needs (its ``principal`` parameter is annotated
   :data:`MayWorkTasks` …); a role without it gets ``403``.

=============  =====  =======  =====
permission     agent  analyst  admin
=============  =====  =======  =====
``me``           ✓       ✓       ✓     who am I (the console's sign-in)
``tasks:read``   ✓       ✓       ✓     the queue, counts, breaches, escalations, a task
``tasks:work``   ✓               ✓     claim, renew, release, resolve (one's own claims)
``users:read``   ✓       ✓       ✓     a user's freezes, audit trail, alerts, tasks
``stats:read``           ✓       ✓     the actions' shared counters
``freezes:lift``                 ✓     lift a freeze directly (agents lift through a
                                       ``confirmed_legitimate`` outcome)
=============  =====  =======  =====
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
import orjson
from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from stream_guard.api.config import TokenEntry
from stream_guard.api.errors import ApiError
from stream_guard.api.tokens import fingerprint, key_id_of, verify_hash

PERMISSIONS: dict[str, frozenset[str]] = {
    "agent": frozenset({"me", "tasks:read", "tasks:work", "users:read"}),
    "analyst": frozenset({"me", "tasks:read", "users:read", "stats:read"}),
    "admin": frozenset({"me", "tasks:read", "tasks:work", "users:read", "stats:read", "freezes:lift"}),
}
ALL_PERMISSIONS: tuple[str, ...] = ("me", "tasks:read", "tasks:work", "users:read", "stats:read", "freezes:lift")


def roles_with(permission: str) -> list[str]:
    return [r for r, perms in PERMISSIONS.items() if permission in perms]


@dataclass(frozen=True)
class Principal:
    """The holder of a valid token."""

    subject: str
    role: str
    languages: tuple[str, ...]
    key_id: str

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]


class TokenVerifier:
    """Presented token → :class:`Principal`, or None. A token accepted once is remembered by
    its SHA-256 (at most one per configured entry), so a check costs one scrypt per token
    per process."""

    def __init__(self, entries: Iterable[TokenEntry]):
        self.entries = {e.id: e for e in entries}
        self._accepted: dict[bytes, Principal] = {}
        self._lock = threading.Lock()

    def cached(self, token: str) -> Principal | None:
        return self._accepted.get(fingerprint(token))

    def known(self, token: str) -> bool:
        """Whether the token names a configured key id (only those are worth hashing)."""
        kid = key_id_of(token)
        return kid is not None and kid in self.entries

    def verify(self, token: str) -> Principal | None:
        """The slow path: one scrypt (run it in a thread)."""
        kid = key_id_of(token)
        entry = self.entries.get(kid) if kid else None
        if entry is None or not verify_hash(token, entry.hash):
            return None
        p = Principal(entry.subject, entry.role, tuple(entry.languages), entry.id)
        with self._lock:
            self._accepted[fingerprint(token)] = p
        return p


#: Declares the scheme in /openapi.json; the check itself is the middleware's.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="sg_<key id>_<secret>",
    description="A token made by `stream-guard api hash-token`; its role (agent, analyst, admin) decides what it may do.",
)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


class BearerAuth:
    """ASGI middleware: 401 for any request to a non-public path without a valid token."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier, public: Callable[[str], bool]):
        self.app = app
        self.verifier = verifier
        self.public = public

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.public(scope["path"]):
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        principal = None
        if token is not None:
            principal = self.verifier.cached(token)
            if principal is None and self.verifier.known(token):
                principal = await anyio.to_thread.run_sync(self.verifier.verify, token)
        if principal is None:
            await _unauthorized(send, presented=token is not None)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, cred = value.decode("latin-1").strip().partition(" ")
            cred = cred.strip()
            return cred if scheme.lower() == "bearer" and cred else None
    return None


async def _unauthorized(send: Any, *, presented: bool) -> None:
    if presented:
        body = {"code": "unauthorized", "message": "the bearer token is not valid (unknown, revoked or mistyped)"}
        challenge = b'Bearer realm="stream-guard", error="invalid_token"'
    else:
        body = {"code": "unauthorized", "message": "a bearer token is needed: send Authorization: Bearer <token>"}
        challenge = b'Bearer realm="stream-guard"'
    payload = orjson.dumps(body)
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
        (b"www-authenticate", challenge), (b"cache-control", b"no-store"),
    ]})
    await send({"type": "http.response.body", "body": payload})


class _Need:
    """The dependency of a route that needs ``permission`` (kept as an object so that the app
    can list each route's permission in /openapi.json and the tests can check it)."""

    def __init__(self, permission: str):
        if permission not in ALL_PERMISSIONS:
            raise ValueError(f"unknown permission {permission!r}")
        self.permission = permission

    async def __call__(self, request: Request, _: Annotated[Any, Depends(bearer_scheme)] = None) -> Principal:
        principal: Principal | None = request.scope.get("state", {}).get("principal")
        if principal is None:  # a route outside the middleware's reach: refuse, never allow
            raise ApiError(401, "unauthorized", "a bearer token is needed")
        if not principal.may(self.permission):
            raise ApiError(
                403, "forbidden",
                f"the {principal.role} role may not do this (it needs {self.permission!r}: "
                f"{', '.join(roles_with(self.permission))})",
            )
        return principal


# What a route's ``principal`` parameter is annotated with: the permission it needs.
MayMe = Annotated[Principal, Depends(_Need("me"))]
MayReadTasks = Annotated[Principal, Depends(_Need("tasks:read"))]
MayWorkTasks = Annotated[Principal, Depends(_Need("tasks:work"))]
MayReadUsers = Annotated[Principal, Depends(_Need("users:read"))]
MayReadStats = Annotated[Principal, Depends(_Need("stats:read"))]
MayLiftFreezes = Annotated[Principal, Depends(_Need("freezes:lift"))]


def permission_of(route: Any) -> str | None:
    """The permission a FastAPI route needs (None: a public route)."""
    dependant = getattr(route, "dependant", None)
    stack = list(dependant.dependencies) if dependant is not None else []
    while stack:
        d = stack.pop()
        if isinstance(d.call, _Need):
            return d.call.permission
        stack.extend(d.dependencies)
    return None
