"""What every actions class shares: the Redis client, the key layout, the scripts, the clock.

A change to a user's data is one script in the user's hash slot; the global indexes (the
task queue, the outboxes, the expiry schedule) live in slots of their own and are updated
right after it by :meth:`ActionsStore.follow_up`. Should that second step be lost (a crash
between the two), the next touch of the same user repeats it — a redelivered decision, a
retried call — and :meth:`~stream_guard.actions.outbox.Relay.sweep` finds the rest, so the
indexes converge on what the users' data says.

>>> ActionsStore.__name__
'ActionsStore'
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.keys import Keys
from stream_guard.actions.locale import LANGUAGES
from stream_guard.actions.scripts import Scripts, dumps


def ms_to_dt(ms: Any) -> datetime | None:
    """A UTC datetime from epoch milliseconds (None stays None)."""
    if ms is None or ms == "":
        return None
    return datetime.fromtimestamp(int(float(ms)) / 1000, UTC)


class ActionsStore:
    """The Redis side of the actions, for one key prefix.

    ``client``: a ``redis.asyncio`` client (``decode_responses=True``; see
    :func:`~stream_guard.actions.connection.connect`); ``clock``: seconds since the epoch
    (``time.time`` unless a test gives its own).
    """

    def __init__(
        self,
        client: Any,
        config: ActionsConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        languages: tuple[str, ...] = LANGUAGES,
        webhook: bool | None = None,
    ):
        self.client = client
        self.config = config or ActionsConfig()
        self.keys = Keys(self.config.key_prefix)
        self.scripts = Scripts(client)
        self.clock = clock
        self.languages = languages
        #: whether alerts also go to the webhook outbox (default: when a URL is configured)
        self.webhook = bool(self.config.webhook_url) if webhook is None else webhook

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- the task index -----------------------------------------------------------------
    def index_keys(self) -> list[str]:
        k = self.keys
        return [k.leased, k.delayed, k.deadline, k.entry, k.escalated, *map(k.ready, self.languages)]

    async def place(self, placement: Mapping[str, Any] | None) -> str | None:
        """Put a task where ``placement`` says in the index (see ``lua/index_place.lua``)."""
        if not placement:
            return None
        return await self.scripts.call(
            "index_place", self.index_keys(), [self.now_ms(), dumps(placement), dumps(list(self.languages))]
        )

    # -- outboxes and the expiry schedule ---------------------------------------------------
    async def notify(self, channel: str, user_id: str, when_ms: int | None = None) -> None:
        index, gen = self.keys.outbox(channel)
        await self.scripts.call("outbox", [index, gen], ["notify", user_id, when_ms or self.now_ms()])

    async def schedule_expiry(self, user_id: str, when_ms: int) -> None:
        index, gen = self.keys.expiry
        await self.scripts.call("outbox", [index, gen], ["notify", user_id, int(when_ms)])

    async def follow_up(self, user_id: str, result: Mapping[str, Any], *, schedule: bool = True) -> None:
        """The global part of a change a user-slot script reported: the task's place in the
        index, the outboxes to wake, the next freeze expiry to schedule."""
        await self.place(result.get("placement"))
        if result.get("publish"):
            await self.notify("kafka", user_id)
        if result.get("webhook") and self.webhook:
            await self.notify("webhook", user_id)
        expiry = result.get("next_expiry")
        if expiry and schedule:
            await self.schedule_expiry(user_id, int(expiry))

    async def count(self, **counters: int) -> None:
        """Add to the shared counters (``HINCRBY``; none of them is per user)."""
        changed = {k: v for k, v in counters.items() if v}
        if not changed:
            return
        pipe = self.client.pipeline(transaction=False)
        for name, n in changed.items():
            pipe.hincrby(self.keys.counters, name, n)
        await pipe.execute()

    async def count_freezes(self, deltas: Mapping[str, int]) -> None:
        """Add to the active freezes per scope (the relay, as it publishes the changes)."""
        changed = {k: v for k, v in deltas.items() if v}
        if not changed:
            return
        pipe = self.client.pipeline(transaction=False)
        for scope, n in changed.items():
            pipe.hincrby(self.keys.freeze_counts, scope, n)
        await pipe.execute()

    async def active_freezes(self) -> dict[str, int]:
        """Active freezes per scope (one HGETALL); see :meth:`~stream_guard.actions.outbox.Relay.sweep`."""
        raw = await self.client.hgetall(self.keys.freeze_counts)
        return {k: max(int(v), 0) for k, v in sorted(raw.items())}

    async def counters(self) -> dict[str, int]:
        raw = await self.client.hgetall(self.keys.counters)
        return {k: int(v) for k, v in sorted(raw.items())}
