"""The user base: personas (small traders, active traders, whales, dormant accounts) with the
habits and quirks that make benign traffic noisy (trips, VPNs, shared office IPs, new phones,
salaries, friends who send money, forgotten passwords).

>>> from random import Random
>>> users = make_population(Random(5), 300, start_ms=1_793_458_800_000, days=14)
>>> len(users), len({u.uid for u in users}), all(u.uid.startswith("u-") for u in users)
(300, 300, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from random import Random

from stream_guard.generator.clients import Device, api_client, new_device
from stream_guard.generator.market import ASSETS, BASE_PRICE, address, bank_account, network_for
from stream_guard.generator.world import (
    BOT_DATACENTRES,
    DATACENTRES,
    DESTINATIONS,
    KR_CITIES,
    KR_CITY_WEIGHTS,
    KR_FIXED,
    KR_FIXED_WEIGHTS,
    KR_MOBILE,
    KR_MOBILE_WEIGHTS,
    TRAVEL_BY_LOCALE,
    DataCentre,
    Destination,
    Isp,
    Net,
    Place,
    ip_in,
    kr_net,
    net_at,
)

__all__ = ["PERSONAS", "Office", "Trip", "User", "make_population"]

_DAY_MS = 86_400_000
_H = 3_600_000


@dataclass(frozen=True)
class Persona:
    p_day: float                 # chance of logging in on a given day
    logins: tuple[int, int]      # logins on an active day
    p_dep: float                 # chance of a deposit on a day
    p_wd: float                  # chance of a withdrawal on a day
    size: tuple[float, float, float]   # typical transfer in KRW: median, low, high
    wealth: tuple[float, float, float]  # holdings in KRW: median, low, high
    p_new_address: float         # a withdrawal goes to an address never used before


PERSONAS = {
    "small": Persona(0.6, (1, 5), 0.09, 0.06, (450_000, 100_000, 3_000_000),
                     (4e6, 5e5, 4e7), 0.04),
    "active": Persona(0.92, (3, 14), 0.3, 0.2, (4e6, 5e5, 5e7), (6e7, 1e7, 6e8), 0.07),
    "whale": Persona(0.75, (2, 6), 0.1, 0.09, (2e8, 5e7, 2e9), (3e9, 5e8, 3e10), 0.08),
    "dormant": Persona(0.3, (1, 2), 0.05, 0.03, (3e5, 5e4, 2e6), (5e6, 5e5, 6e7), 0.03),
}
_PERSONA_WEIGHTS = {"small": 0.74, "active": 0.17, "whale": 0.03, "dormant": 0.06}
_LOCALES = (("ko", 0.83), ("en", 0.07), ("zh-CN", 0.07), ("zh", 0.03))
_HOURS = (7.5, 8.3, 9.5, 12.4, 13.1, 15.0, 18.6, 20.5, 21.4, 22.3, 23.2, 0.6)


@dataclass(eq=False)
class Trip:
    dest: Destination
    dep: int            # wheels up at ICN (ms)
    land: int
    back_dep: int
    back_land: int
    hotel: Net          # the hotel's wifi
    roaming: Isp        # local mobile partner (local breakout)
    hotel_pc_day: int | None  # a day on which the user logs in once from the hotel's PC


@dataclass(eq=False)
class Office:
    """A company or campus network: many accounts behind one or two NAT addresses."""

    nets: tuple[Net, ...]


@dataclass(eq=False)
class User:
    uid: str
    persona: str
    locale: str
    mfa: bool
    home: Place
    isp: Isp
    carrier: Isp
    home_ip: str
    phone: Device
    pc: Device | None
    hours: tuple[float, ...]
    assets: tuple[str, ...]                      # favourite crypto assets
    wallets: dict[str, list[tuple[str, str]]]    # own withdrawal destinations per asset
    sources: dict[str, list[tuple[str, str]]]    # usual deposit sources per asset
    bank: str
    holdings: dict[str, float]
    typo: float
    traits: dict[str, int] = field(default_factory=dict)  # trait -> day it shows (or -1)
    bot: tuple[Net, Device] | None = None
    trip: Trip | None = None
    office: Office | None = None
    vpn: tuple[DataCentre, ...] = ()
    vpn_rate: float = 0.0
    payday: int = 0
    employer: str = ""
    known_devices: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=lambda: {"KR"})
    history_end: int | None = None   # dormant accounts: their last activity before start
    returns_day: int | None = None   # dormant accounts that come back (benign)
    _home_net: Net | None = None

    def __post_init__(self) -> None:
        self.p: Persona = PERSONAS[self.persona]

    def home_net(self) -> Net:
        net = self._home_net
        if net is None or net.ip != self.home_ip:
            net = self._home_net = net_at(self.home_ip, self.home, self.isp)
        return net


def _lognormal(rng: Random, median: float, lo: float, hi: float) -> float:
    sigma = math.log(hi / lo) / 4.5
    return min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma))))


def _pick(rng: Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p for p, _ in pairs], [w for _, w in pairs])[0]


def make_population(rng: Random, n: int, start_ms: int, days: int,
                    min_dormant: int = 0) -> list[User]:
    """``n`` users with personas, devices, wallets, holdings and scheduled habits.

    At least ``min_dormant`` of them are dormant accounts (small populations may need more
    than their share, to have victims for dormant-account attacks).
    """
    ids = rng.sample(range(1000, 10_000_000), n)
    offices = _offices(rng, max(2, n // 150))
    personas = list(_PERSONA_WEIGHTS)
    weights = list(_PERSONA_WEIGHTS.values())
    chosen = [rng.choices(personas, weights)[0] for _ in ids]
    missing = min_dormant - chosen.count("dormant")
    if missing > 0:
        small = [i for i, p in enumerate(chosen) if p == "small"]
        for i in rng.sample(small, min(missing, len(small))):
            chosen[i] = "dormant"
    return [_user(rng, f"u-{num}", persona, start_ms, days, offices)
            for num, persona in zip(ids, chosen, strict=True)]


def _user(rng: Random, uid: str, persona: str, start_ms: int, days: int,
          offices: list[Office]) -> User:
    p = PERSONAS[persona]
    locale = _pick(rng, _LOCALES)
    mfa_rate = {"whale": 0.93, "dormant": 0.7, "active": 0.88}.get(persona, 0.85)
    home = rng.choices(KR_CITIES, KR_CITY_WEIGHTS)[0]
    isp = rng.choices(KR_FIXED, KR_FIXED_WEIGHTS)[0]
    carrier = rng.choices(KR_MOBILE, KR_MOBILE_WEIGHTS)[0]
    phone = new_device(rng, "ios" if rng.random() < 0.44 else "android")
    pc = new_device(rng, "web") if rng.random() < (0.8 if persona == "active" else 0.45) else None
    n_hours = {"active": 3, "whale": 2}.get(persona, rng.choice((1, 2, 2, 3)))
    hours = tuple(rng.sample(_HOURS, n_hours))
    crypto = [a for a in ASSETS if a != "KRW"]
    assets = tuple(rng.sample(crypto, rng.choice((1, 2, 2, 3))))
    if rng.random() < 0.5 and "BTC" not in assets:
        assets = ("BTC", *assets[1:])
    n_wallets = (2, 4) if persona == "whale" else (1, 3)
    wallets: dict[str, list[tuple[str, str]]] = {}
    sources: dict[str, list[tuple[str, str]]] = {}
    for a in assets:
        net_name = network_for(rng, a)
        wallets[a] = [(net_name, address(rng, net_name)) for _ in range(rng.randint(*n_wallets))]
        sources[a] = [(net_name, address(rng, net_name)) for _ in range(rng.randint(1, 2))]
    bank = bank_account(rng)
    wallets["KRW"] = [("bank", bank)]
    sources["KRW"] = [("bank", bank)]
    wealth = _lognormal(rng, *p.wealth)
    krw_share = rng.uniform(0.05, 0.35)
    holdings = {"KRW": float(round(wealth * krw_share))}
    shares = [rng.random() + 0.2 for _ in assets]
    for a, s in zip(assets, shares, strict=True):
        holdings[a] = wealth * (1 - krw_share) * s / sum(shares) / BASE_PRICE[a]
    u = User(uid, persona, locale, rng.random() < mfa_rate, home, isp, carrier,
             ip_in(rng, isp), phone, pc, hours, assets, wallets, sources, bank, holdings,
             0.1 if rng.random() < 0.12 else 0.025)
    u.known_devices.add(phone.device_id or "")
    if pc:
        u.known_devices.add(pc.device_id or "")
    _traits(rng, u, start_ms, days, offices)
    return u


def _day(rng: Random, days: int) -> int:
    return rng.randrange(days)


def _traits(rng: Random, u: User, start_ms: int, days: int, offices: list[Office]) -> None:
    r = rng.random
    if u.persona == "dormant":
        u.history_end = start_ms - rng.randint(201, 399) * _DAY_MS + rng.randrange(_DAY_MS)
        if r() < 0.7:
            u.returns_day = _day(rng, days)
        return
    if u.persona == "active" and r() < 0.35:
        dc = rng.choice(BOT_DATACENTRES)
        u.bot = (net_at(ip_in(rng, dc.isp), dc.place, dc.isp), api_client(rng))
        if r() < 0.1:  # the owner rotates the password and forgets the bot for a while
            u.traits["bot_retry"] = _day(rng, days)
    if r() < 0.1 and days >= 2:
        u.trip = _trip(rng, u, start_ms, days)
        u.countries.add(u.trip.dest.place.country)
    elif r() < 0.055:
        exits = [d for d in DATACENTRES if d.place.country != "KR"]
        u.vpn = tuple(rng.sample(exits, rng.choice((1, 1, 2))))
        u.vpn_rate = rng.uniform(0.05, 0.2)
        u.countries.update(d.place.country for d in u.vpn)
    if r() < 0.09:
        u.office = rng.choice(offices)
    for trait, share in (("new_phone", 0.06), ("security", 0.06), ("forgot", 0.03),
                         ("friends", 0.05), ("split", 0.02)):
        if r() < share:
            u.traits[trait] = _day(rng, days)
    if not u.mfa and r() < 0.35:
        u.traits["big_move"] = _day(rng, days)
    if u.persona in ("active", "whale") and r() < 0.3:
        u.traits["cold_storage"] = _day(rng, days)
    if r() < 0.08:
        u.payday = rng.choice((1, 5, 10, 15, 20, 25))
        u.employer = bank_account(rng)
        u.traits["salary"] = -1


def _trip(rng: Random, u: User, start_ms: int, days: int) -> Trip:
    region = "zh" if u.locale.startswith("zh") else u.locale
    choices = TRAVEL_BY_LOCALE.get(region, TRAVEL_BY_LOCALE["ko"])
    dest = DESTINATIONS[_pick(rng, choices)]
    dep_day = rng.randrange(max(1, days - 1))
    dep = start_ms + dep_day * _DAY_MS + rng.randint(7 * 60, 22 * 60) * 60_000
    land = dep + dest.flight_min * 60_000
    stay = rng.randint(2, 9) if dest.flight_min < 420 else rng.randint(5, 14)
    back_dep = dep + stay * _DAY_MS + int(rng.uniform(-6, 8) * _H)
    # the way back: jet streams make eastbound legs a little faster, westbound slower
    back_land = back_dep + round(dest.flight_min * rng.uniform(0.92, 1.08)) * 60_000
    hotel_isp = rng.choice(dest.fixed)
    hotel = kr_net(rng, dest.place, hotel_isp)
    # a hotel's business-centre PC or a company laptop: a new device in a new country
    hotel_pc_day = dep_day + rng.randint(1, max(1, stay - 1)) if rng.random() < 0.2 else None
    return Trip(dest, dep, land, back_dep, back_land, hotel, rng.choice(dest.mobile), hotel_pc_day)


def _offices(rng: Random, n: int) -> list[Office]:
    sites = (KR_CITIES[0], KR_CITIES[0], KR_CITIES[0], KR_CITIES[4], KR_CITIES[3], KR_CITIES[7],
             KR_CITIES[1])
    out = []
    for _ in range(n):
        place = rng.choice(sites)
        isp = rng.choice(KR_FIXED[:3])
        nats = 2 if rng.random() < 0.2 else 1
        out.append(Office(tuple(kr_net(rng, place, isp) for _ in range(nats))))
    return out
