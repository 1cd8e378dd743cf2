"""How often a user may be told something: the alert rate limit and the reminder cool-downs.

The checks run inside the script that applies a decision (``lua/apply.lua``), on the user's
``sg:u:{U}:limits`` hash, so that two decisions for one user can never both slip through:

- at most ``alert_limit`` alerts per sliding ``alert_window`` (the times of the last ones are
  kept), and the same template at most once per ``alert_repeat``;
- each security reminder topic at most once per ``reminder_cooldown``; reminders do not use
  up the alert budget.

:func:`limit_state` reads the same hash back, for a support agent asking "why did the user
not get the alert?".

>>> AlertLimits(3, 3600, 1800, 604800).to_plan()["alert_window_ms"]
3600000
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.store import ActionsStore, ms_to_dt


@dataclass(frozen=True)
class AlertLimits:
    alert_limit: int
    alert_window: float  # seconds
    alert_repeat: float
    reminder_cooldown: float

    @classmethod
    def from_config(cls, c: ActionsConfig) -> AlertLimits:
        return cls(c.alert_limit, c.alert_window, c.alert_repeat, c.reminder_cooldown)

    def to_plan(self) -> dict[str, Any]:
        """The ``limits`` of an apply script's plan (milliseconds)."""
        return {
            "alert_limit": self.alert_limit,
            "alert_window_ms": int(self.alert_window * 1000),
            "alert_repeat_ms": int(self.alert_repeat * 1000),
            "reminder_cooldown_ms": int(self.reminder_cooldown * 1000),
            # the clocks are kept as long as the longest of them matters
            "keep_ms": int(max(self.alert_window, self.alert_repeat, self.reminder_cooldown) * 1000),
        }


class LimitState(BaseModel):
    """A user's limits now."""

    alerts_in_window: int
    alert_budget_left: int
    next_alert_at: datetime | None  # when the window frees a slot, if it is full
    templates_last_sent: dict[str, datetime]
    reminders_last_sent: dict[str, datetime]
    reminders_ready_at: dict[str, datetime]


async def limit_state(store: ActionsStore, user_id: str, limits: AlertLimits | None = None) -> LimitState:
    lim = limits or AlertLimits.from_config(store.config)
    raw = await store.client.hgetall(store.keys.limits(user_id))
    now = store.now_ms()
    window_ms = lim.alert_window * 1000
    times = sorted(t for t in orjson.loads(raw.get("alerts") or "[]") if t > now - window_ms)
    full = len(times) >= lim.alert_limit
    templates = {k[2:]: ms_to_dt(v) for k, v in raw.items() if k.startswith("t:")}
    reminders = {k[2:]: ms_to_dt(v) for k, v in raw.items() if k.startswith("r:")}
    return LimitState(
        alerts_in_window=len(times),
        alert_budget_left=max(0, lim.alert_limit - len(times)),
        next_alert_at=ms_to_dt(times[len(times) - lim.alert_limit] + window_ms) if full else None,
        templates_last_sent=templates,  # type: ignore[arg-type]
        reminders_last_sent=reminders,  # type: ignore[arg-type]
        reminders_ready_at={k: ms_to_dt(int(raw[f"r:{k}"]) + lim.reminder_cooldown * 1000) for k in reminders},  # type: ignore[misc]
    )
