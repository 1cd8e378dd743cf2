"""The functions a rule condition may call, and the run-time helpers the compiler binds.

Every function is null-safe: it returns ``None`` when an input it needs is ``None`` (or
is not of the kind it expects), except :func:`coalesce` and :func:`is_null`, whose whole
point is to look at ``None``. ``None`` is false in ``and``/``or``/``not``, and comparing it
with ``<``, ``<=``, ``>`` or ``>=`` is false, so a missing value never makes a rule fire
by accident.

>>> lower("ABC"), lower(None), coalesce(None, 3, 4), is_null(None)
('abc', None, 3, True)
>>> hours_since(0.0, 7200.0), log10(0), in_cidr("10.1.2.3", CidrSet(["10.0.0.0/8"]))
(2.0, None, True)

:data:`FUNCTIONS` describes each function for the compiler (arity, argument kinds and
the type of the result); the compiler checks every call against it before building code.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

__all__ = [
    "FUNCTIONS",
    "CidrSet",
    "Function",
    "abs_",
    "coalesce",
    "contains",
    "endswith",
    "hours_since",
    "in_cidr",
    "is_null",
    "length",
    "log10",
    "lower",
    "max_",
    "min_",
    "round_",
    "startswith",
    "upper",
]

#: How far ``round(x, n)`` may round: ``round(5, -10**18)`` would build 10**(10**18).
MAX_ROUND_DIGITS = 20
#: Above this many bits an integer power is done in floats (which overflow to ``None``).
_MAX_POW_BITS = 4096
_SIZED = (str, list, tuple, set, frozenset, dict)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


# --- the analyst-facing functions -------------------------------------------------------


def lower(s: Any) -> str | None:
    """``lower(s)``: the text in lower case."""
    return s.lower() if isinstance(s, str) else None


def upper(s: Any) -> str | None:
    """``upper(s)``: the text in upper case."""
    return s.upper() if isinstance(s, str) else None


def length(s: Any) -> int | None:
    """``len(s)``: the number of characters in a text (or items in a list value)."""
    return len(s) if isinstance(s, _SIZED) else None


def startswith(s: Any, prefix: Any) -> bool | None:
    """``startswith(s, prefix)``: whether the text ``s`` begins with ``prefix``."""
    return s.startswith(prefix) if isinstance(s, str) and isinstance(prefix, str) else None


def endswith(s: Any, suffix: Any) -> bool | None:
    """``endswith(s, suffix)``: whether the text ``s`` ends with ``suffix``."""
    return s.endswith(suffix) if isinstance(s, str) and isinstance(suffix, str) else None


def contains(s: Any, sub: Any) -> bool | None:
    """``contains(s, sub)``: whether ``sub`` occurs anywhere in the text ``s``."""
    return (sub in s) if isinstance(s, str) and isinstance(sub, str) else None


def abs_(x: Any) -> float | int | None:
    """``abs(x)``: the absolute value of a number."""
    return abs(x) if _is_number(x) else None


def min_(*xs: Any) -> float | int | None:
    """``min(a, b, ...)``: the smallest of two or more numbers; ``None`` if any is missing."""
    return min(xs) if all(_is_number(x) for x in xs) else None


def max_(*xs: Any) -> float | int | None:
    """``max(a, b, ...)``: the largest of two or more numbers; ``None`` if any is missing."""
    return max(xs) if all(_is_number(x) for x in xs) else None


def round_(x: Any, n: int | None = None) -> float | int | None:
    """``round(x[, n])``: ``x`` rounded to ``n`` decimals (a whole number without ``n``).

    ``n`` must be a whole-number constant between -20 and 20 (checked when compiling).
    Infinite or NaN input gives ``None``.
    """
    if not _is_number(x) or not math.isfinite(x):
        return None
    return round(x) if n is None else round(x, n)


def log10(x: Any) -> float | None:
    """``log10(x)``: the base-10 logarithm; ``None`` for zero, negative or missing ``x``."""
    return math.log10(x) if _is_number(x) and x > 0 else None


def coalesce(*xs: Any) -> Any:
    """``coalesce(a, b, ...)``: the first argument that is not ``None`` (else ``None``)."""
    for x in xs:
        if x is not None:
            return x
    return None


def is_null(x: Any) -> bool:
    """``is_null(x)``: whether ``x`` is missing (``None``); the same as ``x is None``."""
    return x is None


def hours_since(t0: Any, t: float) -> float | None:
    """``hours_since(t0)``: hours from ``t0`` to the event's time (negative if ``t0`` is later).

    ``t0`` may be POSIX seconds or a timezone-aware datetime. The compiler passes the
    event time ``t`` itself; rules never read the wall clock.
    """
    p = to_posix(t0)
    return (t - p) / 3600.0 if _is_number(p) else None


class CidrSet:
    """A set of IPv4/IPv6 networks, parsed once, answering ``ip in networks`` quickly.

    >>> nets = CidrSet(["10.0.0.0/8", "2001:db8::/32"])
    >>> "10.9.9.9" in nets, "11.0.0.1" in nets, "2001:db8::1" in nets, "junk" in nets
    (True, False, True, False)
    """

    __slots__ = ("_by_len",)

    def __init__(self, networks: Iterable[str | ipaddress.IPv4Network | ipaddress.IPv6Network]):
        # One set of network numbers per (version, prefix length): a lookup masks the
        # address once per distinct prefix length instead of scanning every network.
        by_len: dict[tuple[int, int], set[int]] = {}
        for item in networks:
            net = ipaddress.ip_network(item, strict=False)  # ValueError/TypeError if bad
            key = (net.version, net.prefixlen)
            by_len.setdefault(key, set()).add(int(net.network_address))
        self._by_len = {
            k: (_mask(*k), frozenset(v)) for k, v in sorted(by_len.items(), reverse=True)
        }

    def __contains__(self, ip: object) -> bool:
        try:
            addr = ipaddress.ip_address(ip)  # type: ignore[arg-type]
        except ValueError:
            return False
        n = int(addr)
        return any(
            version == addr.version and (n & mask) in nets
            for (version, _), (mask, nets) in self._by_len.items()
        )


def _mask(version: int, prefixlen: int) -> int:
    bits = 32 if version == 4 else 128
    return ((1 << prefixlen) - 1) << (bits - prefixlen)


def in_cidr(ip: Any, networks: CidrSet) -> bool | None:
    """``in_cidr(ip, 'cidr-or-list')``: whether the address lies in a network.

    The second argument is a CIDR constant (``'10.0.0.0/8'``) or the name of a list of
    CIDRs; either is parsed when the rule is compiled. A missing ``ip`` gives ``None``;
    text that is not an IP address gives ``False``.
    """
    if not isinstance(ip, str):
        return None
    return ip in networks


# --- helpers the compiler binds (not callable by analysts) --------------------------------


def to_posix(x: Any) -> Any:
    """A datetime as POSIX seconds; anything else unchanged (so ``None`` stays ``None``)."""
    return x.timestamp() if isinstance(x, datetime) else x


def as_number(x: Any) -> Any:
    """``x`` if it is a number (not a bool), else ``None``: guards ``any``-typed operands."""
    return x if _is_number(x) else None


def safe_pow(base: Any, exp: int | float) -> Any:
    """``base ** exp`` that never builds a huge integer and never raises; ``None`` on failure."""
    if not _is_number(base):
        return None
    if isinstance(base, int) and base.bit_length() * abs(exp) > _MAX_POW_BITS:
        base = float(base)
    try:
        result = base**exp
    except (OverflowError, ZeroDivisionError):
        return None
    return None if isinstance(result, complex) else result


def step_field(st: Any, step: str, name: str) -> Any:
    """``steps.<step>.<name>``: the field of an earlier step's event, ``None`` if absent."""
    ev = st.get(step)
    return None if ev is None else getattr(ev, name, None)


# --- the catalogue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Function:
    """How the compiler checks and calls one function.

    ``params`` gives each argument's kind: a value type (``number``, ``string``, ``time``,
    ``any``) or a compile-time kind: ``list-name`` (a quoted key of ``Scope.lists``),
    ``cidr`` (a quoted CIDR or list name) or ``digits`` (a small whole-number constant).
    With ``variadic`` the last kind repeats. ``returns == "same"`` means the common type
    of the arguments.
    """

    name: str
    impl: Callable[..., Any] | None
    params: tuple[str, ...]
    returns: str
    min_args: int
    variadic: bool = False
    nullable: bool = True
    needs_time: bool = False
    signature: str = ""

    @property
    def max_args(self) -> int | None:
        return None if self.variadic else len(self.params)


def _fn(
    name: str,
    impl: Callable[..., Any] | None,
    params: str,
    returns: str,
    min_args: int | None = None,
    **kw: Any,
) -> Function:
    kinds = tuple(params.split())
    n = len(kinds) if min_args is None else min_args
    return Function(name, impl, kinds, returns, n, **kw)


#: Every function a condition may call, by the name analysts write.
FUNCTIONS: MappingProxyType[str, Function] = MappingProxyType(
    {
        f.name: f
        for f in [
            _fn(
                "in_list",
                None,
                "any list-name",
                "bool",
                nullable=False,
                signature="in_list(x, 'list_name')",
            ),
            _fn("in_cidr", in_cidr, "string cidr", "bool", signature="in_cidr(ip, 'cidr-or-list')"),
            _fn("lower", lower, "string", "string", signature="lower(s)"),
            _fn("upper", upper, "string", "string", signature="upper(s)"),
            _fn("len", length, "any", "number", signature="len(s)"),
            _fn(
                "startswith", startswith, "string string", "bool", signature="startswith(s, prefix)"
            ),
            _fn("endswith", endswith, "string string", "bool", signature="endswith(s, suffix)"),
            _fn("contains", contains, "string string", "bool", signature="contains(s, sub)"),
            _fn("abs", abs_, "number", "number", signature="abs(x)"),
            _fn("min", min_, "number number", "number", variadic=True, signature="min(a, b, ...)"),
            _fn("max", max_, "number number", "number", variadic=True, signature="max(a, b, ...)"),
            _fn("round", round_, "number digits", "number", 1, signature="round(x[, n])"),
            _fn("log10", log10, "number", "number", signature="log10(x)"),
            _fn(
                "coalesce", coalesce, "any", "same", variadic=True, signature="coalesce(a, b, ...)"
            ),
            _fn("is_null", is_null, "any", "bool", nullable=False, signature="is_null(x)"),
            _fn(
                "hours_since",
                hours_since,
                "time",
                "number",
                needs_time=True,
                signature="hours_since(t0)",
            ),
        ]
    }
)
