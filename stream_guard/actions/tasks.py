"""Callback tasks: the support desk's queue.

One open task per user accumulates that user's decisions (a second rule firing raises the
task's priority and pulls its SLA deadline in rather than queueing another call). Tasks are
worked in order of priority (critical > high > medium > low), then SLA deadline, then age.
An agent claims the next task in one of its languages under a lease (renewed while it
works; a task whose lease runs out goes back to the queue) and resolves it with an outcome:

- ``confirmed_legitimate`` — the user did it: the freezes the task's decisions caused are lifted;
- ``confirmed_fraud`` — the freezes stay (a timed one becomes manual; with none, withdrawals
  are frozen) and the task is escalated;
- ``unreachable`` — called again after ``retry_after``, up to ``max_attempts`` calls, then escalated.

Claiming is two steps that are each atomic: the task index (``sg:{queue}:…``, one hash slot)
hands out its best entry and marks it leased; then a script in the user's slot takes the
task only if it is still claimable — that script is the one authority, so two agents never
hold the same task even if the index briefly lists a task twice. See docs/actions.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, model_validator

from stream_guard.actions.locale import FALLBACK, match
from stream_guard.actions.store import ActionsStore, ms_to_dt
from stream_guard.core.errors import ActionError

TaskState = Literal["queued", "claimed", "delayed", "closed"]


class Outcome(StrEnum):
    confirmed_legitimate = "confirmed_legitimate"
    confirmed_fraud = "confirmed_fraud"
    unreachable = "unreachable"


class TaskDecision(BaseModel):
    """A decision as the task keeps it (what an agent needs to see)."""

    model_config = ConfigDict(extra="allow")

    decision_id: str
    rule_id: str
    severity: str = ""
    title: str = ""
    reason: str = ""
    ts: str = ""
    event_id: str = ""
    event_type: str = ""

    @model_validator(mode="before")
    @classmethod
    def _lua_empties(cls, d: Any) -> Any:
        """Tasks stored before decisions were kept as their JSON text went through Lua's
        cjson, which writes an empty list and an empty mapping alike (``{}``): such a field
        is read back as its right type (the top-level ones and ``profile.countries``)."""
        if isinstance(d, dict):
            d = dict(d)
            for k in ("tags", "actions"):
                if d.get(k) == {}:
                    d[k] = []
            for k in ("evidence", "context"):
                if d.get(k) == []:
                    d[k] = {}
            p = d.get("profile")
            if isinstance(p, dict) and p.get("countries") == {}:
                d["profile"] = {**p, "countries": []}
        return d


class TaskEvent(BaseModel):
    """One line of a task's history: created, merged, claimed, released, lease_expired,
    unreachable, resolved."""

    model_config = ConfigDict(extra="allow")

    at: datetime
    event: str


class Task(BaseModel):
    task_id: str
    user_id: str
    state: TaskState
    priority: str
    locale: str | None = None
    lang: str = FALLBACK
    reason: str = ""
    created_at: datetime
    updated_at: datetime | None = None
    deadline: datetime
    attempts: int = 0
    retry_at: datetime | None = None
    owner: str | None = None
    lease_until: datetime | None = None
    rule_ids: list[str] = []
    freeze_ids: list[str] = []
    decision_count: int = 0
    decisions: list[TaskDecision] = []
    log: list[TaskEvent] = []
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    note: str | None = None
    escalated: bool = False

    def sla_breached(self, now: datetime) -> bool:
        end = self.closed_at or now
        return end > self.deadline

    @classmethod
    def from_fields(cls, f: dict[str, Any], decisions: Sequence[Any] = (), log: Sequence[Any] = ()) -> Task:
        """A task from its Redis hash (or its archived record), decisions and history."""
        return cls(
            task_id=f["id"],
            user_id=f["user_id"],
            state=f.get("state", "queued"),
            priority=f["priority"],
            locale=f.get("locale") or None,
            lang=f.get("lang") or FALLBACK,
            reason=f.get("reason") or "",
            created_at=ms_to_dt(f["created"]),
            updated_at=ms_to_dt(f.get("updated")),
            deadline=ms_to_dt(f["deadline"]),
            attempts=int(f.get("attempts") or 0),
            retry_at=ms_to_dt(f.get("retry_at")),
            owner=f.get("owner") or None,
            lease_until=ms_to_dt(f.get("lease_until")) if f.get("state") == "claimed" else None,
            rule_ids=_list(f.get("rule_ids")),
            freeze_ids=_list(f.get("freeze_ids")),
            decision_count=int(f.get("decisions") or len(decisions)),
            decisions=[TaskDecision.model_validate(d) for d in decisions],
            log=[TaskEvent(**{**e, "at": ms_to_dt(e["at"])}) for e in log],
            outcome=f.get("outcome"),
            closed_at=ms_to_dt(f.get("closed_at")),
            closed_by=f.get("closed_by"),
            note=f.get("note") or None,
            escalated=bool(f.get("escalated")),
        )


class QueueEntry(BaseModel):
    """A task as the index lists it (no round trip to the user's data)."""

    task_id: str
    user_id: str
    state: Literal["ready", "leased", "delayed"]
    priority: str
    lang: str
    deadline: datetime
    at: datetime | None = None  # lease expiry or retry time
    owner: str | None = None


class Resolution(BaseModel):
    task_id: str
    outcome: Outcome
    escalated: bool = False
    retry_at: datetime | None = None  # unreachable, called again then
    attempts: int | None = None
    freezes_changed: list[str] = []


class QueueCounts(BaseModel):
    ready: dict[str, int]  # per language
    leased: int
    delayed: int
    open: int
    breached: int
    escalated: int
    by_priority: dict[str, int]
    #: creation of the oldest open task (None: no open task, or only tasks indexed before
    #: the index kept creation times)
    oldest: datetime | None = None


def _list(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = orjson.loads(raw) if raw else []
    return [str(x) for x in raw] if isinstance(raw, list) else []


def user_of(task_id: str) -> str:
    """The user a task id belongs to (``u-1029~3`` → ``u-1029``)."""
    user, sep, n = task_id.rpartition("~")
    if not sep or not user or not n.isdigit():
        raise ActionError(f"{task_id!r} is not a task id (like u-1029~3)", code="task-not-found")
    return user


#: A version above any real one: the index drops the entry of a task that no longer exists.
_FORGET = 2**52

_WHY = {
    "closed": ("task {task} is closed (or does not exist)", "task-closed"),
    "not_yours": ("task {task} is not claimed by {agent}", "task-not-yours"),
}


class TaskQueue:
    """Claim, renew, release, resolve and list callback tasks."""

    def __init__(self, store: ActionsStore):
        self.store = store

    # -- working a task ---------------------------------------------------------------------
    async def claim(self, agent: str, languages: list[str] | tuple[str, ...]) -> Task | None:
        """The best task in ``languages`` (``["*"]``: any), now leased to ``agent``; None if
        the queue has nothing for it."""
        s = self.store
        if not agent:
            raise ActionError("an agent name is needed", code="agent-required")
        if "*" in languages:
            take = list(s.languages)
        else:  # "ko-KR" speaks ko; a language without a queue is left out
            take = list(dict.fromkeys(m for lang in languages if (m := match(lang, s.languages, fallback=""))))
        if not take:
            raise ActionError(
                f"no queue for languages {list(languages)}: the queues are {list(s.languages)}",
                code="bad-language",
            )
        k = s.keys
        lease_ms = int(s.config.lease * 1000)
        for _ in range(50):  # stale index entries are dropped on the way
            now = s.now_ms()
            keys = [k.leased, k.delayed, k.entry, *map(k.ready, s.languages)]
            args = [now, now + lease_ms, agent, orjson.dumps(list(s.languages)).decode(), orjson.dumps(take).decode()]
            entry = await s.scripts.json("index_pop", keys, args)
            if entry is None:
                return None
            task_id = entry.get("task_id") or entry["member"].partition("|")[2]
            user = user_of(task_id)
            result = await s.scripts.json(
                "task_claim", [k.task(user), k.task_log(user)], [s.now_ms(), task_id, agent, lease_ms]
            )
            placement = result.get("placement")
            if placement is None:  # the task is closed: forget the entry, whatever its version
                placement = {"member": entry["member"], "task_id": task_id, "version": _FORGET, "state": "gone"}
            await s.place(placement)
            if result["ok"]:
                await s.count(tasks_claimed=1)
                return await self.get(task_id)
        return None

    async def renew(self, task_id: str, agent: str) -> Task:
        """Extend the agent's lease by another ``lease``."""
        return await self._update(task_id, agent, "renew")

    async def release(self, task_id: str, agent: str) -> Task:
        """Give the task back to the queue, where it keeps its place."""
        return await self._update(task_id, agent, "release")

    async def _update(self, task_id: str, agent: str, op: str) -> Task:
        s, k = self.store, self.store.keys
        user = user_of(task_id)
        result = await s.scripts.json(
            "task_update", [k.task(user), k.task_log(user)],
            [s.now_ms(), task_id, agent, op, int(s.config.lease * 1000)],
        )
        self._raise(result, task_id, agent)
        await s.place(result["placement"])
        task = await self.get(task_id)
        assert task is not None
        return task

    async def resolve(self, task_id: str, agent: str, outcome: str | Outcome, note: str = "") -> Resolution:
        """Record the outcome of the call (see the module docstring for the effects)."""
        try:
            outcome = Outcome(outcome)
        except ValueError:
            raise ActionError(
                f"unknown outcome {outcome!r}: use {', '.join(o.value for o in Outcome)}", code="bad-outcome"
            ) from None
        s, k = self.store, self.store.keys
        user = user_of(task_id)
        keys = [k.task(user), k.task_decisions(user), k.task_log(user), k.tasks(user),
                k.freezes(user), k.audit(user), k.relay(user), k.alerts(user)]
        c = s.config
        result = await s.scripts.json(
            "task_resolve", keys,
            [s.now_ms(), task_id, agent, outcome.value, note, int(c.retry_after * 1000), c.max_attempts],
        )
        self._raise(result, task_id, agent)
        await s.follow_up(user, result)
        await s.count(**{f"tasks_{outcome.value}": 1, "tasks_escalated": int(bool(result.get("escalated")))})
        return Resolution(
            task_id=task_id,
            outcome=outcome,
            escalated=bool(result.get("escalated")),
            retry_at=ms_to_dt(result.get("retry_at")),
            attempts=result.get("attempts"),
            freezes_changed=_list(result.get("freezes")),
        )

    @staticmethod
    def _raise(result: dict[str, Any], task_id: str, agent: str) -> None:
        if not result["ok"]:
            text, code = _WHY.get(result["why"], ("task {task}: {why}", "task-conflict"))
            raise ActionError(text.format(task=task_id, agent=agent, why=result["why"]), code=code)

    # -- reading --------------------------------------------------------------------------
    async def get(self, task_id: str) -> Task | None:
        """The task with its decisions and history, open or closed; None if there is none."""
        user = user_of(task_id)
        k = self.store.keys
        pipe = self.store.client.pipeline(transaction=False)
        pipe.hgetall(k.task(user))
        pipe.lrange(k.task_decisions(user), 0, -1)
        pipe.lrange(k.task_log(user), 0, -1)
        pipe.hget(k.tasks(user), task_id.rpartition("~")[2])
        fields, decisions, log, closed = await pipe.execute()
        if fields and fields.get("id") == task_id:
            return Task.from_fields(fields, [orjson.loads(d) for d in decisions], [orjson.loads(e) for e in log])
        if closed:
            rec = orjson.loads(closed)
            return Task.from_fields(rec, _records(rec.get("decision_list")), _records(rec.get("log")))
        return None

    async def open_task(self, user_id: str) -> Task | None:
        tid = await self.store.client.hget(self.store.keys.task(user_id), "id")
        return await self.get(tid) if tid else None

    async def history(self, user_id: str) -> list[Task]:
        """The user's closed tasks, oldest first."""
        raw = await self.store.client.hgetall(self.store.keys.tasks(user_id))
        out = []
        for n in sorted(raw, key=int):
            rec = orjson.loads(raw[n])
            out.append(Task.from_fields(rec, _records(rec.get("decision_list")), _records(rec.get("log"))))
        return out

    async def entries(self, *, limit: int = 100) -> list[QueueEntry]:
        """The open tasks in the order they will be worked: ready (per language, merged by
        priority and deadline), then claimed, then waiting for a retry."""
        s, k = self.store, self.store.keys
        pipe = s.client.pipeline(transaction=False)
        for lang in s.languages:
            pipe.zrange(k.ready(lang), 0, limit - 1, withscores=True)
        pipe.zrange(k.leased, 0, limit - 1)
        pipe.zrange(k.delayed, 0, limit - 1)
        *readies, leased, delayed = await pipe.execute()
        ready = sorted(((score, m) for r in readies for m, score in r))
        members = [m for _, m in ready][:limit] + leased + delayed
        if not members:
            return []
        raw = await s.client.hmget(k.entry, members)
        state = {m: "ready" for _, m in ready} | dict.fromkeys(leased, "leased") | dict.fromkeys(delayed, "delayed")
        out = []
        for m, r in zip(members, raw, strict=True):
            if r is None:
                continue
            e = orjson.loads(r)
            out.append(_entry(e, state[m]))
        return out[:limit]

    async def breaches(self, *, limit: int = 100) -> list[QueueEntry]:
        """Open tasks past their SLA deadline, the most overdue first."""
        s, k = self.store, self.store.keys
        members = await s.client.zrangebyscore(k.deadline, "-inf", s.now_ms(), start=0, num=limit)
        if not members:
            return []
        raw = await s.client.hmget(k.entry, members)
        out = []
        for r in raw:
            if r is not None:
                e = orjson.loads(r)
                out.append(_entry(e, {"gone": "ready"}.get(e["state"], e["state"])))
        return out

    async def counts(self) -> QueueCounts:
        s, k = self.store, self.store.keys
        pipe = s.client.pipeline(transaction=False)
        for lang in s.languages:
            pipe.zcard(k.ready(lang))
        pipe.zcard(k.leased)
        pipe.zcard(k.delayed)
        pipe.zcard(k.deadline)
        pipe.zcount(k.deadline, "-inf", s.now_ms())
        pipe.zcard(k.escalated)
        pipe.hvals(k.entry)
        *ready, leased, delayed, open_, breached, escalated, entries = await pipe.execute()
        by_priority: dict[str, int] = {}
        oldest = None
        for raw in entries:
            e = orjson.loads(raw)
            p = e["priority"]
            by_priority[p] = by_priority.get(p, 0) + 1
            created = e.get("created")
            if created is not None and (oldest is None or created < oldest):
                oldest = created
        return QueueCounts(
            ready=dict(zip(s.languages, ready, strict=True)), leased=leased, delayed=delayed,
            open=open_, breached=breached, escalated=escalated, by_priority=by_priority,
            oldest=ms_to_dt(oldest),
        )

    async def tally_breaches(self) -> int:
        """Open tasks whose SLA deadline passed since the last tally (by any process); the
        first tally ever starts the count and returns 0. A task closed before a tally saw it
        past its deadline is not counted."""
        s, k = self.store, self.store.keys
        return int(await s.scripts.call("sla_tally", [k.deadline, k.sla], [s.now_ms()]))

    async def escalations(self, *, limit: int = 100) -> list[str]:
        """Escalated task ids, the newest first."""
        return await self.store.client.zrevrange(self.store.keys.escalated, 0, limit - 1)


def _records(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _entry(e: dict[str, Any], state: str) -> QueueEntry:
    return QueueEntry(
        task_id=e["task_id"], user_id=e["user_id"], state=state, priority=e["priority"],
        lang=e.get("lang") or FALLBACK, deadline=ms_to_dt(e["deadline"]),
        at=ms_to_dt(e.get("at")) if state != "ready" else None,
        owner=e.get("owner") if state == "leased" else None,
    )
