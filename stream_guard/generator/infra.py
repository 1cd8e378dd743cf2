"""Where account thieves connect from: rented servers and VPNs, residential proxies abroad,
and residential proxies in Korea (which look like any home connection).

Benign users reach the same ASNs (VPN users, API bots on cloud servers, travellers on local
ISPs), so an ASN or a country alone never tells an attack apart.

>>> from random import Random
>>> from stream_guard.generator.world import SEOUL, haversine_km
>>> haversine_km(SEOUL, far_net(Random(4), SEOUL)) >= 5_000
True
"""

from __future__ import annotations

from random import Random

from stream_guard.generator.world import (
    DATACENTRES,
    DESTINATIONS,
    FAR_PLACES,
    KR_CITIES,
    KR_CITY_WEIGHTS,
    KR_FIXED,
    KR_FIXED_WEIGHTS,
    KR_MOBILE,
    Net,
    Place,
    haversine_km,
    ip_in,
    net_at,
    place_isps,
)

__all__ = ["ABROAD_PLACES", "attacker_net", "far_net", "hosting", "kr_proxy", "new_country_net",
           "residential_abroad", "same_subnet"]

#: Foreign places with residential/mobile ISPs that proxies exit from.
ABROAD_PLACES: tuple[Place, ...] = tuple(
    dict.fromkeys([d.place for d in DESTINATIONS.values()] + list(FAR_PLACES))
)


def hosting(rng: Random, *, abroad: bool = False) -> Net:
    """An address of a cloud server or VPN exit."""
    choices = [d for d in DATACENTRES if d.place.country != "KR"] if abroad else DATACENTRES
    dc = rng.choice(choices)
    return net_at(ip_in(rng, dc.isp), dc.place, dc.isp)


def residential_abroad(rng: Random, places: tuple[Place, ...] = ABROAD_PLACES) -> Net:
    """A home or mobile address abroad (a residential proxy, or a thief at home)."""
    place = rng.choice(places)
    isp = rng.choice(place_isps(place))
    return net_at(ip_in(rng, isp), place, isp)


def kr_proxy(rng: Random) -> Net:
    """A Korean home or mobile address (residential proxy), in any Korean city."""
    place = rng.choices(KR_CITIES, KR_CITY_WEIGHTS)[0]
    isp = rng.choices(KR_FIXED, KR_FIXED_WEIGHTS)[0] if rng.random() < 0.75 else rng.choice(KR_MOBILE)
    return net_at(ip_in(rng, isp), place, isp)


def attacker_net(rng: Random, weights: tuple[float, float, float] = (4, 3, 3)) -> Net:
    """Hosting/VPN, residential abroad or a Korean residential proxy, by ``weights``."""
    kind = rng.choices(("hosting", "abroad", "kr"), weights)[0]
    if kind == "hosting":
        return hosting(rng)
    if kind == "abroad":
        return residential_abroad(rng)
    return kr_proxy(rng)


def far_net(rng: Random, origin: Place | Net, min_km: float = 5_000) -> Net:
    """An address at least ``min_km`` from ``origin``: residential (60%) or hosting."""
    if rng.random() < 0.6:
        places = tuple(p for p in ABROAD_PLACES if haversine_km(origin, p) >= min_km)
        return residential_abroad(rng, places)
    far = [d for d in DATACENTRES if haversine_km(origin, d.place) >= min_km]
    dc = rng.choice(far)
    return net_at(ip_in(rng, dc.isp), dc.place, dc.isp)


def new_country_net(rng: Random, used: set[str]) -> Net:
    """An address in a country not in ``used`` (residential 70%, else hosting)."""
    if rng.random() < 0.7:
        places = tuple(p for p in ABROAD_PLACES if p.country not in used)
        if places:
            return residential_abroad(rng, places)
    dcs = [d for d in DATACENTRES if d.place.country not in used]
    dc = rng.choice(dcs)
    return net_at(ip_in(rng, dc.isp), dc.place, dc.isp)


def same_subnet(rng: Random, net: Net) -> Net:
    """Another host in the same /24 (IPv4), as proxies that rotate within a block do."""
    if ":" in net.ip:
        return net
    head = net.ip.rsplit(".", 1)[0]
    return net._replace(ip=f"{head}.{rng.randint(1, 254)}")
