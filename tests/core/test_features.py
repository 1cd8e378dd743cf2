"""Profile features: the registry, each feature on small sequences, and docs/features.md."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path
from typing import Any

import pytest
from factories import login, transfer

from stream_guard.core.events import LOGIN_ACTIONS
from stream_guard.core.features import (
    FEATURES,
    compute_features,
    features_for,
    haversine_km,
    update_profile,
)
from stream_guard.core.profiles import ProfileLimits, UserProfile

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"
T0 = 1_790_000_000
H = 3600
DAY = 86400
LIMITS = ProfileLimits()
SEOUL, BUSAN = (37.5665, 126.9780), (35.1796, 129.0756)




def run(*events: Any, limits: ProfileLimits = LIMITS) -> list[dict[str, Any]]:
    """Features of each event in turn (each computed before that event is folded in)."""
    p, out = UserProfile(), []
    for e in events:
        t = e.ts.timestamp()
        out.append(compute_features(p, e, t))
        update_profile(p, e, t, limits)
    return out


def last(*events: Any) -> dict[str, Any]:
    return run(*events)[-1]


# -- the registry --------------------------------------------------------------------------


def test_registry_is_sorted_and_consistent() -> None:
    assert list(FEATURES) == sorted(FEATURES)
    for name, spec in FEATURES.items():
        assert spec.name == name and re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert spec.type in ("number", "string", "bool") and spec.on in ("login", "transfer", "any")
        assert spec.doc.endswith(".")
        if spec.type == "bool":
            assert not spec.nullable and spec.unit is None


def test_features_for() -> None:
    login_names, transfer_names = set(features_for("login")), set(features_for("transfer"))
    any_names = {n for n, s in FEATURES.items() if s.on == "any"}
    assert any_names <= login_names and any_names <= transfer_names
    assert "velocity_kmh" in login_names and "velocity_kmh" not in transfer_names
    assert "new_address" in transfer_names and "new_address" not in login_names
    assert login_names | transfer_names == set(FEATURES)
    assert list(features_for("login")) == sorted(login_names)
    with pytest.raises(ValueError, match="'logins'"):
        features_for("logins")  # type: ignore[arg-type]


def _check_types(event: Any, f: dict[str, Any]) -> None:
    specs = features_for(event.type)
    assert set(f) == set(specs)
    for name, v in f.items():
        spec = specs[name]
        if v is None:
            assert spec.nullable, f"{name} is None but not nullable"
        elif spec.type == "bool":
            assert type(v) is bool, name
        elif spec.type == "number":
            assert type(v) in (int, float) and math.isfinite(v), name
        else:
            assert type(v) is str, name


def test_every_key_with_its_type_over_a_varied_history() -> None:
    events = [
        login(T0, success=False, device_id=None),
        login(
            T0 + 10, country="KR", lat=SEOUL[0], lon=SEOUL[1], asn=4766, mfa_used=True, locale="ko"
        ),
        transfer(T0 + 20, direction="deposit", address="src", asset="ETH", amount=3),
        transfer(T0 + 30, address="src", asset="ETH", amount=1, ip="198.51.100.4"),
        login(T0 + 40, action="password_change", ip="2001:db8::1"),
        login(T0 + 50, country="JP", lat=35.68, lon=139.69, device_id="d-2"),
        transfer(T0 + 60, address="dst", asset="BTC", amount=1, status="failed"),
        transfer(T0 + 5, direction="deposit", asset="KRW", amount=1e6, value_krw=1e6),
    ]
    p = UserProfile()
    for e in events:
        t = e.ts.timestamp()
        _check_types(e, compute_features(p, e, t))
        update_profile(p, e, t, LIMITS)


def random_history(rng: random.Random, n: int) -> list[Any]:
    """A jumble of events over a month, a few out of order, to exercise every path."""
    out = []
    for _ in range(n):
        t = T0 + rng.randint(0, 30 * DAY)
        if rng.random() < 0.5:
            geo = rng.choice([None, SEOUL, BUSAN])
            out.append(
                login(
                    t,
                    success=rng.random() < 0.7,
                    action=rng.choice(["login", "login", *LOGIN_ACTIONS]),  # mostly logins
                    device_id=rng.choice([None, "d-1", "d-2", "d-3", "x" * 100]),
                    ip=rng.choice(
                        ["203.0.113.7", "198.51.100.9", "2001:db8:1:2::5", "2001:db8::9"]
                    ),
                    country=rng.choice([None, "KR", "JP"]),
                    lat=geo and geo[0],
                    lon=geo and geo[1],
                    asn=rng.choice([None, 4766, 2516]),
                    mfa_used=rng.choice([None, True, False]),
                    locale=rng.choice([None, None, "ko", "en"]),
                )
            )
        else:
            amount = rng.choice([0.001, 1.0, 2.5, 1e6])
            out.append(
                transfer(
                    t,
                    direction=rng.choice(["deposit", "withdrawal"]),
                    status=rng.choice(["requested", "completed", "failed", "cancelled"]),
                    asset=rng.choice(["BTC", "ETH", "KRW", "USDT"]),
                    amount=amount,
                    value_krw=rng.choice([0, amount * 1000]),
                    address=rng.choice([None, "a-1", "a-2", "a-3", "0xAB", "0xab"]),
                    ip=rng.choice([None, "203.0.113.7", "192.0.2.1"]),
                    device_id=rng.choice([None, "d-1", "d-4"]),
                )
            )
    out.sort(key=lambda e: e.ts)
    for i in range(0, len(out) - 1, 7):  # some late arrivals
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


@pytest.mark.parametrize("seed", range(30))
def test_any_history_gives_well_typed_features_and_round_trips(seed: int) -> None:
    limits = ProfileLimits(
        devices=2, countries=1, ips=2, asns=1, withdrawal_addresses=2, deposit_sources=2, assets=2
    )
    p, latest = UserProfile(), 0
    for e in random_history(random.Random(seed), 40):
        t = e.ts.timestamp()
        before = p.to_bytes()
        f = compute_features(p, e, t)
        assert p.to_bytes() == before  # computing features never changes the profile
        _check_types(e, f)
        q = UserProfile.from_bytes(before)
        assert q == p and compute_features(q, e, t) == f
        update_profile(p, e, t, limits)
        latest = max(latest, int(t))
        assert p.last_seen == latest


def test_result_is_a_fresh_dict() -> None:
    p, e = UserProfile(), login(T0)
    f = compute_features(p, e, T0)
    f["new_device"] = "changed"
    assert compute_features(p, e, T0)["new_device"] is False


# -- any event -----------------------------------------------------------------------------


def test_first_event() -> None:
    f = last(login(T0, device_id="d-1", country="KR", asn=1))
    assert f["is_first_event"] is True and f["account_age_days"] == 0.0
    assert f["days_dormant"] is None and f["new_device"] is False and f["new_ip"] is False
    assert f["new_asn"] is False and f["new_country"] is False
    assert f["known_devices_count"] == 0 and f["hours_since_last_login"] is None
    f = last(transfer(T0, address="x"))
    assert f["is_first_event"] is True and f["new_address"] is True


def test_age_and_dormancy() -> None:
    fs = run(login(T0), login(T0 + 2 * DAY), transfer(T0 + 12 * DAY))
    assert fs[1]["is_first_event"] is False
    assert fs[1]["account_age_days"] == 2.0 and fs[1]["days_dormant"] == 2.0
    assert fs[2]["account_age_days"] == 12.0 and fs[2]["days_dormant"] == 10.0


def test_out_of_order_event_clamps_ages() -> None:
    fs = run(login(T0 + DAY), login(T0))
    assert fs[1]["account_age_days"] == 0.0 and fs[1]["days_dormant"] == 0.0


def test_locale_falls_back_to_profile() -> None:
    fs = run(login(T0, locale="ko"), transfer(T0 + 1), login(T0 + 2, locale="en"))
    assert fs[0]["locale"] == "ko" and fs[1]["locale"] == "ko" and fs[2]["locale"] == "en"
    assert last(login(T0))["locale"] is None


def test_mfa_enabled_is_the_state_before_the_event() -> None:
    fs = run(
        login(T0),
        login(T0 + 1, action="mfa_enable"),
        login(T0 + 2),
        login(T0 + 3, action="mfa_disable"),
        transfer(T0 + 4),
    )
    assert [f["mfa_enabled"] for f in fs] == [False, False, True, True, False]


def test_hours_since_security_changes() -> None:
    f = last(
        login(T0, action="password_reset"),
        login(T0 + H, action="mfa_enable"),
        login(T0 + 2 * H, action="email_change"),
        login(T0 + 3 * H, action="phone_change"),
        login(T0 + 4 * H, action="api_key_create"),
        login(T0 + 4 * H, action="email_change", success=False),
        transfer(T0 + 10 * H),
    )
    assert f["hours_since_password_change"] == 10.0
    assert f["hours_since_mfa_change"] == 9.0
    assert f["hours_since_email_change"] == 8.0
    assert f["hours_since_phone_change"] == 7.0
    assert f["hours_since_api_key_create"] == 6.0
    assert f["hours_since_security_change"] == 6.0
    f = last(login(T0), login(T0 + H))
    assert f["hours_since_security_change"] is None and f["hours_since_password_change"] is None


def test_new_device() -> None:
    fs = run(
        login(T0, device_id="d-1"),
        login(T0 + 1, device_id="d-1"),
        login(T0 + 2, device_id="d-2"),
        transfer(T0 + 3, device_id="d-3"),
        transfer(T0 + 4, device_id=None),
    )
    assert [f["new_device"] for f in fs] == [False, False, True, True, False]
    assert [f["known_devices_count"] for f in fs] == [0, 1, 1, 2, 3]


def test_failed_logins_never_make_a_device_known() -> None:
    fs = run(
        login(T0, device_id="d-1"),
        *(login(T0 + i, device_id="d-evil", success=False) for i in range(1, 6)),
        login(T0 + 10, device_id="d-evil"),
    )
    assert all(f["new_device"] for f in fs[1:])
    assert fs[-1]["known_devices_count"] == 1


def test_new_ip_and_ipv6_networks() -> None:
    fs = run(
        login(T0, ip="198.51.100.1"),
        login(T0 + 1, ip="198.51.100.2"),
        login(T0 + 2, ip="2001:db8:7:1::10"),
        login(T0 + 3, ip="2001:db8:7:1::99"),
        transfer(T0 + 4, ip="198.51.100.1"),
        transfer(T0 + 5, ip="203.0.113.200"),
    )
    assert [f["new_ip"] for f in fs] == [False, True, True, False, False, True]


def test_new_asn_login_only() -> None:
    fs = run(
        login(T0, asn=4766),
        login(T0 + 1, asn=4766),
        login(T0 + 2, asn=9318),
        login(T0 + 3),
        transfer(T0 + 4),
    )
    assert [f["new_asn"] for f in fs] == [False, False, True, False, False]


def test_hours_since_new_device_login() -> None:
    fs = run(
        login(T0, device_id="d-1"),
        login(T0 + H, device_id="d-2"),
        transfer(T0 + 3 * H, device_id="d-3"),
        login(T0 + 5 * H, device_id="d-3"),
    )
    assert fs[1]["hours_since_new_device_login"] is None
    assert fs[2]["hours_since_new_device_login"] == 2.0
    # d-3 became known through the transfer: its later login is not a new-device login
    f = last(
        *[
            login(T0, device_id="d-1"),
            login(T0 + H, device_id="d-2"),
            transfer(T0 + 3 * H, device_id="d-3"),
            login(T0 + 5 * H, device_id="d-3"),
            login(T0 + 6 * H),
        ]
    )
    assert f["hours_since_new_device_login"] == 5.0


# -- login only ----------------------------------------------------------------------------


def test_new_country() -> None:
    fs = run(
        login(T0, country="KR"),
        login(T0 + 1, country="KR"),
        login(T0 + 2, country="JP"),
        login(T0 + 3),
        login(T0 + 4, country="US", success=False),
        login(T0 + 5, country="US"),
    )
    assert [f["new_country"] for f in fs] == [False, False, True, False, True, True]
    assert [f["known_countries_count"] for f in fs] == [0, 1, 1, 2, 2, 2]


def test_distance_and_hours_since_last_login() -> None:
    fs = run(
        login(T0, lat=SEOUL[0], lon=SEOUL[1]),
        login(T0 + 2 * H),  # no coordinates
        login(T0 + 5 * H, lat=BUSAN[0], lon=BUSAN[1]),
    )
    assert fs[0]["distance_km"] is None and fs[0]["hours_since_last_login"] is None
    assert fs[1]["distance_km"] is None and fs[1]["velocity_kmh"] is None
    assert fs[1]["hours_since_last_login"] == 2.0
    assert fs[2]["hours_since_last_login"] == 3.0
    d = haversine_km(*SEOUL, *BUSAN)
    assert 320 < d < 330
    assert fs[2]["distance_km"] == d
    assert fs[2]["velocity_kmh"] == pytest.approx(d / 5.0)  # from the login WITH coordinates


def test_failed_login_does_not_move_the_last_login_place() -> None:
    f = last(
        login(T0, lat=SEOUL[0], lon=SEOUL[1]),
        login(T0 + H, lat=BUSAN[0], lon=BUSAN[1], success=False),
        login(T0 + 2 * H, lat=SEOUL[0], lon=SEOUL[1]),
    )
    assert f["distance_km"] == 0.0 and f["hours_since_last_login"] == 2.0


def test_velocity_floors_elapsed_at_60_seconds() -> None:
    a, b = (37.0, 127.0), (38.0, 127.0)  # one degree of latitude, ~111 km
    d = haversine_km(*a, *b)
    same = last(login(T0, lat=a[0], lon=a[1]), login(T0, lat=b[0], lon=b[1]))
    assert same["velocity_kmh"] == pytest.approx(d * 60)  # d km per minute
    ten_s = last(login(T0, lat=a[0], lon=a[1]), login(T0 + 10, lat=b[0], lon=b[1]))
    assert ten_s["velocity_kmh"] == same["velocity_kmh"]
    two_h = last(login(T0, lat=a[0], lon=a[1]), login(T0 + 2 * H, lat=b[0], lon=b[1]))
    assert two_h["velocity_kmh"] == pytest.approx(d / 2)


def test_velocity_null_without_coordinates_on_either_side() -> None:
    assert last(login(T0), login(T0 + H, lat=37.0, lon=127.0))["velocity_kmh"] is None
    assert last(login(T0, lat=37.0, lon=127.0), login(T0 + H))["velocity_kmh"] is None


def test_haversine() -> None:
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == 0.0
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6371.0088)
    assert haversine_km(0.0, 179.5, 0.0, -179.5) == pytest.approx(haversine_km(0, 0, 0, 1))


def test_failed_login_streak() -> None:
    fails = [login(T0 + i, success=False) for i in range(5)]
    fs = run(*fails, login(T0 + 10))
    assert [f["failed_login_streak"] for f in fs] == [1, 2, 3, 4, 5, 5]
    fs = run(
        *fails,
        login(T0 + 10),
        login(T0 + 11, success=False),
        login(T0 + 12, action="password_change", success=False),
    )
    assert fs[-2]["failed_login_streak"] == 1 and fs[-1]["failed_login_streak"] == 1


# -- transfer only -------------------------------------------------------------------------


def test_new_address_per_direction() -> None:
    fs = run(
        transfer(T0, address="w-1"),
        transfer(T0 + 1, address="w-1"),
        transfer(T0 + 2, direction="deposit", address="w-1"),
        transfer(T0 + 3, direction="deposit", address="w-1"),
        transfer(T0 + 4, address="w-2", status="failed"),
        transfer(T0 + 5, address="w-2"),
        transfer(T0 + 6),
    )
    assert [f["new_address"] for f in fs] == [True, False, True, False, True, True, False]
    assert [f["known_addresses_count"] for f in fs] == [0, 1, 0, 1, 1, 1, 2]


def test_address_is_deposit_source() -> None:
    fs = run(
        transfer(T0, direction="deposit", address="0xAbC1"),
        transfer(T0 + 1, address="0xabc1"),
        transfer(T0 + 2, address="other"),
        transfer(T0 + 3, direction="deposit", address="0xabc1"),
    )
    assert [f["address_is_deposit_source"] for f in fs] == [False, True, False, False]


def test_asset_balance_and_balance_share() -> None:
    fs = run(
        transfer(T0, direction="deposit", asset="ETH", amount=4),
        transfer(T0 + 1, asset="ETH", amount=1),
        transfer(T0 + 2, asset="ETH", amount=6),
        transfer(T0 + 3, asset="ETH", amount=1),
        transfer(T0 + 4, direction="deposit", asset="ETH", amount=2),
    )
    assert [f["asset_balance"] for f in fs] == [0.0, 4.0, 3.0, 0.0, 0.0]
    assert [f["balance_share"] for f in fs] == [None, 0.25, 2.0, None, None]


def test_withdrawal_and_deposit_stats() -> None:
    fs = run(
        transfer(T0, direction="deposit", value_krw=1000),
        transfer(T0 + H, value_krw=400),
        transfer(T0 + 2 * H, value_krw=800, status="cancelled"),
        transfer(T0 + 3 * H, value_krw=200),
        transfer(T0 + 5 * H, value_krw=1000),
        transfer(T0 + 6 * H, direction="deposit", value_krw=50),
    )
    f0, f1, _, f3, f4, f5 = fs
    assert f0["withdrawal_count"] == 0 and f0["withdrawal_max_krw"] is None
    assert f0["withdrawal_avg_krw"] is None and f0["withdrawal_ratio_to_max"] is None
    assert f0["deposit_count"] == 0 and f0["deposit_max_krw"] is None
    assert f0["last_deposit_krw"] is None and f0["hours_since_last_deposit"] is None
    assert f1["deposit_count"] == 1 and f1["deposit_max_krw"] == 1000.0
    assert f1["last_deposit_krw"] == 1000.0 and f1["hours_since_last_deposit"] == 1.0
    assert f1["withdrawal_ratio_to_max"] is None  # no earlier withdrawal
    assert f3["withdrawal_count"] == 1 and f3["withdrawal_max_krw"] == 400.0
    assert f3["hours_since_last_withdrawal"] == 2.0  # the cancelled one does not count
    assert f4["withdrawal_count"] == 2 and f4["withdrawal_avg_krw"] == 300.0
    assert f4["withdrawal_ratio_to_max"] == 2.5 and f4["hours_since_last_deposit"] == 5.0
    assert f5["withdrawal_ratio_to_max"] is None  # a deposit
    assert f5["withdrawal_max_krw"] == 1000.0 and f5["hours_since_last_withdrawal"] == 1.0


def test_ratio_to_max_null_when_earlier_withdrawals_were_worthless() -> None:
    f = last(transfer(T0, value_krw=0), transfer(T0 + 1, value_krw=10))
    assert f["withdrawal_max_krw"] == 0.0 and f["withdrawal_ratio_to_max"] is None


# -- docs/features.md cannot drift -----------------------------------------------------------


def _doc_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*`features\.([a-z0-9_]+)`\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def test_docs_name_every_feature_and_nothing_else() -> None:
    text = DOC.read_text(encoding="utf-8")
    # `features.x` as rules write it; not `core.features.x` nor `docs/features.md`
    mentioned = set(re.findall(r"(?<![\w./])features\.([a-z][a-z0-9_]*)", text))
    assert mentioned - set(FEATURES) == set(), "docs/features.md names unknown features"
    assert set(FEATURES) - mentioned == set(), "features missing from docs/features.md"


def test_docs_table_matches_the_registry() -> None:
    rows = _doc_rows()
    assert set(rows) == set(FEATURES)
    for name, (typ, nullable, on, unit, _meaning) in rows.items():
        spec = FEATURES[name]
        assert (typ, nullable, on) == (spec.type, "yes" if spec.nullable else "no", spec.on), name
        assert unit == (spec.unit or "—"), name
