"""A user's freezes (read, lift), freeze audit trail, alerts and tasks.

The audit trail is read-only here as everywhere: no route edits or deletes it; lifting a
freeze appends to it (who: the token's subject; why: the reason given).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Query

from stream_guard.actions.alerts import recent_alerts
from stream_guard.actions.freezes import FreezeStatus
from stream_guard.actions.ratelimit import limit_state
from stream_guard.api.auth import MayLiftFreezes, MayReadUsers
from stream_guard.api.deps import Svc
from stream_guard.api.errors import ApiError, responses
from stream_guard.api.models import AlertsOut, AuditOut, LiftIn, LiftOut, TaskOut, UserTasksOut

router = APIRouter(prefix="/users", tags=["users"])

UserId = Annotated[str, Path(min_length=1, max_length=256, description="The user id (percent-encoded).", examples=["u-1029"])]


@router.get("/{user_id:path}/freezes", response_model=FreezeStatus, summary="Whether the user may withdraw and sign in, and why not",
            responses=responses(401, 403, 503))
async def freezes(user_id: UserId, _: MayReadUsers, svc: Svc) -> FreezeStatus:
    """The active freezes; one Redis round trip (HGETALL)."""
    return await svc.freezes.status(user_id)


@router.post("/{user_id:path}/freezes/lift", response_model=LiftOut, summary="Lift the user's active freezes",
             responses=responses(401, 403, 404, 422, 503))
async def lift(body: LiftIn, user_id: UserId, principal: MayLiftFreezes,
               svc: Svc) -> LiftOut:
    """All of them, those of `scope`, or those in `freeze_ids`. The audit trail records the
    token's subject as who and `reason` as why. 404 `no-active-freeze` when none was active."""
    lifted = await svc.freezes.lift(user_id, reason=body.reason, by=principal.subject,
                                    scope=body.scope, freeze_ids=body.freeze_ids)
    if not lifted:
        what = f" of scope {body.scope}" if body.scope else (" with those ids" if body.freeze_ids else "")
        raise ApiError(404, "no-active-freeze", f"user {user_id!r} has no active freeze{what}")
    return LiftOut(lifted=lifted, freezes=await svc.freezes.status(user_id))


@router.get("/{user_id:path}/audit", response_model=AuditOut, summary="The user's freeze audit trail (read-only)",
            responses=responses(401, 403, 503))
async def audit(
    user_id: UserId,
    _: MayReadUsers,
    svc: Svc,
    after: Annotated[str, Query(pattern=r"^(-|\d+-\d+)$", description="Only entries after this entry id (paging).")] = "-",
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> AuditOut:
    """Every freeze change, oldest first: what, who, when, why, which decisions, the status after."""
    return AuditOut(user_id=user_id, entries=await svc.freezes.audit(user_id, after=after, count=limit))


@router.get("/{user_id:path}/alerts", response_model=AlertsOut, summary="Alerts and reminders the user was sent, and their limits",
            responses=responses(401, 403, 503))
async def alerts(
    user_id: UserId,
    _: MayReadUsers,
    svc: Svc,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> AlertsOut:
    sent, limits = await asyncio.gather(recent_alerts(svc.store, user_id, count=limit), limit_state(svc.store, user_id))
    return AlertsOut(user_id=user_id, alerts=sent, limits=limits)


@router.get("/{user_id:path}/tasks", response_model=UserTasksOut, summary="The user's open task and closed ones",
            responses=responses(401, 403, 503))
async def tasks(user_id: UserId, _: MayReadUsers, svc: Svc) -> UserTasksOut:
    open_, closed = await asyncio.gather(svc.tasks.open_task(user_id), svc.tasks.history(user_id))
    return UserTasksOut(user_id=user_id, open=TaskOut.of(open_) if open_ else None, closed=[TaskOut.of(t) for t in closed])
