"""Event time: RFC 3339 timestamps and human durations.

Everything in the core runs on event time (an event's ``ts``), never on the wall clock,
so that replaying a month of history gives the same answers as living through it.
Times inside the core are POSIX seconds as floats.

>>> parse_duration("10m"), parse_duration("24h"), parse_duration("1d12h")
(600.0, 86400.0, 129600.0)
>>> format_duration(5400)
'1h30m'
>>> parse_ts("2026-11-24T09:15:02+09:00")
datetime.datetime(2026, 11, 24, 9, 15, 2, tzinfo=datetime.timezone(datetime.timedelta(seconds=32400)))
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from stream_guard.core.errors import ConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")

#: The longest duration a rule may use (windows, spans, suppressions, half-lives).
MAX_DURATION = 400 * 86400.0


def parse_duration(text: str | int | float) -> float:
    """Seconds in a duration such as ``"90s"``, ``"10m"``, ``"24h"``, ``"30d"``, ``"1h30m"``.

    A bare number is read as seconds. Raises :class:`ConfigError` (``bad-duration``)
    for anything else, for zero or negative values and for more than 400 days.
    """
    if isinstance(text, bool):
        raise ConfigError(f"expected a duration such as '10m', got {text!r}", code="bad-duration")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        s = str(text).strip().replace(" ", "")
        if not _WHOLE.fullmatch(s):
            raise ConfigError(
                f"expected a duration such as '90s', '10m', '24h' or '30d', got {text!r}",
                code="bad-duration",
            )
        seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(s))
    if not 0 < seconds <= MAX_DURATION:
        raise ConfigError(
            f"a duration must be more than 0 and at most 400d, got {text!r}", code="bad-duration"
        )
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest readable form of a duration, the inverse of :func:`parse_duration`."""
    seconds = round(seconds)
    if seconds <= 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?")


def parse_ts(text: str) -> datetime:
    """An RFC 3339 timestamp with an offset (``Z`` or ``+09:00``); ``ValueError`` otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected an RFC 3339 string, got {type(text).__name__}")
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ValueError(f"not an RFC 3339 date-time such as '2026-11-24T09:15:02+09:00': {text!r}")
    if m.group(2) is None:
        raise ValueError(f"timestamp has no UTC offset (add 'Z' or '+09:00'): {text!r}")
    frac = m.group(1)
    if frac and len(frac) > 7:  # datetime keeps microseconds: drop the nanoseconds
        text = text[: m.start(1) + 7] + text[m.end(1) :]
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text)


def to_epoch(dt: datetime) -> float:
    """POSIX seconds of an aware datetime."""
    return dt.timestamp()


def from_epoch(t: float) -> datetime:
    """An aware UTC datetime from POSIX seconds."""
    return datetime.fromtimestamp(t, tz=UTC)


def iso(t: float) -> str:
    """RFC 3339 UTC text of POSIX seconds, millisecond precision (``2026-11-24T00:15:02.000Z``)."""
    return from_epoch(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")
