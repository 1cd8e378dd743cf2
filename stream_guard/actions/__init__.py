"""The actions side: decisions become callback tasks, account freezes and user alerts, in Redis.

A library over a Redis client (``redis.asyncio``), for the actions agent, the command line
and the HTTP API alike:

- :class:`~stream_guard.actions.tasks.TaskQueue` — claim, renew, release and resolve callback tasks;
- :class:`~stream_guard.actions.freezes.FreezeRegistry` — freeze status, place, lift, the audit trail;
- :class:`~stream_guard.actions.effects.Effects` — one decision's actions, idempotently;
- :class:`~stream_guard.actions.templates.Catalog` — alert templates and call scripts per language;
- :func:`~stream_guard.actions.alerts.recent_alerts`, :func:`~stream_guard.actions.ratelimit.limit_state`
  — what a user was sent, and why not more;
- :class:`~stream_guard.actions.outbox.Relay` — freeze changes and alerts out to Kafka and the webhook;
- :func:`~stream_guard.actions.connection.connect` and
  :class:`~stream_guard.actions.server.RedisServer` — a client, and a real server where none runs.

Names are imported lazily, so that ``import stream_guard.actions`` costs nothing.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ActionsConfig": "config",
    "ActionsStore": "store",
    "Alert": "alerts",
    "AlertLimits": "ratelimit",
    "AuditEntry": "audit",
    "Catalog": "templates",
    "Effects": "effects",
    "Freeze": "freezes",
    "FreezeRegistry": "freezes",
    "FreezeStatus": "freezes",
    "Keys": "keys",
    "Outcome": "tasks",
    "RedisServer": "server",
    "Relay": "outbox",
    "Task": "tasks",
    "TaskQueue": "tasks",
    "connect": "connection",
    "limit_state": "ratelimit",
    "recent_alerts": "alerts",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'stream_guard.actions' has no attribute {name!r}")
    return getattr(importlib.import_module(f"stream_guard.actions.{module}"), name)
