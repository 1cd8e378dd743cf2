"""What the API takes and answers, where the actions library's own models are not enough.

The library's records (:class:`~stream_guard.actions.tasks.QueueEntry`,
:class:`~stream_guard.actions.freezes.FreezeStatus`,
:class:`~stream_guard.actions.audit.AuditEntry`, …) are answered as they are; this module adds
the SLA countdown, a task's full view for the agent who calls the user, and the request bodies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from stream_guard.actions.alerts import Alert
from stream_guard.actions.audit import AuditEntry
from stream_guard.actions.freezes import FreezeStatus, Scope
from stream_guard.actions.ratelimit import LimitState
from stream_guard.actions.tasks import (
    Outcome,
    QueueCounts,
    QueueEntry,
    Resolution,
    Task,
    TaskDecision,
)

# -- tasks -------------------------------------------------------------------------------------


class Sla(BaseModel):
    deadline: datetime
    seconds_left: float = Field(description="Until the SLA deadline; negative once it is past.")
    breached: bool


class QueueItem(QueueEntry):
    """A task as the queue lists it, with its SLA countdown and the user's locale."""

    locale: str | None = Field(None, description="The user's locale (BCP 47), as the task carries it.")
    seconds_left: float = Field(description="Until the SLA deadline; negative once it is past.")
    breached: bool


class QueueOut(BaseModel):
    now: datetime = Field(description="The server's time: count SLA deadlines down from it.")
    counts: QueueCounts
    tasks: list[QueueItem]


class BreachesOut(BaseModel):
    now: datetime
    tasks: list[QueueItem] = Field(description="Open tasks past their SLA deadline, the most overdue first.")


class EscalationsOut(BaseModel):
    task_ids: list[str] = Field(description="Escalated tasks, the newest first (confirmed fraud, unreachable too often).")


class Decision(TaskDecision):
    """A decision the task holds: what fired, why, and the event's details."""

    rule_version: int | None = None
    risk: float | None = None
    tags: list[str] = Field(default_factory=list)
    evidence: dict[str, Any] = Field(default_factory=dict, description="What the rule measured (counts, sums, scores…).")
    context: dict[str, Any] = Field(default_factory=dict, description="The triggering event's details (amount, asset, address, IP, place, device, locale…).")
    actions: list[dict[str, Any]] = Field(default_factory=list, description="The actions the rule asked for.")
    group: Any = None
    profile: dict[str, Any] | None = Field(
        None, description="Who the user is, as the detector knew him just before the event (account age, last "
                          "sign-in, countries, known devices, 2FA, withdrawals…; docs/api.md); null for rules "
                          "keyed by an IP or an address and for a user's first event.")


class TaskOut(Task):
    decisions: list[Decision] = Field(default_factory=list)  # type: ignore[assignment]

    @classmethod
    def of(cls, task: Task) -> TaskOut:
        return cls.model_validate(task.model_dump())


class Script(BaseModel):
    """The agent's call script, filled with the event's details."""

    language: str = Field(description="The language it is written in (after any fallback to English).")
    name: str = Field(description="The rule id it was written for, or `default`.")
    title: str
    steps: list[str]


class TaskView(BaseModel):
    """Everything an agent needs for the call."""

    now: datetime
    task: TaskOut
    sla: Sla
    yours: bool = Field(description="Whether the caller holds the task's claim now.")
    script: Script = Field(description="The call script in the user's language.")
    script_languages: list[str] = Field(description="Languages the script can be had in (GET …/script?lang=).")
    freezes: FreezeStatus = Field(description="The user's freezes now (all of them, not only the task's).")
    alerts: list[Alert] = Field(description="The newest alerts and reminders the user was sent, the newest first.")


class ClaimIn(BaseModel):
    languages: list[str] | None = Field(
        None, description="Claim only in these (ko, en, zh, *); default: the token's languages. "
                          "They must be among the token's, when the token lists any.",
        max_length=10,
    )


class ResolveIn(BaseModel):
    outcome: Outcome
    note: str = Field("", max_length=2000, description="What the user said: goes to the task's history and the audit trail.")


class ResolveOut(BaseModel):
    resolution: Resolution
    freezes: FreezeStatus = Field(description="The user's freezes after the outcome.")


# -- users -------------------------------------------------------------------------------------


class LiftIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why: goes to the audit trail.")
    scope: Scope | None = Field(None, description="Only freezes of this scope.")
    freeze_ids: list[str] | None = Field(None, max_length=100, description="Only these freezes.")


class LiftOut(BaseModel):
    lifted: list[str]
    freezes: FreezeStatus


class AuditOut(BaseModel):
    user_id: str
    entries: list[AuditEntry] = Field(description="Oldest first.")


class AlertsOut(BaseModel):
    user_id: str
    alerts: list[Alert] = Field(description="The newest first.")
    limits: LimitState = Field(description="The user's alert budget and cool-downs now.")


class UserTasksOut(BaseModel):
    user_id: str
    open: TaskOut | None
    closed: list[TaskOut] = Field(description="Oldest first.")


# -- the rest ----------------------------------------------------------------------------------


class Me(BaseModel):
    subject: str = Field(description="The token's holder: the agent name in histories and the audit trail.")
    role: str
    permissions: list[str]
    languages: list[str] = Field(description="The token's languages (empty: a claim must name them).")
    queue_languages: list[str] = Field(description="The languages the task queues exist in.")
    lease_seconds: float = Field(description="How long a claim lasts without a renewal.")
    now: datetime


class StatsOut(BaseModel):
    counters: dict[str, int] = Field(description="What the actions did, over all agents (docs/actions.md).")


class Health(BaseModel):
    status: str
    redis: str | None = None
    latency_ms: float | None = None
