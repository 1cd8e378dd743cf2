"""Profile features: the registry rules refer to (``features.<name>``) and their computation.

:data:`FEATURES` is the single source of truth: names, types, units and meanings.
``docs/features.md`` documents the same set for risk analysts (a test keeps them in step).
:func:`compute_features` reads a :class:`~stream_guard.core.profiles.UserProfile` as it was
*before* the event; :func:`update_profile` folds the event in *after* the rules ran.

>>> from stream_guard.core.events import parse_event
>>> from stream_guard.core.profiles import ProfileLimits, UserProfile
>>> p, limits = UserProfile(), ProfileLimits()
>>> e = parse_event(b'{"event_id":"l-1","type":"login","ts":"2026-11-24T09:00:00Z",'
...                 b'"user_id":"u-1","success":true,"ip":"203.0.113.7","device_id":"d-1"}')
>>> f = compute_features(p, e, e.ts.timestamp())
>>> f["is_first_event"], f["new_device"], f["days_dormant"]
(True, False, None)
>>> update_profile(p, e, e.ts.timestamp(), limits)
>>> e2 = parse_event(b'{"event_id":"l-2","type":"login","ts":"2026-11-24T12:00:00Z",'
...                  b'"user_id":"u-1","success":true,"ip":"203.0.113.7","device_id":"d-2"}')
>>> f = compute_features(p, e2, e2.ts.timestamp())
>>> f["new_device"], f["hours_since_last_login"], sorted(f) == sorted(features_for("login"))
(True, 3.0, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from math import asin, cos, pi, sin, sqrt
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

# the underscored names: the key helpers' parts, inlined on the hot path below
from stream_guard.core.profiles import (
    _MAX_DEVICE_ID,
    UserProfile,
    _client_key,
    _ipv6_key,
    address_key,
    update_profile,
)

if TYPE_CHECKING:
    from stream_guard.core.events import LoginEvent, TransferEvent

__all__ = [
    "EARTH_RADIUS_KM",
    "FEATURES",
    "FeatureSpec",
    "compute_features",
    "features_for",
    "haversine_km",
    "update_profile",
]

#: Mean Earth radius (IUGG), km.
EARTH_RADIUS_KM = 6371.0088
#: Velocity divides by at least this many seconds, so two logins in one second stay finite.
_MIN_ELAPSED_S = 60.0


@dataclass(frozen=True)
class FeatureSpec:
    """One profile feature as rules see it (``features.<name>``)."""

    name: str
    type: Literal["number", "string", "bool"]
    nullable: bool
    on: Literal["login", "transfer", "any"]
    unit: str | None
    doc: str


def _specs() -> list[FeatureSpec]:
    F = FeatureSpec
    any_, login, transfer = "any", "login", "transfer"
    # one spec per entry, laid out as a table
    # fmt: off
    return [
        # -- any event ---------------------------------------------------------------------
        F("is_first_event", "bool", False, any_, None,
          "No earlier event is known for this user."),
        F("account_age_days", "number", False, any_, "d",
          "Days since the user's first event (0 for the first event)."),
        F("days_dormant", "number", True, any_, "d",
          "Days since the user's own last activity (a successful login-type event or a "
          "withdrawal; failed logins and deposits, which anyone can cause, don't count); "
          "since the first event if there was no activity yet; null on the first event."),
        F("locale", "string", True, any_, None,
          "The event's locale, else the last locale seen for the user."),
        F("mfa_enabled", "bool", False, any_, None,
          "Believed MFA state before this event (mfa_enable / a login with MFA turn it on, "
          "mfa_disable turns it off)."),
        F("hours_since_password_change", "number", True, any_, "h",
          "Hours since the last successful password_change or password_reset."),
        F("hours_since_mfa_change", "number", True, any_, "h",
          "Hours since the last successful mfa_enable or mfa_disable."),
        F("hours_since_email_change", "number", True, any_, "h",
          "Hours since the last successful email_change."),
        F("hours_since_phone_change", "number", True, any_, "h",
          "Hours since the last successful phone_change."),
        F("hours_since_api_key_create", "number", True, any_, "h",
          "Hours since the last successful api_key_create."),
        F("hours_since_security_change", "number", True, any_, "h",
          "Hours since the most recent of the five security changes above."),
        F("new_device", "bool", False, any_, None,
          "The event names a device the user has not used before, and the user has at least "
          "one known device."),
        F("known_devices_count", "number", False, any_, None,
          "Devices known for the user before this event."),
        F("new_ip", "bool", False, any_, None,
          "The event names an IP (an IPv6 /64) not known for the user, and the user has at "
          "least one known IP."),
        F("new_asn", "bool", False, any_, None,
          "The login's ASN is not known for the user, and the user has at least one known "
          "ASN; always false for transfers."),
        F("hours_since_new_device_login", "number", True, any_, "h",
          "Hours since the last successful login from a device that was new at that time."),
        # -- login only --------------------------------------------------------------------
        F("new_country", "bool", False, login, None,
          "The login's country is not known for the user, and the user has at least one "
          "known country."),
        F("known_countries_count", "number", False, login, None,
          "Countries known for the user before this event."),
        F("distance_km", "number", True, login, "km",
          "Great-circle distance from the last successful login with coordinates; null "
          "without coordinates on either side."),
        F("hours_since_last_login", "number", True, any_, "h",
          "Hours since the last successful login-type event (any action)."),
        F("velocity_kmh", "number", True, login, "km/h",
          "distance_km over the hours elapsed since that login, the elapsed time floored "
          "at 60 s; pair it with a minimum distance_km (GeoIP is coarse)."),
        F("failed_login_streak", "number", False, login, None,
          "Failed login attempts in a row just before this event, plus 1 if this event is "
          "itself a failed login."),
        # -- transfer only -----------------------------------------------------------------
        F("new_address", "bool", False, transfer, None,
          "The transfer's address is not among the user's known addresses for this "
          "direction (true even when there are none yet); false without an address."),
        F("known_addresses_count", "number", False, transfer, None,
          "Known addresses for this direction (withdrawal addresses or deposit sources)."),
        F("address_is_deposit_source", "bool", False, transfer, None,
          "A withdrawal to an address the user has deposited from (his own wallet); false "
          "for deposits."),
        F("asset_balance", "number", False, transfer, "asset units",
          "Estimated balance of the transfer's asset before this event."),
        F("balance_share", "number", True, transfer, None,
          "Withdrawal amount / asset_balance; may exceed 1; null when the balance is 0 "
          "or for deposits."),
        F("withdrawal_count", "number", False, transfer, None,
          "Earlier requested or completed withdrawals."),
        F("deposit_count", "number", False, transfer, None,
          "Earlier requested or completed deposits."),
        F("withdrawal_max_krw", "number", True, transfer, "KRW",
          "Largest earlier withdrawal; null when none."),
        F("withdrawal_avg_krw", "number", True, transfer, "KRW",
          "Mean earlier withdrawal; null when none."),
        F("deposit_max_krw", "number", True, transfer, "KRW",
          "Largest earlier deposit; null when none."),
        F("withdrawal_ratio_to_max", "number", True, transfer, None,
          "value_krw / withdrawal_max_krw for withdrawals; null for deposits or without an "
          "earlier withdrawal of positive value."),
        F("hours_since_last_deposit", "number", True, transfer, "h",
          "Hours since the latest earlier deposit."),
        F("hours_since_last_withdrawal", "number", True, transfer, "h",
          "Hours since the latest earlier withdrawal."),
        F("last_deposit_krw", "number", True, transfer, "KRW",
          "Value of the latest earlier deposit."),
    ]
    # fmt: on


FEATURES: Mapping[str, FeatureSpec] = MappingProxyType(
    {s.name: s for s in sorted(_specs(), key=lambda s: s.name)}
)
_FOR: dict[str, Mapping[str, FeatureSpec]] = {
    kind: MappingProxyType({n: s for n, s in FEATURES.items() if s.on in (kind, "any")})
    for kind in ("login", "transfer")
}


def features_for(event_type: Literal["login", "transfer"]) -> Mapping[str, FeatureSpec]:
    """The features computed for ``event_type`` (its own plus the ``any`` ones), by name."""
    try:
        return _FOR[event_type]
    except KeyError:
        raise ValueError(f"event_type must be 'login' or 'transfer', got {event_type!r}") from None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a sphere of radius :data:`EARTH_RADIUS_KM`.

    >>> round(haversine_km(37.5665, 126.9780, 35.6762, 139.6503))  # Seoul - Tokyo
    1149
    """
    if lat1 == lat2 and lon1 == lon2:  # the usual case: GeoIP placed both logins alike
        return 0.0
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    s1 = sin((p2 - p1) * 0.5)
    s2 = sin((lon2 - lon1) * _HALF_RAD)
    a = s1 * s1 + cos(p1) * cos(p2) * s2 * s2
    return _TWO_R * asin(sqrt(a if a < 1.0 else 1.0))


_RAD = pi / 180.0
_HALF_RAD = pi / 360.0
_TWO_R = 2.0 * EARTH_RADIUS_KM
_HOUR = 1.0 / 3600.0
_DAY = 1.0 / 86400.0

# The hot path (compute + update should cost a few µs per event). CPython spends ~30 ns per
# dict item, so each call copies a pre-sized template holding every key with its "unknown"
# value (None, or False for flags) and sets only what this event knows.
_TEMPLATE = {
    kind: {n: (False if s.type == "bool" else None) for n, s in specs.items()}
    for kind, specs in _FOR.items()
}
_LOGIN_TEMPLATE, _TRANSFER_TEMPLATE = _TEMPLATE["login"], _TEMPLATE["transfer"]


def compute_features(
    profile: UserProfile, event: LoginEvent | TransferEvent, t: float
) -> dict[str, Any]:
    """Every feature of :func:`features_for` ``(event.type)``, from the profile before ``event``.

    ``t`` is the event time in POSIX seconds (``event.ts.timestamp()``). Unknown values are
    ``None``. The dict is new on each call: callers may keep it.
    """
    p = profile
    v = event.__dict__  # the field values, read as in update_profile (which says why)
    if v["type"] == "login":
        f = _LOGIN_TEMPLATE.copy()
        _login(p, v, t, f)
    else:
        f = _TRANSFER_TEMPLATE.copy()
        _transfer(p, v, t, f)
    last = p.last_seen
    if last is None:
        f["is_first_event"] = True
        f["account_age_days"] = 0.0
    else:
        # max(0, ...): an out-of-order event may be older than everything seen
        age = (t - p.first_seen) * _DAY  # type: ignore[operator]
        f["account_age_days"] = age if age > 0.0 else 0.0
        # Dormancy counts from the owner's own last activity (a successful login-type event
        # or a withdrawal): failed logins and incoming deposits can come from anyone,
        # an attacker probing a forgotten account included.
        active = p.login_t
        w = p.withdrawal_last_t
        if w is not None and (active is None or w > active):
            active = w
        dormant = (t - (active if active is not None else p.first_seen)) * _DAY  # type: ignore[operator]
        f["days_dormant"] = dormant if dormant > 0.0 else 0.0
    f["locale"] = v["locale"] or p.locale
    f["mfa_enabled"] = p.mfa_enabled
    if p.security_change_t is not None:  # any of the five; most users have none
        if p.password_change_t is not None:
            f["hours_since_password_change"] = (t - p.password_change_t) * _HOUR
        if p.mfa_change_t is not None:
            f["hours_since_mfa_change"] = (t - p.mfa_change_t) * _HOUR
        if p.email_change_t is not None:
            f["hours_since_email_change"] = (t - p.email_change_t) * _HOUR
        if p.phone_change_t is not None:
            f["hours_since_phone_change"] = (t - p.phone_change_t) * _HOUR
        if p.api_key_create_t is not None:
            f["hours_since_api_key_create"] = (t - p.api_key_create_t) * _HOUR
        f["hours_since_security_change"] = (t - p.security_change_t) * _HOUR
    devices = p.devices
    f["known_devices_count"] = len(devices)
    if devices:
        dev = v["device_id"]
        if dev is None or len(dev) > _MAX_DEVICE_ID:  # else it is its own key (_client_key)
            dev = _client_key(v)
        if dev is not None and dev not in devices:
            f["new_device"] = True
    ip, ips = v["ip"], p.ips
    if ip is not None and ips:
        if ":" in ip:
            ip = _ipv6_key(ip)
        if ip not in ips:
            f["new_ip"] = True
    if p.new_device_login_t is not None:
        f["hours_since_new_device_login"] = (t - p.new_device_login_t) * _HOUR
    if p.login_t is not None:
        f["hours_since_last_login"] = (t - p.login_t) * _HOUR
    return f


def _login(p: UserProfile, v: dict[str, Any], t: float, f: dict[str, Any]) -> None:
    """The login features; ``v`` holds the fields of a :class:`LoginEvent`."""
    asn = v["asn"]
    if asn is not None and p.asns and asn not in p.asns:
        f["new_asn"] = True
    countries = p.countries
    f["known_countries_count"] = len(countries)
    c = v["country"]
    if c is not None and countries and c not in countries:
        f["new_country"] = True
    gt, lat = p.geo_t, v["lat"]
    if gt is not None and lat is not None and (lon := v["lon"]) is not None:
        if lat == p.geo_lat and lon == p.geo_lon:
            # the usual case (GeoIP placed both logins alike), without calling haversine_km
            f["distance_km"] = f["velocity_kmh"] = 0.0
        else:
            d = haversine_km(p.geo_lat, p.geo_lon, lat, lon)  # type: ignore[arg-type]
            f["distance_km"] = d
            # abs(): out of order, the speed between the two places is the same
            elapsed = t - gt if t >= gt else gt - t
            f["velocity_kmh"] = d * 3600.0 / (elapsed if elapsed > _MIN_ELAPSED_S else _MIN_ELAPSED_S)
    if v["success"] or v["action"] != "login":
        f["failed_login_streak"] = p.failed_login_streak
    else:
        f["failed_login_streak"] = p.failed_login_streak + 1


def _transfer(p: UserProfile, v: dict[str, Any], t: float, f: dict[str, Any]) -> None:
    """The transfer features; ``v`` holds the fields of a :class:`TransferEvent`."""
    addr = v["address"]
    key = None if addr is None else address_key(addr)
    bal = p.balances.get(v["asset"], 0.0)
    f["asset_balance"] = bal
    wc = p.withdrawal_count
    if v["direction"] == "withdrawal":
        known = p.withdrawal_addresses
        if key is not None and key in p.deposit_sources:
            f["address_is_deposit_source"] = True
        if bal > 0.0:
            f["balance_share"] = v["amount"] / bal
        if wc and p.withdrawal_max_krw > 0.0:
            f["withdrawal_ratio_to_max"] = v["value_krw"] / p.withdrawal_max_krw
    else:
        known = p.deposit_sources
    if key is not None and key not in known:
        f["new_address"] = True
    f["known_addresses_count"] = len(known)
    f["withdrawal_count"] = wc
    if wc:
        f["withdrawal_max_krw"] = p.withdrawal_max_krw
        f["withdrawal_avg_krw"] = p.withdrawal_sum_krw / wc
        f["hours_since_last_withdrawal"] = (t - p.withdrawal_last_t) * _HOUR  # type: ignore[operator]
    dc = f["deposit_count"] = p.deposit_count
    if dc:
        f["deposit_max_krw"] = p.deposit_max_krw
        f["hours_since_last_deposit"] = (t - p.deposit_last_t) * _HOUR  # type: ignore[operator]
        f["last_deposit_krw"] = p.deposit_last_krw
