"""Account freezes: per user, a scope, a reason, the rules and decisions behind it, an expiry
or a manual release — and a status cheap enough to ask on every withdrawal.

A user's freezes are one hash, ``sg:u:{U}:freezes``: field = freeze id, value = the freeze
as JSON. Reading the status is a single ``HGETALL`` (one round trip); a freeze counts while
it is not past its ``expires_at`` (epoch ms; absent for a manual freeze). Services of the
exchange can read it with any Redis client — :func:`parse_status` is the whole logic:

>>> raw = {"f-1": '{"freeze_id":"f-1","user_id":"u-1","scope":"withdrawals","reason":"r",'
...        '"created_at":1000,"expires_at":5000,"by":"stream-guard"}'}
>>> parse_status("u-1", raw, now_ms=4000).withdrawals_frozen
True
>>> parse_status("u-1", raw, now_ms=6000).withdrawals_frozen
False
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field

from stream_guard.actions.audit import AuditEntry, read_audit
from stream_guard.actions.scripts import dumps
from stream_guard.actions.store import ActionsStore, ms_to_dt
from stream_guard.core.errors import ActionError

Scope = Literal["withdrawals", "login", "all"]
SCOPES: tuple[str, ...] = ("withdrawals", "login", "all")


class Freeze(BaseModel):
    freeze_id: str
    user_id: str
    scope: Scope
    reason: str = ""
    rule_ids: list[str] = []
    decision_ids: list[str] = []
    created_at: datetime
    expires_at: datetime | None = None  # None: until lifted by hand
    by: str = "stream-guard"
    task_id: str | None = None

    @classmethod
    def from_json(cls, raw: str | bytes) -> Freeze:
        d = orjson.loads(raw)
        d["created_at"] = ms_to_dt(d.get("created_at"))
        d["expires_at"] = ms_to_dt(d.get("expires_at"))
        for k in ("rule_ids", "decision_ids"):  # Lua writes an empty list as {}
            if not isinstance(d.get(k), list):
                d[k] = []
        d.pop("manual", None)
        return cls.model_validate(d)

    def active(self, now_ms: int) -> bool:
        return self.expires_at is None or self.expires_at.timestamp() * 1000 > now_ms

    @property
    def blocks(self) -> tuple[str, ...]:
        return ("withdrawals", "login") if self.scope == "all" else (self.scope,)


class FreezeStatus(BaseModel):
    """What a user may do now: the answer to "may this withdrawal go?"."""

    user_id: str
    withdrawals_frozen: bool
    login_frozen: bool
    freezes: list[Freeze] = Field(default_factory=list, description="The active freezes.")

    @property
    def frozen(self) -> bool:
        return self.withdrawals_frozen or self.login_frozen


def parse_status(user_id: str, raw: dict[str, str], now_ms: int) -> FreezeStatus:
    """The status from the user's freezes hash as ``HGETALL`` returns it."""
    active = [f for f in (Freeze.from_json(v) for v in raw.values()) if f.active(now_ms)]
    active.sort(key=lambda f: (f.created_at, f.freeze_id))
    blocked = {b for f in active for b in f.blocks}
    return FreezeStatus(
        user_id=user_id,
        withdrawals_frozen="withdrawals" in blocked,
        login_frozen="login" in blocked,
        freezes=active,
    )


class FreezeRegistry:
    """Read and change freezes; every change goes to the audit trail and to Kafka."""

    def __init__(self, store: ActionsStore):
        self.store = store

    async def status(self, user_id: str) -> FreezeStatus:
        """One ``HGETALL``."""
        raw = await self.store.client.hgetall(self.store.keys.freezes(user_id))
        return parse_status(user_id, raw, self.store.now_ms())

    async def place(
        self,
        user_id: str,
        *,
        scope: str,
        reason: str,
        by: str,
        duration: float | None = None,
        rule_ids: list[str] | tuple[str, ...] = (),
        decision_ids: list[str] | tuple[str, ...] = (),
        freeze_id: str | None = None,
    ) -> Freeze:
        """Freeze by hand (an analyst, the API); ``duration`` seconds, or until lifted."""
        _check(scope, reason, by)
        now = self.store.now_ms()
        f: dict[str, Any] = {
            "freeze_id": freeze_id or f"f-{user_id}-{now}",
            "user_id": user_id,
            "scope": scope,
            "reason": reason,
            "rule_ids": list(rule_ids),
            "decision_ids": list(decision_ids),
            "by": by,
            "manual": duration is None,
        }
        if duration is not None:
            f["expires_at"] = now + int(duration * 1000)
        await self._change(user_id, "place", {"freeze": f})
        raw = await self.store.client.hget(self.store.keys.freezes(user_id), f["freeze_id"])
        if raw is None:  # placed and lifted or expired at once
            raise ActionError(f"freeze {f['freeze_id']} is not active", code="freeze-not-found")
        return Freeze.from_json(raw)

    async def lift(
        self,
        user_id: str,
        *,
        reason: str,
        by: str,
        scope: str | None = None,
        freeze_ids: list[str] | None = None,
    ) -> list[str]:
        """Lift the user's active freezes (of ``scope``, or those ``freeze_ids``); the ids
        lifted (empty when none was active)."""
        _check(scope or "all", reason, by)
        args: dict[str, Any] = {"reason": reason, "by": by}
        if scope is not None:
            args["scope"] = scope
        if freeze_ids is not None:
            args["freeze_ids"] = list(freeze_ids)
        result = await self._change(user_id, "lift", args)
        return list(result["changed"] or [])

    async def expire(self, user_id: str) -> list[str]:
        """Record the user's freezes that ran out (the sweeper calls it)."""
        result = await self._change(user_id, "expire", {})
        return list(result["changed"] or [])

    async def audit(self, user_id: str, *, after: str = "-", count: int | None = None) -> list[AuditEntry]:
        return await read_audit(self.store, user_id, after=after, count=count)

    async def _change(self, user_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        s = self.store
        k = s.keys
        keys = [k.freezes(user_id), k.audit(user_id), k.relay(user_id), k.alerts(user_id)]
        result = await s.scripts.json("freeze_change", keys, [s.now_ms(), op, dumps(args)])
        await s.follow_up(user_id, result)
        if result["changed"]:
            await s.count(**{_COUNTER[op]: len(result["changed"])})
        return result


_COUNTER = {"place": "freezes_placed", "lift": "freezes_lifted", "expire": "freezes_expired"}


def _check(scope: str, reason: str, by: str) -> None:
    if scope not in SCOPES:
        raise ActionError(f"unknown freeze scope {scope!r}: use withdrawals, login or all", code="bad-scope")
    if not reason.strip():
        raise ActionError("a reason is needed (it goes to the audit trail)", code="reason-required")
    if not by.strip():
        raise ActionError("who makes the change is needed (it goes to the audit trail)", code="reason-required")
