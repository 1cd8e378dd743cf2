"""The Lua scripts that change Redis atomically, loaded once per client.

Each script in ``lua/`` gets the helpers of ``lua/lib.lua`` in front of it. Every key a
script touches is passed in ``KEYS`` and all of them share one hash slot (a user's, or an
index's), so the scripts run unchanged on Redis Cluster; :meth:`Scripts.call` checks it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson
from redis.crc import key_slot

NAMES = (
    "apply", "task_claim", "task_update", "task_resolve", "freeze_change",
    "index_place", "index_pop", "outbox", "relay_advance", "lease", "freeze_census", "sla_tally",
)


def source(name: str) -> str:
    """The full text of one script: the shared helpers, then the script."""
    lua = resources.files("stream_guard.actions") / "lua"
    return (lua / "lib.lua").read_text() + "\n" + (lua / f"{name}.lua").read_text()


class CrossSlotError(AssertionError):
    """A script was called with keys of different hash slots: it would fail on Redis Cluster."""


class Scripts:
    """The registered scripts of one Redis client: ``await scripts.call("apply", keys, args)``."""

    def __init__(self, client: Any):
        self.client = client
        self._scripts = {name: client.register_script(source(name)) for name in NAMES}

    async def call(self, name: str, keys: list[str], args: list[Any]) -> Any:
        slots = {key_slot(k.encode()) for k in keys}
        if len(slots) > 1:
            raise CrossSlotError(f"script {name}: keys in {len(slots)} hash slots: {keys}")
        return await self._scripts[name](keys=keys, args=args)

    async def json(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Call a script that answers JSON; the decoded answer."""
        raw = await self.call(name, keys, args)
        return orjson.loads(raw) if raw is not None else None


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
