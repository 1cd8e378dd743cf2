"""UserProfile: what each event updates, caps and eviction, and the compact bytes."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
from factories import login, transfer

from stream_guard.core.errors import ConfigError
from stream_guard.core.features import compute_features
from stream_guard.core.profiles import (
    FORMAT_VERSION,
    ProfileLimits,
    UserProfile,
    address_key,
    device_key,
    ip_key,
    update_profile,
)

T0 = 1_790_000_000  # 2026-09-21T14:13:20Z
H = 3600
DAY = 86400
LIMITS = ProfileLimits()




def feed(p: UserProfile, *events: Any, limits: ProfileLimits = LIMITS) -> UserProfile:
    for e in events:
        update_profile(p, e, e.ts.timestamp(), limits)
    return p


def typical_user(seed: int = 1, days: int = 28) -> tuple[UserProfile, list[Any]]:
    """A realistic few weeks: 2 devices, 1-3 countries, a handful of IPs, 2-4 withdrawal
    addresses, 1-2 deposit sources, 3 assets."""
    rng = random.Random(seed)
    devices = [f"{rng.getrandbits(128):032x}" for _ in range(2)]
    places = [("KR", 37.57, 126.98, 4766), ("KR", 35.18, 129.08, 9318), ("JP", 35.68, 139.69, 2516)]
    places = places[: rng.randint(1, 3)]
    ips = [f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(4)]
    ips.append("2001:db8:42:7::1")
    w_addrs = ["bc1q" + f"{rng.getrandbits(150):038x}" for _ in range(rng.randint(2, 4))]
    d_srcs = ["0x" + f"{rng.getrandbits(160):040x}" for _ in range(rng.randint(1, 2))]
    assets = [("KRW", 1.0), ("BTC", 131e6), ("USDT", 1390.0)]
    events = [
        transfer(T0, direction="deposit", asset="KRW", amount=5e6, value_krw=5e6, address=d_srcs[0])
    ]
    for day in range(days):
        for _ in range(rng.randint(1, 3)):
            t = T0 + day * DAY + rng.randint(60, DAY - 600)
            c, lat, lon, asn = rng.choice(places)
            if rng.random() < 0.1:
                events.append(login(t - 30, success=False, ip=rng.choice(ips), device_id=None))
            events.append(
                login(
                    t,
                    ip=rng.choice(ips),
                    device_id=rng.choice(devices),
                    country=c,
                    lat=lat,
                    lon=lon,
                    asn=asn,
                    mfa_used=True,
                    locale="ko",
                )
            )
            a, price = rng.choice(assets)
            krw = rng.randint(1, 40) * 100_000.0
            if rng.random() < 0.3:
                events.append(
                    transfer(
                        t + 60,
                        direction="deposit",
                        asset=a,
                        amount=krw / price,
                        value_krw=krw,
                        address=rng.choice(d_srcs),
                    )
                )
            if rng.random() < 0.2:
                events.append(
                    transfer(
                        t + 300,
                        asset=a,
                        amount=krw / price / 2,
                        value_krw=krw / 2,
                        address=rng.choice(w_addrs),
                        ip=rng.choice(ips),
                        device_id=rng.choice(devices),
                    )
                )
        if day == 9:
            events.append(
                login(T0 + day * DAY + 50, action="password_change", device_id=devices[0])
            )
    events.sort(key=lambda e: e.ts)
    return feed(UserProfile(), *events), events


# -- limits and keys ---------------------------------------------------------------------


def test_limits_defaults_and_validation() -> None:
    assert ProfileLimits().ips == 16 and ProfileLimits().withdrawal_addresses == 32
    with pytest.raises(ConfigError, match=r"ProfileLimits\.devices"):
        ProfileLimits(devices=0)
    with pytest.raises(ConfigError):
        ProfileLimits(assets=True)  # type: ignore[arg-type]


def test_address_key_is_a_stable_64_bit_hash() -> None:
    # a fixed value: the key must not depend on the process (Python's hash() would)
    assert address_key("bc1qexampleaddress0000000000000000000") == "wmxl4BmcEX8"
    assert address_key(" 0xABCDEF0000000000000000000000000000000001") == address_key(
        "0xabcdef0000000000000000000000000000000001"
    )
    assert address_key("TXyz1") != address_key("txyz1")  # base58 is case-sensitive


def test_device_and_ip_keys() -> None:
    assert device_key("d-1") == "d-1"
    long_id = "x" * 200
    assert device_key(long_id).startswith("#") and len(device_key(long_id)) == 12
    assert ip_key("2001:db8:1:2:aaaa::1") == ip_key("2001:0db8:0001:0002:bbbb::9")
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("2001:db8::1") == "2001:db8:0:0::/64"
    assert ip_key("::ffff:192.0.2.1") == "192.0.2.1"  # an IPv4 client, not the ::/64 network


# -- what updates what ---------------------------------------------------------------------


def test_new_profile_is_empty() -> None:
    p = UserProfile()
    assert p.first_seen is None and p.last_seen is None and not p.devices
    assert p.mfa_enabled is False and p.failed_login_streak == 0
    orjson.dumps(p.summary())


def test_last_seen_never_moves_back_first_seen_does() -> None:
    p = feed(UserProfile(), login(T0 + 100), login(T0 + 50), login(T0 + 200), login(T0 + 10))
    assert p.last_seen == T0 + 200
    assert p.first_seen == T0 + 10


def test_failed_logins_do_not_make_anything_known() -> None:
    p = feed(
        UserProfile(),
        login(
            T0,
            success=False,
            device_id="d-evil",
            country="RU",
            asn=1,
            ip="45.155.205.17",
            lat=55.7,
            lon=37.6,
        ),
    )
    assert not p.devices and not p.countries and not p.ips and not p.asns
    assert p.login_t is None and p.geo_t is None
    assert p.failed_login_streak == 1
    assert p.last_seen == T0  # the user was still seen


def test_successful_login_records_place_and_sets() -> None:
    p = feed(
        UserProfile(),
        login(T0, country="KR", asn=4766, lat=37.57, lon=126.98, device_id="d-1", ip="203.0.113.7"),
    )
    assert p.devices == {"d-1": T0} and p.countries == {"KR": T0}
    assert p.ips == {"203.0.113.7": T0} and p.asns == {4766: T0}
    assert (p.login_t, p.login_country, p.login_device) == (T0, "KR", "d-1")
    assert (p.geo_lat, p.geo_lon, p.geo_t) == (37.57, 126.98, T0)


def test_any_successful_action_counts_as_a_login() -> None:
    p = feed(UserProfile(), login(T0, action="password_change", device_id="d-2"))
    assert "d-2" in p.devices and p.login_t == T0 and p.password_change_t == T0


def test_login_without_coordinates_keeps_previous_geo() -> None:
    p = feed(UserProfile(), login(T0, lat=37.5, lon=127.0), login(T0 + H))
    assert p.login_t == T0 + H and p.geo_t == T0 and p.geo_lat == 37.5


def test_out_of_order_event_does_not_age_a_key_or_move_last_login() -> None:
    p = feed(
        UserProfile(),
        login(T0 + 100, device_id="d-1", country="KR"),
        login(T0 + 50, device_id="d-1", country="JP"),
    )
    assert p.devices["d-1"] == T0 + 100
    assert p.login_country == "KR" and p.login_t == T0 + 100
    assert p.countries == {"KR": T0 + 100, "JP": T0 + 50}


def test_transfer_session_adds_device_and_ip_whatever_the_status() -> None:
    p = feed(UserProfile(), transfer(T0, status="failed", device_id="d-9", ip="198.51.100.1"))
    assert "d-9" in p.devices and "198.51.100.1" in p.ips
    assert not p.balances and not p.withdrawal_addresses and p.withdrawal_count == 0


def test_eviction_drops_the_least_recently_seen() -> None:
    limits = ProfileLimits(devices=2)
    p = feed(
        UserProfile(),
        login(T0, device_id="a"),
        login(T0 + 1, device_id="b"),
        login(T0 + 2, device_id="a"),
        login(T0 + 3, device_id="c"),
        limits=limits,
    )
    assert set(p.devices) == {"a", "c"}  # "b" was seen less recently than "a"


def test_eviction_uses_event_time_not_arrival_order() -> None:
    limits = ProfileLimits(countries=2)
    p = feed(
        UserProfile(),
        login(T0 + 10, country="KR"),
        login(T0 + 5, country="JP"),
        login(T0 + 20, country="US"),
        limits=limits,
    )
    assert set(p.countries) == {"KR", "US"}  # JP arrived later but was seen earlier


@pytest.mark.parametrize("cap_name", ["ips", "asns", "withdrawal_addresses", "deposit_sources"])
def test_each_bounded_set_is_capped(cap_name: str) -> None:
    limits = ProfileLimits(**{cap_name: 3})
    p = UserProfile()
    for i in range(10):
        t = T0 + i
        if cap_name == "ips":
            feed(p, login(t, ip=f"198.51.100.{i + 1}"), limits=limits)
        elif cap_name == "asns":
            feed(p, login(t, asn=100 + i), limits=limits)
        elif cap_name == "withdrawal_addresses":
            feed(p, transfer(t, address=f"addr-{i}"), limits=limits)
        else:
            feed(p, transfer(t, direction="deposit", address=f"addr-{i}"), limits=limits)
    known = getattr(p, cap_name)
    assert len(known) == 3 and sorted(known.values()) == [T0 + 7, T0 + 8, T0 + 9]


def test_asset_cap_forgets_the_balance_too() -> None:
    limits = ProfileLimits(assets=2)
    p = feed(
        UserProfile(),
        transfer(T0, direction="deposit", asset="A", amount=1),
        transfer(T0 + 1, direction="deposit", asset="B", amount=2),
        transfer(T0 + 2, direction="deposit", asset="C", amount=3),
        limits=limits,
    )
    assert p.balances == {"B": 2.0, "C": 3.0} and set(p.asset_seen) == {"B", "C"}


@pytest.mark.parametrize(
    ("status", "direction", "balance"),
    [
        ("requested", "deposit", 12.0),
        ("completed", "deposit", 12.0),
        ("failed", "deposit", 10.0),
        ("cancelled", "deposit", 10.0),
        ("requested", "withdrawal", 8.0),
        ("completed", "withdrawal", 8.0),
        ("failed", "withdrawal", 10.0),
        ("cancelled", "withdrawal", 10.0),
    ],
)
def test_balance_by_status(status: str, direction: str, balance: float) -> None:
    p = feed(
        UserProfile(),
        transfer(T0, direction="deposit", asset="ETH", amount=10),
        transfer(T0 + 1, direction=direction, status=status, asset="ETH", amount=2),
    )
    assert p.balances["ETH"] == balance


def test_balance_floors_at_zero() -> None:
    p = feed(
        UserProfile(),
        transfer(T0, direction="deposit", asset="ETH", amount=1),
        transfer(T0 + 1, asset="ETH", amount=5),
    )
    assert p.balances["ETH"] == 0.0
    p = feed(UserProfile(), transfer(T0, asset="XRP", amount=5))  # never deposited
    assert p.balances["XRP"] == 0.0


def test_requested_then_completed_counts_twice() -> None:
    # The contract has no transfer id: documented in docs/features.md.
    p = feed(
        UserProfile(),
        transfer(T0, direction="deposit", amount=3),
        transfer(T0 + 1, direction="deposit", amount=3),
    )
    assert p.balances["BTC"] == 6.0 and p.deposit_count == 2


def test_transfer_stats() -> None:
    p = feed(
        UserProfile(),
        transfer(T0, direction="deposit", value_krw=1000, address="src-1"),
        transfer(T0 + 10, direction="deposit", value_krw=5000),
        transfer(T0 + 5, direction="deposit", value_krw=300),  # out of order
        transfer(T0 + 20, value_krw=700, address="dst-1"),
        transfer(T0 + 30, value_krw=200, status="requested"),
        transfer(T0 + 40, value_krw=9999, status="cancelled", address="dst-2"),
    )
    assert (p.deposit_count, p.deposit_sum_krw, p.deposit_max_krw) == (3, 6300.0, 5000.0)
    assert (p.deposit_last_t, p.deposit_last_krw) == (T0 + 10, 5000.0)
    assert (p.withdrawal_count, p.withdrawal_sum_krw, p.withdrawal_max_krw) == (2, 900.0, 700.0)
    assert p.withdrawal_last_t == T0 + 30
    assert set(p.deposit_sources) == {address_key("src-1")}
    assert set(p.withdrawal_addresses) == {address_key("dst-1")}  # not the cancelled one


def test_security_change_times_successful_only() -> None:
    p = feed(
        UserProfile(),
        login(T0, action="password_reset"),
        login(T0 + 10, action="email_change", success=False),
        login(T0 + 20, action="phone_change"),
        login(T0 + 30, action="api_key_create"),
        login(T0 + 40, action="mfa_enable"),
        login(T0 - 5, action="password_change"),
    )  # late and older: not moved back
    assert p.password_change_t == T0
    assert p.email_change_t is None
    assert (p.phone_change_t, p.api_key_create_t, p.mfa_change_t) == (T0 + 20, T0 + 30, T0 + 40)
    assert p.security_change_t == T0 + 40


def test_mfa_state() -> None:
    p = UserProfile()
    feed(p, login(T0, mfa_used=False))
    assert p.mfa_enabled is False
    feed(p, login(T0 + 1, mfa_used=True))
    assert p.mfa_enabled is True
    feed(p, login(T0 + 2, action="mfa_disable", mfa_used=True))  # OTP shown to turn it off
    assert p.mfa_enabled is False
    feed(p, login(T0 + 3, action="mfa_enable", success=False))
    assert p.mfa_enabled is False
    feed(p, login(T0 + 4, action="mfa_enable"))
    assert p.mfa_enabled is True


def test_failed_login_streak() -> None:
    p = feed(UserProfile(), *(login(T0 + i, success=False) for i in range(3)))
    assert p.failed_login_streak == 3
    feed(p, login(T0 + 4, action="password_change", success=False))  # not a login attempt
    feed(p, login(T0 + 5, action="logout"))  # a success, but not a login
    assert p.failed_login_streak == 3
    feed(p, login(T0 + 6))
    assert p.failed_login_streak == 0


def test_locale_keeps_the_last_non_null() -> None:
    p = feed(UserProfile(), login(T0, locale="ko"), login(T0 + 1), transfer(T0 + 2))
    assert p.locale == "ko"
    feed(p, transfer(T0 + 3, locale="en"))
    assert p.locale == "en"


def test_new_device_login_time() -> None:
    p = feed(UserProfile(), login(T0, device_id="d-1"))
    assert p.new_device_login_t is None  # the first device is not "new"
    feed(p, login(T0 + 10, device_id="d-2", success=False))
    assert p.new_device_login_t is None
    feed(p, login(T0 + 20, device_id="d-2"), login(T0 + 30, device_id="d-2"))
    assert p.new_device_login_t == T0 + 20


# -- bytes ---------------------------------------------------------------------------------


def _probes(t: float) -> list[Any]:
    return [
        login(t, device_id="d-new", country="US", lat=40.7, lon=-74.0, asn=7922, success=False),
        login(t, ip="2001:db8:42:7::99", mfa_used=True, locale="en"),
        transfer(t, address="bc1qprobe", asset="BTC", amount=0.01, value_krw=1_310_000),
        transfer(t, direction="deposit", asset="USDT", amount=100, value_krw=139_000),
    ]


def test_round_trip_is_exact() -> None:
    p, _ = typical_user()
    q = UserProfile.from_bytes(p.to_bytes())
    assert q == p
    assert q.to_bytes() == p.to_bytes()
    assert q.summary() == p.summary()
    for attr in ("devices", "ips", "withdrawal_addresses", "asset_seen"):
        assert list(getattr(q, attr)) == list(getattr(p, attr))  # order breaks eviction ties
    for e in _probes(p.last_seen + 3 * H):  # type: ignore[operator]
        t = e.ts.timestamp()
        assert compute_features(q, e, t) == compute_features(p, e, t)


def test_round_trip_of_empty_and_sparse_profiles() -> None:
    assert UserProfile.from_bytes(UserProfile().to_bytes()) == UserProfile()
    p = feed(UserProfile(), login(T0, success=False))
    assert UserProfile.from_bytes(p.to_bytes()) == p
    p = feed(UserProfile(), transfer(T0, asset="ETH", amount=0.1 + 0.2, value_krw=1e-7))
    q = UserProfile.from_bytes(p.to_bytes())
    assert q == p and q.withdrawal_sum_krw == 1e-7


def test_payload_carries_its_version() -> None:
    p, _ = typical_user()
    assert orjson.loads(p.to_bytes())[0] == FORMAT_VERSION
    with pytest.raises(ValueError, match="format version 99"):
        UserProfile.from_bytes(orjson.dumps([99, 1]))
    for bad in (b"", b"{}", b"[1, 5, 6]", b"\xff", orjson.dumps([1] + [None] * 33)):
        with pytest.raises(ValueError):
            UserProfile.from_bytes(bad)


@pytest.mark.parametrize("seed", range(5))
def test_typical_profile_is_small(seed: int) -> None:
    p, _ = typical_user(seed)
    assert len(p.devices) == 2 and len(p.balances) == 3
    assert len(p.to_bytes()) < 2048


def test_summary_is_readable_json() -> None:
    p, _ = typical_user()
    s = p.summary()
    orjson.dumps(s)
    assert s["mfa_enabled"] is True and s["locale"] == "ko"
    assert s["counts"]["devices"] == 2 and set(s["balances"]) == {"KRW", "BTC", "USDT"}
    assert s["last_login"]["country"] in {"KR", "JP"}
    assert s["security_changes"]["password"] is not None
    assert s["last_seen"].endswith("Z")
