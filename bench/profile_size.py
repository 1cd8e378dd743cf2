"""Bytes per serialised profile for typical users, and µs per event for features + update.

A typical user here: four weeks of activity, 2 devices, 1-3 countries, a handful of IPs
(one on IPv6), 2-4 withdrawal addresses, 1-2 deposit sources, 3 assets, a few failed logins,
one password change. Run from the repo root (or after ``pip install -e .``):
``PYTHONPATH=. python bench/profile_size.py [users] [seed]``.
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import timeit
import uuid
from typing import Any

from stream_guard.core.events import parse_obj
from stream_guard.core.features import compute_features, update_profile
from stream_guard.core.profiles import ProfileLimits, UserProfile, address_key

DAY = 86400
START = 1_790_000_000  # 2026-09-21
PLACES = [
    ("KR", "Seoul", 37.57, 126.98, 4766),
    ("KR", "Busan", 35.18, 129.08, 9318),
    ("JP", "Tokyo", 35.68, 139.69, 2516),
    ("US", "San Jose", 37.34, -121.89, 7922),
]
ASSETS = [("KRW", 1.0), ("BTC", 131_000_000.0), ("USDT", 1_390.0), ("ETH", 4_600_000.0)]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))


def typical_user(rng: random.Random, user: str, days: int = 28) -> list[Any]:
    """One user's events over ``days`` days, sorted by time, as parsed events."""
    devices = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(2)]
    places = PLACES[: rng.randint(1, 3)]
    ips = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(rng.randint(3, 5))
    ]
    ips.append(f"2001:db8:{rng.randint(0, 65535):x}:{rng.randint(0, 65535):x}::1")
    w_addrs = [
        "bc1q" + "".join(rng.choices("023456789acdefghjklmnpqrstuvwxyz", k=38))
        for _ in range(rng.randint(2, 4))
    ]
    d_srcs = [
        "0x" + "".join(rng.choices("0123456789abcdef", k=40)) for _ in range(rng.randint(1, 2))
    ]
    assets = [ASSETS[0], ASSETS[1], ASSETS[rng.choice((2, 3))]]
    raw: list[dict[str, Any]] = []
    n = 0

    def login(t: float, **kw: Any) -> None:
        nonlocal n
        n += 1
        c, city, lat, lon, asn = rng.choice(places)
        raw.append(
            {
                "event_id": f"{user}-l{n}",
                "type": "login",
                "ts": _iso(t),
                "user_id": user,
                "success": True,
                "ip": rng.choice(ips),
                "country": c,
                "city": city,
                "lat": lat,
                "lon": lon,
                "asn": asn,
                "device_id": rng.choice(devices),
                "channel": "ios",
                "mfa_used": True,
                "locale": "ko",
                **kw,
            }
        )

    def transfer(t: float, direction: str, asset: tuple[str, float], krw: float) -> None:
        nonlocal n
        n += 1
        addr = rng.choice(w_addrs if direction == "withdrawal" else d_srcs)
        raw.append(
            {
                "event_id": f"{user}-t{n}",
                "type": "transfer",
                "ts": _iso(t),
                "user_id": user,
                "direction": direction,
                "status": "completed",
                "asset": asset[0],
                "amount": round(krw / asset[1], 8),
                "value_krw": krw,
                "address": addr,
                "ip": rng.choice(ips),
                "device_id": rng.choice(devices),
            }
        )

    t = START + rng.randint(0, DAY)
    transfer(t, "deposit", assets[0], 5_000_000.0)
    for day in range(days):
        base = START + day * DAY
        for _ in range(rng.randint(1, 3)):
            t = base + rng.randint(0, DAY - 1)
            if rng.random() < 0.1:
                login(t - 30, success=False, failure_reason="bad_password")
            login(t)
            if rng.random() < 0.3:
                transfer(
                    t + 120, "deposit", rng.choice(assets), float(rng.randint(1, 50)) * 100_000
                )
            if rng.random() < 0.2:
                transfer(
                    t + 300, "withdrawal", rng.choice(assets), float(rng.randint(1, 20)) * 50_000
                )
        if day == 10:
            login(base + 3600, action="password_change")
    raw.sort(key=lambda e: e["ts"])
    return [parse_obj(e) for e in raw]


def main(users: int = 200, seed: int = 7) -> None:
    rng = random.Random(seed)
    limits = ProfileLimits()
    histories = []
    for i in range(users):
        evs = typical_user(rng, f"u-{i}")
        histories.append([(e, e.ts.timestamp()) for e in evs])
    events = sum(len(h) for h in histories)

    def replay() -> list[UserProfile]:
        out = []
        for pairs in histories:
            p = UserProfile()
            for e, t in pairs:
                compute_features(p, e, t)
                update_profile(p, e, t, limits)
            out.append(p)
        return out

    # cold: every address and IPv6 network is hashed/parsed once, as for a new user in prod
    address_key.cache_clear()
    start = time.perf_counter()
    profiles = replay()
    cold = (time.perf_counter() - start) / events * 1e6
    warm = min(timeit.repeat(replay, number=1, repeat=5)) / events * 1e6
    sizes = sorted(len(p.to_bytes()) for p in profiles)
    print(f"{users} typical users, {events / users:.0f} events each over 28 days")
    print(
        f"bytes per profile: median {statistics.median(sizes):.0f}, "
        f"p95 {sizes[int(0.95 * (len(sizes) - 1))]}, max {sizes[-1]}"
    )
    print(
        f"compute_features + update_profile, µs per event: {cold:.2f} first pass, "
        f"{warm:.2f} replay (best of 5)"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
