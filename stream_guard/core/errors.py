"""Every error Stream Guard raises on purpose, in one tree.

```
StreamGuardError
├── EventError(ValueError)          an input message breaks the wire contract (EVENTS.md)
├── RuleError(ValueError)           one problem in a rule file, with file:line:column
│   └── RuleSetError                several RuleErrors found while loading a rule set
├── ConfigError(ValueError)         a bad setting, duration or path
└── ActionError                     a task or freeze that cannot be changed so (not yours, closed…)
```

Each error has a stable kebab-case ``code`` (documented in ``docs/errors.md``) so that
tools and tests can match on it rather than on the wording.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class StreamGuardError(Exception):
    """Base class of every error raised on purpose by Stream Guard."""

    code: str = "stream-guard-error"


class EventError(StreamGuardError, ValueError):
    """A message that is not a valid event per EVENTS.md.

    ``field`` is the failing field's path as pydantic prints ``loc`` (``amount``), or
    ``None`` when the message as a whole is wrong (not JSON, not an object).
    """

    def __init__(self, reason: str, *, field: str | None = None, code: str = "invalid-event"):
        self.reason = reason
        self.field = field
        self.code = code
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True)
class SourcePos:
    """A 1-based position in a source file."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line and self.column:
            return f"{self.path}:{self.line}:{self.column}"
        if self.line:
            return f"{self.path}:{self.line}"
        return self.path


class RuleError(StreamGuardError, ValueError):
    """One problem in a rule file: ``path:line:col: message [code]`` (rule id when known)."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        pos: SourcePos | None = None,
        rule_id: str | None = None,
    ):
        self.message = message
        self.code = code
        self.pos = pos
        self.rule_id = rule_id
        super().__init__(self.render())

    def render(self) -> str:
        where = f"{self.pos}: " if self.pos else ""
        rule = f"rule {self.rule_id!r}: " if self.rule_id else ""
        return f"{where}{rule}{self.message} [{self.code}]"

    def at(self, pos: SourcePos | None, rule_id: str | None = None) -> RuleError:
        """The same error, placed at ``pos`` (keeps a more precise position if it has one)."""
        return RuleError(
            self.message,
            code=self.code,
            pos=self.pos if self.pos and self.pos.line else pos,
            rule_id=self.rule_id or rule_id,
        )


class RuleSetError(RuleError):
    """Every error found while loading a rule set; ``errors`` lists them in file order."""

    def __init__(self, errors: Iterable[RuleError]):
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, code=first.code, pos=first.pos, rule_id=first.rule_id)

    def render(self) -> str:
        return "\n".join(e.render() for e in self.errors)


class ConfigError(StreamGuardError, ValueError):
    """A bad setting: a duration, a path, a value out of range."""

    def __init__(self, message: str, *, code: str = "bad-config"):
        self.code = code
        super().__init__(message)


class ActionError(StreamGuardError):
    """A change to a callback task or a freeze that cannot be made: the task is closed, held
    by another agent, the outcome is unknown… (``code`` says which, see docs/errors.md)."""

    def __init__(self, message: str, *, code: str):
        self.code = code
        super().__init__(message)
