"""The per-user profile: what Stream Guard remembers about one account, and its compact bytes.

A profile is folded from the user's events, on event time, by :func:`update_profile` (after
the rules have looked at the event) and read by :func:`stream_guard.core.features.compute_features`
(before). It holds bounded "known" sets (devices, countries, IPs, ASNs, withdrawal addresses,
deposit sources), the last successful login's place, the times of security changes, the
believed MFA state, the failed-login streak, running balance estimates and transfer stats.
``docs/features.md`` explains each part for risk analysts.

Only *successful* login-type events make a device, country, IP or ASN known: an attacker's
failed guesses must never make his device look familiar.

>>> from stream_guard.core.events import parse_event
>>> e = parse_event(b'{"event_id":"l-1","type":"login","ts":"2026-11-24T09:15:02+09:00",'
...                 b'"user_id":"u-1","success":true,"ip":"203.0.113.7","device_id":"d-1"}')
>>> p = UserProfile()
>>> update_profile(p, e, e.ts.timestamp(), ProfileLimits())
>>> list(p.devices), p.first_seen == p.last_seen == int(e.ts.timestamp())
(['d-1'], True)
>>> UserProfile.from_bytes(p.to_bytes()) == p
True
"""

from __future__ import annotations

import struct
from binascii import b2a_base64
from dataclasses import dataclass, fields
from functools import lru_cache
from hashlib import blake2b
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import TYPE_CHECKING, Any

import orjson

from stream_guard.core.clock import iso
from stream_guard.core.errors import ConfigError

if TYPE_CHECKING:
    from stream_guard.core.events import LoginEvent, TransferEvent

__all__ = [
    "FORMAT_VERSION",
    "ProfileLimits",
    "UserProfile",
    "address_key",
    "device_key",
    "ip_key",
    "update_profile",
]

#: Version of the :meth:`UserProfile.to_bytes` layout, stored as the payload's first item.
FORMAT_VERSION = 1

#: Device ids longer than this are stored as a 64-bit hash, so that a producer sending long
#: fingerprints cannot blow up the profile (8 devices x 4 KB each would be 32 KB).
_MAX_DEVICE_ID = 64

_LIVE = frozenset(("requested", "completed"))
_PASSWORD = frozenset(("password_change", "password_reset"))
_MFA = frozenset(("mfa_enable", "mfa_disable"))


@dataclass(frozen=True)
class ProfileLimits:
    """Caps of the profile's bounded sets; at the cap the least-recently-seen entry goes."""

    devices: int = 8
    countries: int = 8
    ips: int = 16
    asns: int = 8
    withdrawal_addresses: int = 32
    deposit_sources: int = 32
    assets: int = 16

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(
                    f"ProfileLimits.{f.name} must be a whole number of at least 1, got {v!r}"
                )


def _hash64(text: str) -> str:
    """A 64-bit blake2b hash as 11 base64url characters (deterministic across processes)."""
    digest = blake2b(text.encode(), digest_size=8).digest()
    return b2a_base64(digest, newline=False)[:11].translate(_URLSAFE).decode()


_URLSAFE = bytes.maketrans(b"+/", b"-_")


@lru_cache(maxsize=65536)
def address_key(address: str) -> str:
    """The key a withdrawal address or deposit source is remembered by: a 64-bit hash.

    EVM addresses (``0x`` + hex) are case-insensitive (mixed case is only a checksum), so they
    are lower-cased first; every other address is hashed exactly as sent.

    >>> address_key("0xAbC0000000000000000000000000000000000001") == address_key(
    ...     "0xabc0000000000000000000000000000000000001")
    True
    >>> len(address_key("bc1qexampleaddress0000000000000000000"))
    11
    """
    address = address.strip()
    if address[:2] in ("0x", "0X"):
        address = address.lower()
    return _hash64(address)


def device_key(device_id: str) -> str:
    """A device id as stored: itself, or ``#`` + a 64-bit hash when longer than 64 characters."""
    if len(device_id) > _MAX_DEVICE_ID:
        return _long_device_key(device_id)
    return device_id


@lru_cache(maxsize=4096)
def _long_device_key(device_id: str) -> str:
    return "#" + _hash64(device_id)


@lru_cache(maxsize=4096)
def _user_agent_key(user_agent: str) -> str:
    return "~" + _hash64(user_agent)


def client_key(event: LoginEvent | TransferEvent) -> str | None:
    """The device an event came from, as remembered: its ``device_id``; for a login without
    one, its ``user_agent`` stands in (many exchanges' logs have no device fingerprint, and a
    stranger's client differs from the owner's in both); ``None`` when neither is known.

    >>> from stream_guard.core.events import parse_obj
    >>> base = {"event_id": "l-1", "type": "login", "ts": "2026-11-24T09:00:00Z",
    ...         "user_id": "u-1", "success": True, "ip": "203.0.113.7"}
    >>> client_key(parse_obj({**base, "device_id": "d-1", "user_agent": "App/1.0"}))
    'd-1'
    >>> client_key(parse_obj({**base, "user_agent": "App/1.0"})).startswith("~")
    True
    >>> client_key(parse_obj(base)) is None
    True
    """
    return _client_key(event.__dict__)


def _client_key(v: dict[str, Any]) -> str | None:
    """:func:`client_key` of the event whose field values are ``v`` (its ``__dict__``)."""
    dev = v["device_id"]
    if dev is not None:
        return dev if len(dev) <= _MAX_DEVICE_ID else _long_device_key(dev)
    if v["type"] == "login":
        ua = v["user_agent"]
        if ua:
            return _user_agent_key(ua)
    return None


def ip_key(ip: str) -> str:
    """An IP as stored: IPv4 as is, IPv6 as its /64 network.

    IPv6 privacy addresses change the low 64 bits every day or so; the /64 is what stays with
    one household or phone, so it is what "known IP" should mean.

    >>> ip_key("203.0.113.7"), ip_key("2001:db8:1:2:a:b:c:d"), ip_key("::ffff:192.0.2.1")
    ('203.0.113.7', '2001:db8:1:2::/64', '192.0.2.1')
    """
    if ":" in ip:
        return _ipv6_key(ip)
    return ip


@lru_cache(maxsize=16384)
def _ipv6_key(ip: str) -> str:
    # inet_pton rather than the ipaddress module: ~0.5 µs instead of ~15 µs per new address
    try:
        packed = inet_pton(AF_INET6, ip)
    except (OSError, ValueError):  # not reachable for validated events; keep the text
        return ip
    if packed[:12] == _V4_MAPPED:  # ::ffff:a.b.c.d is an IPv4 client
        return inet_ntop(AF_INET, packed[12:])
    a, b, c, d = _FOUR_GROUPS(packed)
    return f"{a:x}:{b:x}:{c:x}:{d:x}::/64"


_V4_MAPPED = bytes(10) + b"\xff\xff"
_FOUR_GROUPS = struct.Struct("!4H").unpack_from


def _add(known: dict[Any, int], key: Any, t: int, cap: int) -> None:
    """Add a key not yet in ``known``; at the cap, forget the least-recently-seen key first."""
    if len(known) >= cap:
        # O(cap), but only when a new key arrives at a full set; ties go to the oldest entry
        # (the first in order). Same as ``min(known, key=known.__getitem__)``, but the values'
        # min runs in C without a key call per entry: ~20% faster (IP sets fill up often).
        oldest = min(known.values())
        for k, seen in known.items():
            if seen == oldest:
                del known[k]
                break
    known[key] = t


def _see(known: dict[Any, int], key: Any, t: int, cap: int) -> bool:
    """Record ``key`` as seen at ``t``; True when it was not known before.

    An out-of-order older event never makes a known key look older.
    """
    old = known.get(key)
    if old is None:
        _add(known, key, t, cap)
        return True
    if t > old:
        known[key] = t
    return False


def _max(a: int | None, b: int) -> int:
    return b if a is None or b > a else a


class UserProfile:
    """Everything remembered about one user. ``UserProfile()`` is a brand-new user.

    Times are POSIX seconds (``int``) of event time. Bounded maps hold key -> last seen time.
    Withdrawal addresses and deposit sources are keyed by :func:`address_key` (a hash).
    """

    __slots__ = (
        "api_key_create_t",
        "asns",
        "asset_seen",
        "balances",
        "countries",
        "deposit_count",
        "deposit_last_krw",
        "deposit_last_t",
        "deposit_max_krw",
        "deposit_sources",
        "deposit_sum_krw",
        "devices",
        "email_change_t",
        "failed_login_streak",
        "first_seen",
        "geo_lat",
        "geo_lon",
        "geo_t",
        "ips",
        "last_seen",
        "locale",
        "login_country",
        "login_device",
        "login_t",
        "mfa_change_t",
        "mfa_enabled",
        "new_device_login_t",
        "password_change_t",
        "phone_change_t",
        "security_change_t",
        "withdrawal_addresses",
        "withdrawal_count",
        "withdrawal_last_t",
        "withdrawal_max_krw",
        "withdrawal_sum_krw",
    )

    def __init__(self) -> None:
        self.first_seen: int | None = None
        self.last_seen: int | None = None  # the latest event time seen, never moved back
        self.devices: dict[str, int] = {}
        self.countries: dict[str, int] = {}
        self.ips: dict[str, int] = {}
        self.asns: dict[int, int] = {}
        self.withdrawal_addresses: dict[str, int] = {}
        self.deposit_sources: dict[str, int] = {}
        self.balances: dict[str, float] = {}  # asset -> estimated balance in asset units
        self.asset_seen: dict[str, int] = {}  # asset -> last seen, for eviction at the cap
        # the last successful login-type event (any action), and the last one with coordinates
        self.login_t: int | None = None
        self.login_country: str | None = None
        self.login_device: str | None = None
        self.geo_lat: float | None = None
        self.geo_lon: float | None = None
        self.geo_t: int | None = None
        self.password_change_t: int | None = None
        self.mfa_change_t: int | None = None
        self.email_change_t: int | None = None
        self.phone_change_t: int | None = None
        self.api_key_create_t: int | None = None
        # the latest of the five above; derived (not serialised), it saves the hot path a max()
        self.security_change_t: int | None = None
        self.mfa_enabled: bool = False
        self.failed_login_streak: int = 0
        self.locale: str | None = None
        self.withdrawal_count: int = 0
        self.withdrawal_sum_krw: float = 0.0
        self.withdrawal_max_krw: float = 0.0
        self.withdrawal_last_t: int | None = None
        self.deposit_count: int = 0
        self.deposit_sum_krw: float = 0.0
        self.deposit_max_krw: float = 0.0
        self.deposit_last_t: int | None = None
        self.deposit_last_krw: float | None = None
        self.new_device_login_t: int | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, UserProfile):
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (
            f"UserProfile(last_seen={self.last_seen!r}, devices={len(self.devices)}, "
            f"countries={len(self.countries)}, ips={len(self.ips)})"
        )

    # -- what people are shown ------------------------------------------------------------
    def brief(self, t: float) -> dict[str, Any] | None:
        """Who the user is, as the detector knew him just before the event at ``t``: for the
        support agent who calls him (a decision's ``profile``). None for a user never seen.

        Bounded (a few hundred bytes): counts rather than lists, except the countries most
        recently signed in from (at most five, newest first). Devices are shown as they
        are kept (a device id, or a hash of the user agent).
        """
        if self.first_seen is None:
            return None
        changes = (("password", self.password_change_t), ("mfa", self.mfa_change_t),
                   ("email", self.email_change_t), ("phone", self.phone_change_t),
                   ("api_key", self.api_key_create_t))
        kind, at = max(((k, c) for k, c in changes if c is not None), key=lambda kc: kc[1], default=(None, None))
        return {
            "account_age_days": round(max(t - self.first_seen, 0) / 86400, 1),
            "last_login": None if self.login_t is None else {
                "at": iso(self.login_t), "country": self.login_country, "device": self.login_device},
            "countries": sorted(self.countries, key=lambda c: -self.countries[c])[:5],
            "devices_known": len(self.devices),
            "ips_known": len(self.ips),
            "mfa_enabled": self.mfa_enabled,
            "failed_login_streak": self.failed_login_streak,
            "last_security_change": None if at is None else {"kind": kind, "at": iso(at)},
            "withdrawals": {"count": self.withdrawal_count, "max_krw": round(self.withdrawal_max_krw),
                            "last_at": None if self.withdrawal_last_t is None else iso(self.withdrawal_last_t)},
            "deposits": {"count": self.deposit_count, "max_krw": round(self.deposit_max_krw),
                         "last_at": None if self.deposit_last_t is None else iso(self.deposit_last_t)},
            "locale": self.locale,
        }

    # -- compact bytes -------------------------------------------------------------------
    #
    # One orjson array, positional. Times are written as ages (last_seen - t, small
    # non-negative ints; ~20% smaller than POSIX times) and whole floats as ints.
    # Bump FORMAT_VERSION and keep a reader for the old layout when this changes.

    def to_bytes(self) -> bytes:
        """The profile as compact bytes (``[FORMAT_VERSION, ...]``); see :meth:`from_bytes`."""
        last = self.last_seen
        if last is None:
            return orjson.dumps([FORMAT_VERSION, None])

        def age(x: int | None) -> int | None:
            return None if x is None else last - x

        def flat(m: dict[Any, int]) -> list[Any]:
            out: list[Any] = []
            for k, v in m.items():
                out += (k, last - v)
            return out

        assets: list[Any] = []
        for a, seen in self.asset_seen.items():
            assets += (a, _compact(self.balances[a]), last - seen)
        return orjson.dumps(
            [
                FORMAT_VERSION,
                last,
                age(self.first_seen),
                flat(self.devices),
                flat(self.countries),
                flat(self.ips),
                flat(self.asns),
                flat(self.withdrawal_addresses),
                flat(self.deposit_sources),
                assets,
                age(self.login_t),
                self.login_country,
                self.login_device,
                self.geo_lat,
                self.geo_lon,
                age(self.geo_t),
                age(self.password_change_t),
                age(self.mfa_change_t),
                age(self.email_change_t),
                age(self.phone_change_t),
                age(self.api_key_create_t),
                int(self.mfa_enabled),
                self.failed_login_streak,
                self.locale,
                self.withdrawal_count,
                _compact(self.withdrawal_sum_krw),
                _compact(self.withdrawal_max_krw),
                age(self.withdrawal_last_t),
                self.deposit_count,
                _compact(self.deposit_sum_krw),
                _compact(self.deposit_max_krw),
                age(self.deposit_last_t),
                None if self.deposit_last_krw is None else _compact(self.deposit_last_krw),
                age(self.new_device_login_t),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> UserProfile:
        """Read :meth:`to_bytes` output back; ``ValueError`` for anything else."""
        try:
            v = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"not a UserProfile payload (bad JSON: {exc})") from None
        if not isinstance(v, list) or not v:
            raise ValueError(f"not a UserProfile payload: expected a JSON array, got {data[:40]!r}")
        if v[0] != FORMAT_VERSION:
            raise ValueError(
                f"UserProfile payload has format version {v[0]!r}; this build reads {FORMAT_VERSION}"
            )
        p = cls()
        if len(v) == 2 and v[1] is None:
            return p
        if len(v) != 34:
            raise ValueError(f"UserProfile payload v1 must have 34 items, got {len(v)}")
        try:
            _read_v1(p, v)
        except (TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"corrupt UserProfile payload: {exc}") from None
        return p

    # -- for humans ------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """A readable, JSON-able digest of the profile (for consoles, alerts and debugging)."""

        def when(x: int | None) -> str | None:
            return None if x is None else iso(x)

        def seen(m: dict[Any, int]) -> dict[str, str]:
            return {str(k): iso(v) for k, v in sorted(m.items(), key=lambda kv: -kv[1])}

        w = self.withdrawal_count
        return {
            "first_seen": when(self.first_seen),
            "last_seen": when(self.last_seen),
            "locale": self.locale,
            "mfa_enabled": self.mfa_enabled,
            "failed_login_streak": self.failed_login_streak,
            "last_login": {
                "at": when(self.login_t),
                "country": self.login_country,
                "device": self.login_device,
                "lat": self.geo_lat,
                "lon": self.geo_lon,
                "coordinates_at": when(self.geo_t),
            },
            "last_new_device_login": when(self.new_device_login_t),
            "security_changes": {
                "password": when(self.password_change_t),
                "mfa": when(self.mfa_change_t),
                "email": when(self.email_change_t),
                "phone": when(self.phone_change_t),
                "api_key": when(self.api_key_create_t),
            },
            "counts": {
                "devices": len(self.devices),
                "countries": len(self.countries),
                "ips": len(self.ips),
                "asns": len(self.asns),
                "withdrawal_addresses": len(self.withdrawal_addresses),
                "deposit_sources": len(self.deposit_sources),
                "assets": len(self.balances),
            },
            "devices": seen(self.devices),
            "countries": seen(self.countries),
            "ips": seen(self.ips),
            "asns": seen(self.asns),
            "balances": dict(sorted(self.balances.items())),
            "withdrawals": {
                "count": w,
                "sum_krw": self.withdrawal_sum_krw,
                "max_krw": self.withdrawal_max_krw if w else None,
                "avg_krw": self.withdrawal_sum_krw / w if w else None,
                "last": when(self.withdrawal_last_t),
            },
            "deposits": {
                "count": self.deposit_count,
                "sum_krw": self.deposit_sum_krw,
                "max_krw": self.deposit_max_krw if self.deposit_count else None,
                "last": when(self.deposit_last_t),
                "last_krw": self.deposit_last_krw,
            },
        }


def _compact(x: float) -> float | int:
    """A whole float as an int (``5.0`` -> ``5``): two bytes less; read back with ``float``."""
    return int(x) if x.is_integer() and -(2**53) < x < 2**53 else x


def _read_v1(p: UserProfile, v: list[Any]) -> None:
    last: int = v[1]
    if not isinstance(last, int):
        raise TypeError(f"last_seen must be an int, got {last!r}")

    def t(x: int | None) -> int | None:
        return None if x is None else last - x

    def unflat(items: list[Any]) -> dict[Any, int]:
        return {items[i]: last - items[i + 1] for i in range(0, len(items), 2)}

    p.last_seen = last
    p.first_seen = t(v[2])
    p.devices = unflat(v[3])
    p.countries = unflat(v[4])
    p.ips = unflat(v[5])
    p.asns = unflat(v[6])
    p.withdrawal_addresses = unflat(v[7])
    p.deposit_sources = unflat(v[8])
    a = v[9]
    for i in range(0, len(a), 3):
        p.balances[a[i]] = float(a[i + 1])
        p.asset_seen[a[i]] = last - a[i + 2]
    p.login_t = t(v[10])
    p.login_country = v[11]
    p.login_device = v[12]
    p.geo_lat = v[13]
    p.geo_lon = v[14]
    p.geo_t = t(v[15])
    p.password_change_t = t(v[16])
    p.mfa_change_t = t(v[17])
    p.email_change_t = t(v[18])
    p.phone_change_t = t(v[19])
    p.api_key_create_t = t(v[20])
    p.mfa_enabled = bool(v[21])
    p.failed_login_streak = v[22]
    p.locale = v[23]
    p.withdrawal_count = v[24]
    p.withdrawal_sum_krw = float(v[25])
    p.withdrawal_max_krw = float(v[26])
    p.withdrawal_last_t = t(v[27])
    p.deposit_count = v[28]
    p.deposit_sum_krw = float(v[29])
    p.deposit_max_krw = float(v[30])
    p.deposit_last_t = t(v[31])
    p.deposit_last_krw = None if v[32] is None else float(v[32])
    p.new_device_login_t = t(v[33])
    changes = [
        x
        for x in (
            p.password_change_t,
            p.mfa_change_t,
            p.email_change_t,
            p.phone_change_t,
            p.api_key_create_t,
        )
        if x is not None
    ]
    p.security_change_t = max(changes) if changes else None


# -- folding events in ---------------------------------------------------------------------


def update_profile(
    profile: UserProfile, event: LoginEvent | TransferEvent, t: float, limits: ProfileLimits
) -> None:
    """Fold ``event`` (at event time ``t``, POSIX seconds) into ``profile``; call after the rules.

    Out-of-order events are welcome: ``last_seen`` and every "last ... time" only move forward.
    """
    ti = int(t)
    p = profile
    if p.last_seen is None:
        p.first_seen = p.last_seen = ti
    elif ti > p.last_seen:
        p.last_seen = ti
    elif ti < p.first_seen:  # type: ignore[operator]
        p.first_seen = ti
    # The event's field values come from the model's __dict__, each read once: BaseModel
    # defines __getattr__, which turns off CPython's attribute fast path, so ``event.ip``
    # costs about twice ``v["ip"]`` — and this runs for every event.
    v = event.__dict__
    locale = v["locale"]
    if locale is not None:
        p.locale = locale
    if v["type"] == "login":
        _update_login(p, v, ti, limits)
    else:
        _update_transfer(p, v, ti, limits)


def _update_login(p: UserProfile, v: dict[str, Any], t: int, limits: ProfileLimits) -> None:
    """Fold in a :class:`LoginEvent` whose field values are ``v``."""
    action = v["action"]
    if not v["success"]:
        # Failed attempts never make a device, place or IP known: they may be the attacker's.
        if action == "login":
            p.failed_login_streak += 1
        return
    if action == "login":
        p.failed_login_streak = 0
    dev = v["device_id"]
    if dev is None or len(dev) > _MAX_DEVICE_ID:  # else it is its own key (_client_key)
        dev = _client_key(v)
    if dev is not None:
        had_devices = bool(p.devices)
        if _see(p.devices, dev, t, limits.devices) and had_devices:
            # a login from a device new at this moment
            p.new_device_login_t = _max(p.new_device_login_t, t)
    country = v["country"]
    if country is not None:
        _see(p.countries, country, t, limits.countries)
    ip = v["ip"]
    if ":" in ip:
        ip = _ipv6_key(ip)
    _see(p.ips, ip, t, limits.ips)
    asn = v["asn"]
    if asn is not None:
        _see(p.asns, asn, t, limits.asns)
    if p.login_t is None or t >= p.login_t:
        p.login_t = t
        p.login_country = country
        p.login_device = dev
    lat = v["lat"]
    if lat is not None and (p.geo_t is None or t >= p.geo_t):
        lon = v["lon"]
        if lon is not None:
            p.geo_lat = lat
            p.geo_lon = lon
            p.geo_t = t
    if not p.mfa_enabled and v["mfa_used"] and (p.mfa_change_t is None or t >= p.mfa_change_t):
        p.mfa_enabled = True
    if action == "login" or action == "logout":
        return
    if action in _PASSWORD:
        p.password_change_t = _max(p.password_change_t, t)
    elif action in _MFA:
        if p.mfa_change_t is None or t >= p.mfa_change_t:
            p.mfa_enabled = action == "mfa_enable"
            p.mfa_change_t = t
    elif action == "email_change":
        p.email_change_t = _max(p.email_change_t, t)
    elif action == "phone_change":
        p.phone_change_t = _max(p.phone_change_t, t)
    elif action == "api_key_create":
        p.api_key_create_t = _max(p.api_key_create_t, t)
    else:
        return
    p.security_change_t = _max(p.security_change_t, t)


def _update_transfer(p: UserProfile, v: dict[str, Any], t: int, limits: ProfileLimits) -> None:
    """Fold in a :class:`TransferEvent` whose field values are ``v``."""
    # A transfer happens inside an authenticated session: its device and IP count as known.
    dev = _client_key(v)
    if dev is not None:
        _see(p.devices, dev, t, limits.devices)
    ip = v["ip"]
    if ip is not None:
        if ":" in ip:
            ip = _ipv6_key(ip)
        _see(p.ips, ip, t, limits.ips)
    if v["status"] not in _LIVE:  # failed / cancelled: nothing moved
        return
    asset = v["asset"]
    seen = p.asset_seen
    old = seen.get(asset)
    if old is None:
        if len(seen) >= limits.assets:
            gone = min(seen, key=seen.__getitem__)
            del seen[gone], p.balances[gone]
        seen[asset] = t
    elif t > old:
        seen[asset] = t
    value = v["value_krw"]
    addr = v["address"]
    if v["direction"] == "withdrawal":
        bal = p.balances.get(asset, 0.0) - v["amount"]
        p.balances[asset] = bal if bal > 0.0 else 0.0
        if addr is not None:
            _see(p.withdrawal_addresses, address_key(addr), t, limits.withdrawal_addresses)
        p.withdrawal_count += 1
        p.withdrawal_sum_krw += value
        if value > p.withdrawal_max_krw:
            p.withdrawal_max_krw = value
        p.withdrawal_last_t = _max(p.withdrawal_last_t, t)
    else:
        p.balances[asset] = p.balances.get(asset, 0.0) + v["amount"]
        if addr is not None:
            _see(p.deposit_sources, address_key(addr), t, limits.deposit_sources)
        p.deposit_count += 1
        p.deposit_sum_krw += value
        if value > p.deposit_max_krw:
            p.deposit_max_krw = value
        if p.deposit_last_t is None or t >= p.deposit_last_t:
            p.deposit_last_t = t
            p.deposit_last_krw = value
