"""The callback task queue: list, counts, breaches, claim, view, renew, release, resolve.

Who works a task is the token's subject: a claim leases the task to it, and only it can
renew, release or resolve that claim (docs/actions.md has the lifecycle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response

from stream_guard.actions.alerts import recent_alerts
from stream_guard.actions.locale import match
from stream_guard.actions.store import ms_to_dt
from stream_guard.actions.tasks import QueueCounts, QueueEntry, Task, user_of
from stream_guard.api.auth import MayReadTasks, MayWorkTasks, Principal
from stream_guard.api.deps import Services, Svc
from stream_guard.api.errors import ApiError, responses
from stream_guard.api.models import (
    BreachesOut,
    ClaimIn,
    EscalationsOut,
    QueueItem,
    QueueOut,
    ResolveIn,
    ResolveOut,
    Script,
    Sla,
    TaskOut,
    TaskView,
)
from stream_guard.core.errors import ActionError

router = APIRouter(prefix="/tasks", tags=["tasks"])
T = TypeVar("T")

TaskId = Annotated[str, Path(description="The task id, `<user_id>~<n>` (percent-encode the user id).", examples=["u-1029~1"])]
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many tasks.")]
#: Alerts shown with a task.
VIEW_ALERTS = 20


@router.get("", response_model=QueueOut, summary="The open tasks in working order, with SLA countdowns",
            responses=responses(401, 403, 503))
async def queue(_: MayReadTasks, svc: Svc, limit: Limit = 100) -> QueueOut:
    """Ready tasks (by priority, then SLA deadline, then age), then claimed ones, then those
    waiting to call again; with the queue's counts."""
    entries, counts = await asyncio.gather(svc.tasks.entries(limit=limit), svc.tasks.counts())
    now = svc.now_ms()
    return QueueOut(now=ms_to_dt(now), counts=counts, tasks=await _items(svc, entries, now))


@router.get("/counts", response_model=QueueCounts, summary="How many tasks, per state, language and priority",
            responses=responses(401, 403, 503))
async def counts(_: MayReadTasks, svc: Svc) -> QueueCounts:
    return await svc.tasks.counts()


@router.get("/breaches", response_model=BreachesOut, summary="Open tasks past their SLA deadline",
            responses=responses(401, 403, 503))
async def breaches(_: MayReadTasks, svc: Svc, limit: Limit = 100) -> BreachesOut:
    """Queued, claimed or waiting to call again, the most overdue first."""
    entries = await svc.tasks.breaches(limit=limit)
    now = svc.now_ms()
    return BreachesOut(now=ms_to_dt(now), tasks=await _items(svc, entries, now))


@router.get("/escalations", response_model=EscalationsOut, summary="Escalated tasks (for compliance or a senior agent)",
            responses=responses(401, 403, 503))
async def escalations(_: MayReadTasks, svc: Svc, limit: Limit = 100) -> EscalationsOut:
    return EscalationsOut(task_ids=await svc.tasks.escalations(limit=limit))


@router.post(
    "/claim", response_model=TaskView, summary="Claim the next task in the caller's languages",
    responses={204: {"description": "Nothing is waiting in those languages"}, **responses(401, 403, 422, 503)},
)
async def claim(
    principal: MayWorkTasks,
    svc: Svc,
    body: Annotated[ClaimIn | None, Body()] = None,
) -> Any:
    """Leases the best waiting task to the token's subject for the configured lease (renew to
    keep it). Languages: the request's, which must be among the token's when the token lists
    any; else the token's."""
    languages = _languages(svc, principal, body.languages if body else None)
    task = await svc.tasks.claim(principal.subject, languages)
    if task is None:
        return Response(status_code=204)
    return await _view(svc, task, principal)


@router.get("/{task_id:path}/script", response_model=Script, summary="The call script in another language",
            responses=responses(401, 403, 404, 422, 503))
async def script(
    task_id: TaskId,
    lang: Annotated[str, Query(description="ko, en or zh (a language without a script gets English).")],
    _: MayReadTasks,
    svc: Svc,
) -> Script:
    return _script(svc, await _get(svc, task_id), lang)


@router.post("/{task_id:path}/renew", response_model=TaskOut, summary="Keep the claim for another lease",
             responses=responses(401, 403, 404, 409, 503))
async def renew(task_id: TaskId, principal: MayWorkTasks, svc: Svc) -> TaskOut:
    return TaskOut.of(await _on_task(svc, task_id, svc.tasks.renew(task_id, principal.subject)))


@router.post("/{task_id:path}/release", response_model=TaskOut, summary="Give the task back to the queue",
             responses=responses(401, 403, 404, 409, 503))
async def release(task_id: TaskId, principal: MayWorkTasks, svc: Svc) -> TaskOut:
    """It keeps its place in the queue."""
    return TaskOut.of(await _on_task(svc, task_id, svc.tasks.release(task_id, principal.subject)))


@router.post("/{task_id:path}/resolve", response_model=ResolveOut, summary="Record the call's outcome",
             responses=responses(401, 403, 404, 409, 422, 503))
async def resolve(
    body: ResolveIn,
    task_id: TaskId,
    principal: MayWorkTasks,
    svc: Svc,
) -> ResolveOut:
    """`confirmed_legitimate` lifts the freezes the task's decisions caused;
    `confirmed_fraud` keeps them (a timed one becomes manual) and escalates; `unreachable`
    calls again after the retry time, and escalates after the last attempt. Only the agent
    holding the claim can resolve it."""
    r = await _on_task(svc, task_id, svc.tasks.resolve(task_id, principal.subject, body.outcome, body.note))
    return ResolveOut(resolution=r, freezes=await svc.freezes.status(user_of(task_id)))


@router.get("/{task_id:path}", response_model=TaskView, summary="A task: decisions, evidence, history, call script, freezes",
            responses=responses(401, 403, 404, 503))
async def view(task_id: TaskId, principal: MayReadTasks, svc: Svc) -> TaskView:
    """Open or closed. The decisions carry the rule, its reason and evidence, and the
    triggering event's details; the user's freezes and newest alerts are read now."""
    return await _view(svc, await _get(svc, task_id), principal)


# -- helpers -----------------------------------------------------------------------------------


async def _get(svc: Services, task_id: str) -> Task:
    task = await svc.tasks.get(task_id)
    if task is None:
        raise ActionError(f"no task {task_id!r}", code="task-not-found")
    return task


async def _on_task(svc: Services, task_id: str, op: Awaitable[T]) -> T:
    """``op`` on the task; a task that does not exist at all is 404, not ``task-closed``."""
    try:
        return await op
    except ActionError as exc:
        if exc.code == "task-closed" and await svc.tasks.get(task_id) is None:
            raise ActionError(f"no task {task_id!r}", code="task-not-found") from None
        raise


def _languages(svc: Services, principal: Principal, asked: list[str] | None) -> list[str]:
    mine = list(principal.languages)
    if not asked:
        if not mine:
            raise ApiError(422, "bad-language", "no languages: name them in the request ({\"languages\": [\"ko\"]}) "
                                                "or in the token's entry")
        return mine
    if not mine or "*" in mine:
        return asked
    allowed = [a for a in asked if a != "*" and match(a, mine, fallback="")]
    if len(allowed) != len(asked):
        outside = [a for a in asked if a not in allowed]
        raise ApiError(422, "bad-language", f"this token takes calls in {', '.join(mine)}, not in {', '.join(outside)}")
    return asked


def _script(svc: Services, task: Task, lang: str | None = None) -> Script:
    if lang is not None:
        if lang not in svc.catalog.languages:
            raise ApiError(422, "bad-language", f"no scripts in {lang!r}: there are {', '.join(svc.catalog.languages)}")
        task = task.model_copy(update={"locale": lang})
    s = svc.catalog.script_for_task(task, svc.tz)
    return Script(language=s.language, name=s.name, title=s.title, steps=list(s.steps))


async def _view(svc: Services, task: Task, principal: Principal) -> TaskView:
    status, alerts = await asyncio.gather(svc.freezes.status(task.user_id),
                                          recent_alerts(svc.store, task.user_id, count=VIEW_ALERTS))
    now = svc.now_ms()
    return TaskView(
        now=ms_to_dt(now),
        task=TaskOut.of(task),
        sla=_sla(task.deadline, task.closed_at, now),
        yours=task.state == "claimed" and task.owner == principal.subject
        and task.lease_until is not None and task.lease_until.timestamp() * 1000 > now,
        script=_script(svc, task),
        script_languages=list(svc.catalog.languages),
        freezes=status,
        alerts=alerts,
    )


def _sla(deadline: Any, closed_at: Any, now_ms: int) -> Sla:
    end = closed_at.timestamp() * 1000 if closed_at is not None else now_ms
    left = (deadline.timestamp() * 1000 - end) / 1000
    return Sla(deadline=deadline, seconds_left=round(left, 3), breached=left < 0)


async def _items(svc: Services, entries: list[QueueEntry], now_ms: int) -> list[QueueItem]:
    """The entries with their countdown and the user's locale (one pipelined read)."""
    locales: list[Any] = []
    if entries:
        pipe = svc.store.client.pipeline(transaction=False)
        for e in entries:
            pipe.hmget(svc.store.keys.task(e.user_id), "id", "locale")
        locales = [loc if tid == e.task_id else None for (tid, loc), e in zip(await pipe.execute(), entries, strict=True)]
    out = []
    for e, loc in zip(entries, locales, strict=True):
        left = (e.deadline.timestamp() * 1000 - now_ms) / 1000
        out.append(QueueItem(**e.model_dump(), locale=loc or None, seconds_left=round(left, 3), breached=left < 0))
    return out
