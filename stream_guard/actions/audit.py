"""The freeze audit trail: every freeze change of a user, in order, never edited.

It is a Redis stream per user (``sg:u:{U}:audit``) that only the scripts append to
(``XADD``); nothing in Stream Guard trims, edits or deletes it, and the library offers no
call that would. Each entry says what changed (``freeze``, ``lift``, ``expire``, ``keep``),
which freeze and scope, who did it and why, which decisions and rules it concerns, and the
user's status after it. The same entries, in the same order, are what the relay publishes to
``stream-guard.freezes`` (see :func:`freeze_message`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel

from stream_guard.actions.store import ActionsStore, ms_to_dt

AuditAction = Literal["freeze", "lift", "expire", "keep"]


class AuditEntry(BaseModel):
    """One freeze change."""

    entry_id: str  # the stream id: orders the trail; unique per user
    user_id: str
    at: datetime
    action: AuditAction
    freeze_id: str
    scope: str
    by: str
    reason: str = ""
    rule_ids: list[str] = []
    decision_ids: list[str] = []
    task_id: str | None = None
    expires_at: datetime | None = None
    withdrawals_frozen: bool
    login_frozen: bool

    @classmethod
    def from_stream(cls, user_id: str, entry_id: str, fields: dict[str, str]) -> AuditEntry:
        return cls(
            entry_id=entry_id,
            user_id=user_id,
            at=ms_to_dt(fields["at"]),
            action=fields["action"],
            freeze_id=fields.get("freeze_id", ""),
            scope=fields.get("scope", ""),
            by=fields.get("by", ""),
            reason=fields.get("reason", ""),
            rule_ids=_list(fields.get("rule_ids")),
            decision_ids=_list(fields.get("decision_ids")),
            task_id=fields.get("task_id"),
            expires_at=ms_to_dt(fields.get("expires_at")),
            withdrawals_frozen=fields.get("withdrawals_frozen") == "1",
            login_frozen=fields.get("login_frozen") == "1",
        )


def _list(raw: str | None) -> list[str]:
    if not raw:
        return []
    v = orjson.loads(raw)
    return [str(x) for x in v] if isinstance(v, list) else []


def freeze_message(entry: AuditEntry) -> bytes:
    """The ``stream-guard.freezes`` record of one change (keyed by user id)."""
    doc: dict[str, Any] = {
        "change_id": f"{entry.user_id}/{entry.entry_id}",
        **entry.model_dump(mode="json", exclude={"entry_id"}),
        "frozen": {"withdrawals": entry.withdrawals_frozen, "login": entry.login_frozen},
    }
    return orjson.dumps(doc)


async def read_audit(
    store: ActionsStore, user_id: str, *, after: str = "-", count: int | None = None
) -> list[AuditEntry]:
    """The user's trail, oldest first (``after``: an entry id to start after)."""
    start = "-" if after == "-" else f"({after}"
    rows = await store.client.xrange(store.keys.audit(user_id), start, "+", count=count)
    return [AuditEntry.from_stream(user_id, eid, fields) for eid, fields in rows]
