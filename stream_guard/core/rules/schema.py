"""The shape of a rule file, as pydantic models (validated before anything compiles).

A rule file holds optional ``lists:``, ``macros:`` and a ``rules:`` list; the risk policy
lives in ``policy.yaml``. ``docs/rules.md`` is the analysts' reference for every key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from stream_guard.core.clock import parse_duration

Severity = Literal["low", "medium", "high", "critical"]
Mode = Literal["enforce", "shadow", "off"]
EventType = Literal["login", "transfer"]
SEVERITY_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}

_ID = r"^[a-z][a-z0-9_]{1,79}$"
_NAME = r"^[a-z][a-z0-9_]{0,63}$"


def _duration(v: Any) -> float:
    return parse_duration(v)


Duration = Annotated[float, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ListSpec(_Strict):
    """A named list: inline ``values`` and/or ``files`` (globs, relative to the rule file)."""

    values: list[str | int | float] = []
    files: list[str] = []
    match: Literal["exact", "lower", "address"] = "exact"
    description: str = ""

    @model_validator(mode="after")
    def _not_empty(self) -> ListSpec:
        if not self.values and not self.files:
            raise ValueError("a list needs 'values' or 'files'")
        return self


def _list_spec(v: Any) -> Any:
    return {"values": v} if isinstance(v, list) else v


class CallbackAction(_Strict):
    priority: Severity = "medium"
    reason: str = ""
    sla: Duration | None = None


class AlertAction(_Strict):
    template: Annotated[str, Field(pattern=_NAME)]


class RemindAction(_Strict):
    topic: Literal["enable_2fa", "change_password", "phishing"]


class FreezeAction(_Strict):
    scope: Literal["withdrawals", "login", "all"] = "withdrawals"
    duration: Duration | None = None
    manual: bool = False

    @model_validator(mode="after")
    def _one_release(self) -> FreezeAction:
        if self.manual == (self.duration is not None):
            raise ValueError("a freeze needs either 'duration' (e.g. 24h) or 'manual: true'")
        return self


class Action(_Strict):
    """One of ``callback``, ``alert``, ``remind``, ``freeze`` (exactly one key)."""

    callback: CallbackAction | None = None
    alert: AlertAction | None = None
    remind: RemindAction | None = None
    freeze: FreezeAction | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        given = [k for k in ("callback", "alert", "remind", "freeze") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "each action is exactly one of 'callback', 'alert', 'remind' or 'freeze'"
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("callback", "alert", "remind", "freeze") if getattr(self, k))

    def to_dict(self) -> dict[str, Any]:
        body = getattr(self, self.kind).model_dump(exclude_none=True, exclude_defaults=False)
        return {"kind": self.kind, **body}


class AggregateSpec(_Strict):
    """A sliding event-time window: fires when ``function(field)`` over it reaches ``threshold``."""

    function: Literal["count", "sum", "count_distinct", "avg"]
    #: an event field, or a list of fields: the first that is not null is used
    field: str | list[str] | None = None
    by: str = "user_id"
    window: Duration
    threshold: Annotated[float, Field(gt=0, le=1e18)]

    @model_validator(mode="after")
    def _field_needed(self) -> AggregateSpec:
        if self.function == "count" and self.field is not None:
            raise ValueError("'count' takes no 'field' (use count_distinct to count values)")
        if self.function != "count" and not self.field:
            raise ValueError(f"'{self.function}' needs a 'field', e.g. field: value_krw")
        return self

    @property
    def fields(self) -> tuple[str, ...]:
        """The field names, without an ``event.`` prefix."""
        if self.field is None:
            return ()
        names = [self.field] if isinstance(self.field, str) else self.field
        return tuple(n.removeprefix("event.") for n in names)


class StepSpec(_Strict):
    name: Annotated[str, Field(pattern=_NAME)]
    on: EventType
    when: str | bool = True
    absent: bool = False
    within: Duration | None = None


class SequenceSpec(_Strict):
    """Ordered steps by one key within a span; a step may be ``absent: true``."""

    by: str = "user_id"
    within: Duration
    steps: Annotated[list[StepSpec], Field(min_length=2, max_length=10)]

    @model_validator(mode="after")
    def _shape(self) -> SequenceSpec:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise ValueError("step names must be unique within a sequence")
        if self.steps[0].absent or self.steps[-1].absent:
            raise ValueError("an 'absent' step must sit between two steps that happen")
        for a, b in zip(self.steps, self.steps[1:], strict=False):
            if a.absent and b.absent:
                raise ValueError("two 'absent' steps in a row: merge them with 'or'")
        return self


class RuleTestSpec(_Strict):
    """An inline test: events in, whether the rule fires out."""

    name: str
    events: Annotated[list[dict[str, Any]], Field(min_length=1)]
    expect: Literal["match", "no_match"]
    decisions: int | None = None
    start: str = "2026-11-24T09:00:00+09:00"
    defaults: dict[str, Any] = {}


class RuleSpec(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    title: str
    description: str = ""
    owner: str = "unowned"
    tags: list[str] = []
    falsepositives: list[str] = []
    severity: Severity
    mode: Mode = "enforce"
    version: Annotated[int, Field(ge=1)] = 1
    on: EventType | None = None
    when: str | bool = True
    aggregate: AggregateSpec | None = None
    sequence: SequenceSpec | None = None
    suppress: Duration | Literal["none"] | None = None
    except_: Annotated[list[str], Field(alias="except")] = []
    risk: Annotated[float, Field(ge=0, le=1000)] = 0
    reason: str | None = None
    actions: list[Action] = []
    tests: list[RuleTestSpec] = []

    @field_validator("except_", mode="before")
    @classmethod
    def _except_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _shape(self) -> RuleSpec:
        if self.sequence is not None:
            if self.aggregate is not None:
                raise ValueError("a rule has either 'aggregate' or 'sequence', not both")
            if self.on is not None or self.when is not True:
                raise ValueError("a sequence rule puts 'on' and 'when' in its steps")
        elif self.on is None:
            raise ValueError("'on' is required: login or transfer")
        return self


class RuleFile(_Strict):
    """The top level of a rule file; each list, macro and rule is validated on its own so
    that one mistake does not hide the rest of the file."""

    lists: dict[Annotated[str, Field(pattern=_NAME)], Any] = {}
    macros: dict[Annotated[str, Field(pattern=_NAME)], str] = {}
    rules: list[Any] = []


def list_spec(v: Any) -> ListSpec:
    """A list entry: ``[values]`` shorthand or the full mapping."""
    return ListSpec.model_validate(_list_spec(v))


class RiskLevel(_Strict):
    id: Annotated[str, Field(pattern=_ID)]
    at: Annotated[float, Field(gt=0)]
    severity: Severity
    title: str = ""
    actions: Annotated[list[Action], Field(min_length=1)]


class PolicyFile(_Strict):
    """``policy.yaml``: risk points decay with ``half_life``; crossing a level acts."""

    version: str | None = None
    half_life: Duration = 72 * 3600.0
    levels: list[RiskLevel] = []

    @model_validator(mode="after")
    def _ordered(self) -> PolicyFile:
        ats = [lv.at for lv in self.levels]
        if ats != sorted(set(ats)):
            raise ValueError("risk levels must have distinct 'at' values in increasing order")
        return self


def placeholders(template: str) -> list[str]:
    """Names used as ``{name}`` in a reason template."""
    return re.findall(r"\{([a-z_][a-z0-9_.]*)\}", template)
