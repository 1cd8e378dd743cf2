"""How the actions behave: leases, SLAs, retries, rate limits, cool-downs, the webhook.

:class:`ActionsConfig` is plain data handed to the constructors of the actions classes;
``settings.py`` reads it (the ``actions`` table of the settings file, or
``STREAM_GUARD_ACTIONS__<NAME>`` variables) and nothing here reads the environment.
Durations take seconds or text such as ``90s``, ``15m``, ``24h``, ``7d``.

>>> c = ActionsConfig(lease="2m", sla={"critical": "10m"})
>>> c.lease, c.sla_seconds("critical"), c.sla_seconds("low")
(120.0, 600.0, 86400.0)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from stream_guard.core.clock import parse_duration

Priority = Literal["critical", "high", "medium", "low"]
#: Highest first: the order in which callback tasks are worked.
PRIORITIES: tuple[str, ...] = ("critical", "high", "medium", "low")


def _duration(v: Any) -> float:
    return parse_duration(v)


Duration = Annotated[float, BeforeValidator(_duration)]

_DEFAULT_SLA = {"critical": 900.0, "high": 3600.0, "medium": 4 * 3600.0, "low": 24 * 3600.0}


class ActionsConfig(BaseModel):
    """Every knob of the actions side, with the defaults a support desk starts from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_prefix: str = Field("sg", pattern=r"^[A-Za-z0-9_.-]+$", description="First part of every Redis key.")
    lease: Duration = Field(300.0, description="How long a claimed task stays with its agent without a renewal.")
    sla: dict[Priority, Duration] = Field(
        default_factory=lambda: dict(_DEFAULT_SLA),
        description="Time to the first call per priority (a rule's callback `sla:` overrides it).",
    )
    retry_after: Duration = Field(1800.0, description="When an unreachable user is called again.")
    max_attempts: int = Field(3, ge=1, description="Calls before an unreachable user's task is escalated.")
    alert_limit: int = Field(3, ge=1, description="Alerts a user gets at most per alert_window.")
    alert_window: Duration = 3600.0
    alert_repeat: Duration = Field(1800.0, description="The same alert template at most once per this.")
    reminder_cooldown: Duration = Field(7 * 86400.0, description="The same security reminder at most once per this.")
    dedup_ttl: Duration = Field(30 * 86400.0, description="How long a decision id is remembered as done.")
    default_locale: str = Field("ko", description="The language of users whose locale was never seen.")
    templates_dir: Path | None = Field(None, description="Alert templates and call scripts (default: ./alerts, else the bundled ones).")
    timezone: str = Field("Asia/Seoul", description="Time zone of the times shown in alerts.")
    webhook_url: str | None = Field(None, description="POST every alert here as JSON (optional).")
    webhook_secret: str | None = Field(None, description="Sign webhook bodies with HMAC-SHA256 (X-Stream-Guard-Signature).")
    webhook_attempts: int = Field(6, ge=1)
    webhook_backoff: float = Field(0.5, gt=0, description="Seconds before the first retry; doubles each time.")
    webhook_max_backoff: float = Field(30.0, gt=0)
    webhook_timeout: float = Field(5.0, gt=0)
    relay_interval: float = Field(0.2, gt=0, description="Seconds between two looks at the outbox.")
    sweep_interval: float = Field(3600.0, gt=0, description="Seconds between two full scans for lost index entries (a safety net; also at start).")
    redis_backoff_max: float = Field(5.0, gt=0, description="Longest wait between two tries while Redis is unreachable.")
    batch_size: int = Field(200, ge=1, description="Decisions taken from the topic at a time.")
    metrics_interval: float = Field(15.0, gt=0, description="Seconds between two reads of the queue and freeze counts for the metrics (a scrape serves the last read).")
    shadow_keep: int = Field(200, ge=1, description="Shadow decisions kept per user for analysts.")

    @field_validator("sla", mode="before")
    @classmethod
    def _sla(cls, v: Any) -> Any:
        return {**_DEFAULT_SLA, **(v or {})}

    def sla_seconds(self, priority: str) -> float:
        return self.sla.get(priority, _DEFAULT_SLA["medium"])  # type: ignore[call-overload]
