"""Calendar days of event times, in one fixed UTC offset for a whole report.

Decisions carry their event's time with the offset the producer wrote (``+09:00``); a
report counts them per calendar day of a single offset — the first event's — so that a
day means the same 24 hours for every rule, whatever offsets the producers mixed.

>>> from stream_guard.core.clock import parse_ts
>>> cal = Calendar(9 * 3600)
>>> cal.label(cal.day(parse_ts("2026-11-24T23:30:00Z").timestamp()))
'2026-11-25'
>>> cal.labels(cal.day(0.0), cal.day(2 * 86400.0))
['1970-01-01', '1970-01-02', '1970-01-03']
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

_EPOCH = date(1970, 1, 1).toordinal()


class Calendar:
    """Maps POSIX seconds to day numbers (days since 1970-01-01 at ``offset``) and back."""

    __slots__ = ("offset",)

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def day(self, t: float) -> int:
        return int((t + self.offset) // 86400)

    def label(self, day: int) -> str:
        return date.fromordinal(_EPOCH + day).isoformat()

    def labels(self, first: int, last: int) -> list[str]:
        """Every day from ``first`` to ``last`` included, as ISO dates."""
        return [self.label(d) for d in range(first, last + 1)]

    def iso(self, t: float) -> str:
        """RFC 3339 text of ``t`` at this offset, to the second."""
        tz = timezone(timedelta(seconds=self.offset))
        return datetime.fromtimestamp(t, tz).isoformat(timespec="seconds")

    @property
    def offset_text(self) -> str:
        """The offset as RFC 3339 writes it (``+09:00``, ``Z``)."""
        if not self.offset:
            return "Z"
        sign = "-" if self.offset < 0 else "+"
        minutes = int(abs(self.offset) // 60)
        return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

    def __repr__(self) -> str:
        return f"Calendar({timedelta(seconds=self.offset)})"
