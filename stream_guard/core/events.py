"""The input wire contract (``EVENTS.md``) as pydantic models: bytes in, typed event out.

>>> e = parse_event(b'{"event_id":"l-1","type":"login","ts":"2026-11-24T09:15:02+09:00",'
...                 b'"user_id":"u-1","success":true,"ip":"203.0.113.7","vip":1}')
>>> e.action, e.success, e.model_extra
('login', True, {'vip': 1})
>>> parse_event(b'{"event_id":"t-1","type":"transfer","ts":"2026-11-24T09:15:02Z",'
...             b'"user_id":"u-1","direction":"withdrawal","asset":"BTC","amount":"-1",'
...             b'"value_krw":5}')
Traceback (most recent call last):
...
stream_guard.core.errors.EventError: amount: must be greater than 0, got '-1'
"""

from __future__ import annotations

import math
import re
import socket
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from stream_guard.core.errors import EventError

__all__ = [
    "LOGIN_ACTIONS",
    "SECURITY_ACTIONS",
    "Event",
    "LoginEvent",
    "TransferEvent",
    "event_json_schema",
    "parse_event",
]

LOGIN_ACTIONS = (
    "login",
    "logout",
    "password_change",
    "password_reset",
    "mfa_enable",
    "mfa_disable",
    "email_change",
    "phone_change",
    "api_key_create",
)
#: Actions that change how the account is secured (what an account takeover does first).
SECURITY_ACTIONS = frozenset(LOGIN_ACTIONS[2:])

_DECIMAL = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")


def _amount(v: Any) -> float:
    """A JSON number or a decimal string, finite and > 0."""
    if isinstance(v, str):
        text = v.strip()
        if not _DECIMAL.fullmatch(text):
            if text.startswith("-"):
                raise ValueError(f"must be greater than 0, got {v!r}")
            raise ValueError(f"expected a number or a decimal string, got {v!r}")
        f = float(text)
        if not math.isfinite(f):
            raise ValueError(f"must be a finite number, got {v!r}")
    elif isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"expected a number or a decimal string, got {v!r}")
    else:
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"must be a finite number, got {v!r}")
    if f <= 0:
        raise ValueError(f"must be greater than 0, got {v!r}")
    return f


def _ip(v: str) -> str:
    # Most events come from an address seen before: a set lookup is ~5x cheaper than
    # inet_pton (only addresses that passed it are remembered, so the answer is the same).
    if v in _VALID_IPS:
        return v
    # inet_pton is ~30x faster than ipaddress.ip_address and accepts the same textual forms
    # (ipaddress additionally takes an IPv6 scope such as '%eth0', which clients never send).
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in v else socket.AF_INET, v)
    except (OSError, ValueError):
        raise ValueError(f"expected an IPv4 or IPv6 address, got {v!r}") from None
    if len(_VALID_IPS) >= 16384:  # bounded: start afresh rather than grow without limit
        _VALID_IPS.clear()
    _VALID_IPS.add(v)
    return v


_VALID_IPS: set[str] = set()


# Validation stays in pydantic-core (Rust) wherever a constraint can say it: strict types,
# bounds, patterns. Python validators run only for the IP and the decimal-string amount.
Amount = Annotated[float, BeforeValidator(_amount)]
Money = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ip = Annotated[str, AfterValidator(_ip)]
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
Locale = Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$")]
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


class _EventBase(BaseModel):
    """Fields both event types share. Unknown extra fields are kept (``model_extra``)."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True, str_max_length=4096)

    event_id: Annotated[str, Field(min_length=1, max_length=256)]
    ts: AwareDatetime
    user_id: Annotated[str, Field(min_length=1, max_length=256)]
    locale: Locale | None = None


class LoginEvent(_EventBase):
    """Authentication and account-security actions (topic ``logins``)."""

    type: Literal["login"]
    action: Literal[
        "login",
        "logout",
        "password_change",
        "password_reset",
        "mfa_enable",
        "mfa_disable",
        "email_change",
        "phone_change",
        "api_key_create",
    ] = "login"
    success: bool
    failure_reason: str | None = None
    ip: Ip
    country: Country | None = None
    city: str | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    asn: Annotated[int, Field(ge=0, le=4294967295)] | None = None
    device_id: str | None = None
    user_agent: str | None = None
    channel: Literal["web", "ios", "android", "api"] | None = None
    mfa_used: bool | None = None


class TransferEvent(_EventBase):
    """Deposits and withdrawals (topic ``transfers``)."""

    type: Literal["transfer"]
    direction: Literal["deposit", "withdrawal"]
    status: Literal["requested", "completed", "failed", "cancelled"] = "requested"
    asset: Annotated[str, Field(min_length=1, max_length=32)]
    amount: Amount
    value_krw: Money
    network: str | None = None
    address: str | None = None
    counterparty_user_id: str | None = None
    ip: Ip | None = None
    device_id: str | None = None


Event = Annotated[LoginEvent | TransferEvent, Field(discriminator="type")]
_ADAPTER: TypeAdapter[LoginEvent | TransferEvent] = TypeAdapter(Event)


def parse_event(raw: bytes | str) -> LoginEvent | TransferEvent:
    """Decode one message. Raises :class:`EventError` naming the field and the reason."""
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _event_error(exc, raw) from None


def parse_obj(obj: Any) -> LoginEvent | TransferEvent:
    """Validate an already-decoded JSON value (a dict); same rules and errors as :func:`parse_event`.

    It goes through JSON so that both entry points accept exactly the wire contract.
    """
    try:
        raw = orjson.dumps(obj)
    except TypeError as exc:
        raise EventError(f"not JSON-serialisable: {exc}", code="not-json") from None
    return parse_event(raw)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of both event types (a ``oneOf`` on ``type``)."""
    return _ADAPTER.json_schema()


def event_to_dict(event: LoginEvent | TransferEvent) -> dict[str, Any]:
    """The event as plain JSON data, extra fields included, ``ts`` as RFC 3339 text."""
    return event.model_dump(mode="json", exclude_none=True)


def event_to_json(event: LoginEvent | TransferEvent) -> bytes:
    return orjson.dumps(event_to_dict(event))


def _event_error(exc: ValidationError, raw: Any) -> EventError:
    err = exc.errors(include_url=False)[0]
    kind = err["type"]
    loc = [str(p) for p in err["loc"]]
    if loc and loc[0] in ("login", "transfer"):
        loc = loc[1:]  # the discriminated union puts the tag first
    field = ".".join(loc) or None
    if kind == "json_invalid":
        return EventError(f"not valid JSON ({err['ctx'].get('error', 'parse error')})", code="not-json")
    if kind in ("model_attributes_type", "model_type", "dict_type") and not loc:
        return EventError(f"expected a JSON object, got {_json_type(raw)}", code="not-an-object")
    if kind == "union_tag_not_found":
        return EventError("missing required field", field="type", code="missing-field")
    if kind == "union_tag_invalid":
        got = err["ctx"].get("tag")
        return EventError(
            f"expected 'login' or 'transfer', got {got!r}", field="type", code="bad-type"
        )
    if kind == "missing":
        return EventError("missing required field", field=field, code="missing-field")
    friendly = _FRIENDLY.get(kind) or _FRIENDLY.get(loc[-1] if kind == "string_pattern_mismatch" and loc else "")
    if friendly:
        return EventError(f"{friendly}, got {err['input']!r}", field=field, code="bad-field")
    msg = err["msg"]
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif kind == "literal_error" or ("input" in err and kind not in ("value_error",)):
        msg = f"{msg}, got {err['input']!r}"
    return EventError(msg, field=field, code="bad-field")


_FRIENDLY = {
    "timezone_aware": "timestamp has no UTC offset (add 'Z' or '+09:00')",
    "datetime_parsing": "not an RFC 3339 date-time such as '2026-11-24T09:15:02+09:00'",
    "datetime_from_date_parsing": "not an RFC 3339 date-time such as '2026-11-24T09:15:02+09:00'",
    "datetime_type": "expected an RFC 3339 date-time string such as '2026-11-24T09:15:02+09:00'",
    "finite_number": "must be a finite number",
    "country": "expected an ISO 3166-1 alpha-2 country code in upper case, such as 'KR'",
    "locale": "expected a BCP 47 language tag such as 'ko' or 'zh-CN'",
}


def _json_type(raw: Any) -> str:
    if isinstance(raw, bytes | str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "something else"
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "a boolean", type(None): "null"}.get(type(raw), type(raw).__name__)
