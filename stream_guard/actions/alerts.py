"""The alerts and security reminders a user was sent, as the notification service got them.

Each is an entry of the user's ``sg:u:{U}:alerts`` stream (the newest ~1,000 are kept) whose
``payload`` is exactly the JSON published to ``stream-guard.alerts`` and POSTed to the
webhook; rendering is :mod:`~stream_guard.actions.templates`' job, limits
:mod:`~stream_guard.actions.ratelimit`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import orjson
from pydantic import BaseModel, ConfigDict

from stream_guard.actions.store import ActionsStore


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    alert_id: str
    kind: Literal["alert", "security_reminder"]
    template: str | None = None  # alerts
    topic: str | None = None  # reminders
    user_id: str
    locale: str | None = None
    language: str
    title: str
    body: str
    severity: str | None = None
    decision_id: str
    rule_id: str
    event_id: str | None = None
    created_at: datetime
    details: dict[str, str] = {}


async def recent_alerts(store: ActionsStore, user_id: str, *, count: int = 50) -> list[Alert]:
    """The user's latest alerts and reminders, the newest first."""
    rows = await store.client.xrevrange(store.keys.alerts(user_id), "+", "-", count=count)
    return [Alert.model_validate(orjson.loads(f["payload"])) for _, f in rows]
