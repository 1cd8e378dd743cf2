"""Geography and networks: where logins come from.

Korean cities and ISPs with their real ASNs, foreign destinations with the block time of a
flight from Incheon (ICN), residential and mobile ISPs abroad, and hosting/VPN datacentres.
Every IP address is drawn from a per-ISP block of public address space, so the same ISP always
yields addresses that look alike and geolocate alike, as a GeoIP database would make them.

>>> from random import Random
>>> net = kr_net(Random(1), KR_CITIES[0], KR_FIXED[0])
>>> net.country, net.city, net.asn
('KR', 'Seoul', 4766)
>>> round(haversine_km(KR_CITIES[0], DESTINATIONS["NRT"].place))
1149
"""

from __future__ import annotations

import math
from random import Random
from typing import NamedTuple

__all__ = [
    "DATACENTRES",
    "DESTINATIONS",
    "FAR_PLACES",
    "INCHEON_AIRPORT",
    "KR_CITIES",
    "KR_FIXED",
    "KR_MOBILE",
    "DataCentre",
    "Destination",
    "Isp",
    "Net",
    "Place",
    "haversine_km",
    "ip_in",
    "kr_net",
    "net_at",
]


class Place(NamedTuple):
    city: str
    country: str
    lat: float
    lon: float


class Isp(NamedTuple):
    name: str
    asn: int
    #: IPv4 blocks: "a.b" is a /16, "a.b.c" a /24 (public, plausible for the ASN).
    prefixes: tuple[str, ...]
    #: an IPv6 /32 such as "2001:2d8", or None when the ISP is drawn as IPv4 only.
    v6: str | None = None


class Net(NamedTuple):
    """Where one request came from, as the exchange's GeoIP lookup sees it."""

    ip: str
    country: str
    city: str
    lat: float
    lon: float
    asn: int


class Destination(NamedTuple):
    airport: str
    place: Place
    #: scheduled block time of a flight from ICN, in minutes
    flight_min: int
    fixed: tuple[Isp, ...]
    mobile: tuple[Isp, ...]
    #: local time minus KST in hours (November: northern summer time is over)
    tz_shift: float = 0.0


class DataCentre(NamedTuple):
    isp: Isp
    place: Place


def haversine_km(a: Place | Net, b: Place | Net) -> float:
    """Great-circle distance in km between two things that have ``lat`` and ``lon``."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def ip_in(rng: Random, isp: Isp, v6_share: float = 0.0) -> str:
    """A host address in one of the ISP's blocks (never .0 or .255)."""
    if isp.v6 and v6_share and rng.random() < v6_share:
        groups = ":".join(f"{rng.getrandbits(16):x}" for _ in range(6))
        return f"{isp.v6}:{groups}"
    prefixes = isp.prefixes
    prefix = prefixes[int(rng.random() * len(prefixes))]
    host = 1 + rng.getrandbits(16) % 254
    if prefix.count(".") == 2:
        return f"{prefix}.{host}"
    return f"{prefix}.{rng.getrandbits(8)}.{host}"


def net_at(ip: str, place: Place, isp: Isp) -> Net:
    return Net(ip, place.country, place.city, place.lat, place.lon, isp.asn)


def kr_net(rng: Random, place: Place, isp: Isp, v6_share: float = 0.0) -> Net:
    return net_at(ip_in(rng, isp, v6_share), place, isp)


# --- Korea -------------------------------------------------------------------------------

#: (place, share of the user base)
_KR = [
    (Place("Seoul", "KR", 37.5665, 126.978), 0.44),
    (Place("Busan", "KR", 35.1796, 129.0756), 0.09),
    (Place("Incheon", "KR", 37.4563, 126.7052), 0.07),
    (Place("Suwon", "KR", 37.2636, 127.0286), 0.06),
    (Place("Seongnam", "KR", 37.4201, 127.1267), 0.05),
    (Place("Daegu", "KR", 35.8714, 128.6014), 0.06),
    (Place("Goyang", "KR", 37.6584, 126.832), 0.04),
    (Place("Daejeon", "KR", 36.3504, 127.3845), 0.04),
    (Place("Gwangju", "KR", 35.1595, 126.8526), 0.03),
    (Place("Ulsan", "KR", 35.5384, 129.3114), 0.03),
    (Place("Changwon", "KR", 35.228, 128.6811), 0.02),
    (Place("Cheongju", "KR", 36.6424, 127.489), 0.02),
    (Place("Jeonju", "KR", 35.8242, 127.148), 0.02),
    (Place("Jeju", "KR", 33.4996, 126.5312), 0.02),
    (Place("Pohang", "KR", 36.019, 129.3435), 0.01),
]
KR_CITIES: tuple[Place, ...] = tuple(p for p, _ in _KR)
KR_CITY_WEIGHTS: tuple[float, ...] = tuple(w for _, w in _KR)
SEOUL = KR_CITIES[0]
INCHEON_AIRPORT = Place("Incheon", "KR", 37.4602, 126.4407)

#: home broadband (with the share of subscribers)
KR_FIXED: tuple[Isp, ...] = (
    Isp("KT", 4766, ("121.133", "121.165", "211.218", "118.37", "220.72", "14.32", "125.131")),
    Isp("SK Broadband", 9318, ("1.234", "1.241", "58.140", "118.32", "221.147", "175.114")),
    Isp("LG U+ (Powercomm)", 17858, ("106.244", "114.202", "123.212", "125.186", "61.85")),
    Isp("LG U+ (Dacom)", 3786, ("110.8", "61.74", "203.226", "211.104")),
)
KR_FIXED_WEIGHTS = (0.41, 0.27, 0.25, 0.07)
#: mobile carriers (CGNAT pools are small, so unrelated subscribers share addresses)
KR_MOBILE: tuple[Isp, ...] = (
    Isp("SK Telecom", 9644, ("223.38.16", "223.38.40", "223.62.8", "223.62.172", "211.234.200",
                             "211.234.196", "223.38.88", "223.62.160"), "2001:2d8"),
    Isp("KT", 4766, ("39.7.24", "39.7.46", "175.223.10", "175.223.26", "110.70.14",
                     "110.70.48", "39.7.58"), "2001:e60"),
    Isp("LG U+", 17858, ("106.101.2", "106.101.74", "106.102.12", "106.102.129",
                         "106.101.131"), "2001:4430"),
)
KR_MOBILE_WEIGHTS = (0.46, 0.31, 0.23)


# --- abroad ------------------------------------------------------------------------------

def _isp(name: str, asn: int, *prefixes: str) -> Isp:
    return Isp(name, asn, prefixes)


_FIXED = {
    "JP": (_isp("NTT OCN", 4713, "153.156", "180.12", "114.150"), _isp("KDDI", 2516, "106.184", "111.86"),
           _isp("SoftBank", 17676, "126.94", "126.208")),
    "CN": (_isp("China Telecom", 4812, "101.80", "180.158", "116.228"),
           _isp("China Unicom", 4837, "123.112", "114.242", "221.216")),
    "TW": (_isp("Chunghwa HiNet", 3462, "36.224", "114.32", "1.160"),),
    "HK": (_isp("HKT", 4760, "42.2", "112.118"), _isp("HKBN", 9269, "61.244", "218.102")),
    "TH": (_isp("True Internet", 7470, "171.96", "184.22"), _isp("3BB", 45758, "110.164", "125.25")),
    "VN": (_isp("VNPT", 45899, "113.160", "14.160"), _isp("FPT Telecom", 18403, "42.112", "58.186"),
           _isp("Viettel", 7552, "27.72", "116.96")),
    "PH": (_isp("PLDT", 9299, "112.198", "122.2"), _isp("Converge", 17639, "180.190")),
    "SG": (_isp("SingNet", 3758, "116.14", "175.156"), _isp("StarHub", 4657, "27.104")),
    "ID": (_isp("Telkom Indonesia", 7713, "36.64", "180.241"),),
    "US": (_isp("Comcast", 7922, "73.15", "98.207", "24.4"), _isp("Charter", 20115, "76.166", "97.93"),
           _isp("AT&T", 7018, "99.12", "107.197"), _isp("Verizon", 701, "71.105", "108.5")),
    "CA": (_isp("Telus", 852, "24.85", "154.20"), _isp("Rogers", 812, "99.224", "174.112")),
    "GB": (_isp("BT", 2856, "86.128", "81.129"), _isp("Virgin Media", 5089, "82.32", "86.20")),
    "FR": (_isp("Orange", 3215, "90.38", "86.246"), _isp("Free", 12322, "82.64", "88.170")),
    "DE": (_isp("Deutsche Telekom", 3320, "91.64", "84.160", "79.226"), _isp("Vodafone DE", 3209, "188.96")),
    "AU": (_isp("Telstra", 1221, "101.160", "120.150"), _isp("TPG", 7545, "110.174", "203.219")),
    "AE": (_isp("Etisalat", 5384, "94.200", "86.98"),),
    "TR": (_isp("Turk Telekom", 9121, "78.160", "88.230"),),
    "RU": (_isp("Rostelecom", 12389, "95.24", "188.32"), _isp("MTS", 8359, "213.87")),
}
_MOBILE = {
    "JP": (_isp("NTT Docomo", 9605, "49.98", "1.75"), _isp("KDDI au", 2516, "106.128")),
    "CN": (_isp("China Mobile", 9808, "117.136", "223.104"),),
    "TW": (_isp("Chunghwa Mobile", 3462, "111.240"), _isp("Taiwan Mobile", 24158, "49.216")),
    "HK": (_isp("CSL", 4760, "223.197"), _isp("SmarTone", 17924, "202.140")),
    "TH": (_isp("AIS", 133481, "49.228", "171.100"), _isp("TrueMove", 132061, "223.24")),
    "VN": (_isp("Viettel Mobile", 7552, "171.224", "116.110"), _isp("Mobifone", 131429, "113.185")),
    "PH": (_isp("Globe", 4775, "112.210", "120.29"), _isp("Smart", 10139, "110.54")),
    "SG": (_isp("Singtel Mobile", 9506, "111.65"), _isp("M1", 4773, "118.189")),
    "ID": (_isp("Telkomsel", 23693, "114.4", "182.0"),),
    "US": (_isp("T-Mobile US", 21928, "172.56", "172.58"), _isp("Verizon Wireless", 6167, "174.192")),
    "CA": (_isp("Rogers Wireless", 812, "72.136"),),
    "GB": (_isp("EE", 12576, "31.94", "92.40"),),
    "FR": (_isp("Orange Mobile", 3215, "92.184"), _isp("Bouygues", 5410, "176.128")),
    "DE": (_isp("Telefonica DE", 6805, "176.0", "94.134"),),
    "AU": (_isp("Telstra Mobile", 1221, "1.128", "1.144"), _isp("Optus", 4804, "49.176")),
    "AE": (_isp("du", 15802, "94.206"),),
    "TR": (_isp("Turkcell", 16135, "188.119"),),
    "RU": (_isp("Beeline", 3216, "85.26"), _isp("MegaFon", 31133, "83.149")),
}


def _dest(airport: str, city: str, country: str, lat: float, lon: float, hours: float,
          utc: float) -> Destination:
    return Destination(airport, Place(city, country, lat, lon), round(hours * 60),
                       _FIXED[country], _MOBILE[country], utc - 9)


#: Where Koreans fly, with scheduled block times from ICN.
DESTINATIONS: dict[str, Destination] = {d.airport: d for d in (
    _dest("NRT", "Tokyo", "JP", 35.6762, 139.6503, 2 + 20 / 60, 9),
    _dest("KIX", "Osaka", "JP", 34.6937, 135.5023, 1 + 50 / 60, 9),
    _dest("FUK", "Fukuoka", "JP", 33.5904, 130.4017, 1 + 25 / 60, 9),
    _dest("CTS", "Sapporo", "JP", 43.0618, 141.3545, 2 + 45 / 60, 9),
    _dest("OKA", "Naha", "JP", 26.2124, 127.6809, 2 + 20 / 60, 9),
    _dest("PVG", "Shanghai", "CN", 31.2304, 121.4737, 2.0, 8),
    _dest("PEK", "Beijing", "CN", 39.9042, 116.4074, 2 + 10 / 60, 8),
    _dest("TAO", "Qingdao", "CN", 36.0671, 120.3826, 1 + 35 / 60, 8),
    _dest("TPE", "Taipei", "TW", 25.033, 121.5654, 2 + 40 / 60, 8),
    _dest("HKG", "Hong Kong", "HK", 22.3193, 114.1694, 3 + 45 / 60, 8),
    _dest("BKK", "Bangkok", "TH", 13.7563, 100.5018, 5 + 50 / 60, 7),
    _dest("SGN", "Ho Chi Minh City", "VN", 10.8231, 106.6297, 5 + 10 / 60, 7),
    _dest("DAD", "Da Nang", "VN", 16.0544, 108.2022, 4 + 40 / 60, 7),
    _dest("HAN", "Hanoi", "VN", 21.0278, 105.8342, 4 + 40 / 60, 7),
    _dest("CEB", "Cebu", "PH", 10.3157, 123.8854, 4 + 40 / 60, 8),
    _dest("MNL", "Manila", "PH", 14.5995, 120.9842, 4.0, 8),
    _dest("SIN", "Singapore", "SG", 1.3521, 103.8198, 6 + 20 / 60, 8),
    _dest("DPS", "Denpasar", "ID", -8.6705, 115.2126, 7.0, 8),
    _dest("LAX", "Los Angeles", "US", 34.0522, -118.2437, 11.0, -8),
    _dest("SFO", "San Francisco", "US", 37.7749, -122.4194, 10 + 40 / 60, -8),
    _dest("JFK", "New York", "US", 40.7128, -74.006, 14.0, -5),
    _dest("HNL", "Honolulu", "US", 21.3069, -157.8583, 8 + 30 / 60, -10),
    _dest("YVR", "Vancouver", "CA", 49.2827, -123.1207, 10.0, -8),
    _dest("CDG", "Paris", "FR", 48.8566, 2.3522, 13 + 40 / 60, 1),
    _dest("LHR", "London", "GB", 51.5072, -0.1276, 14 + 20 / 60, 0),
    _dest("FRA", "Frankfurt", "DE", 50.1109, 8.6821, 13 + 50 / 60, 1),
    _dest("SYD", "Sydney", "AU", -33.8688, 151.2093, 10 + 30 / 60, 11),
    _dest("DXB", "Dubai", "AE", 25.2048, 55.2708, 9 + 50 / 60, 4),
    _dest("IST", "Istanbul", "TR", 41.0082, 28.9784, 12.0, 3),
    _dest("VVO", "Vladivostok", "RU", 43.1198, 131.8869, 2 + 30 / 60, 10),
)}

#: Travel destinations by the traveller's language (airport, weight).
TRAVEL_BY_LOCALE: dict[str, tuple[tuple[str, float], ...]] = {
    "ko": (("NRT", 14), ("KIX", 12), ("FUK", 9), ("CTS", 3), ("OKA", 3), ("DAD", 8), ("BKK", 6),
           ("SGN", 3), ("HAN", 3), ("CEB", 4), ("MNL", 2), ("TPE", 5), ("HKG", 3), ("PVG", 3),
           ("TAO", 2), ("SIN", 3), ("DPS", 2), ("LAX", 3), ("SFO", 2), ("JFK", 2), ("HNL", 2),
           ("YVR", 1), ("CDG", 2), ("LHR", 1), ("FRA", 1), ("SYD", 2), ("DXB", 1), ("IST", 1),
           ("VVO", 1)),
    "en": (("LAX", 5), ("SFO", 4), ("JFK", 4), ("YVR", 3), ("LHR", 3), ("SYD", 3), ("NRT", 4),
           ("BKK", 2), ("SIN", 2), ("HKG", 2), ("FRA", 1), ("CDG", 1), ("DXB", 1)),
    "zh": (("PVG", 8), ("PEK", 7), ("TAO", 3), ("HKG", 4), ("TPE", 3), ("NRT", 2), ("SIN", 1),
           ("BKK", 1)),
}

#: Places at least ~5,500 km from anywhere in Korea, where account thieves log in from
#: (residential proxies and hosting). Travellers go to some of them too.
FAR_PLACES: tuple[Place, ...] = (
    DESTINATIONS["LAX"].place, DESTINATIONS["SFO"].place, DESTINATIONS["JFK"].place,
    DESTINATIONS["YVR"].place, DESTINATIONS["CDG"].place, DESTINATIONS["LHR"].place,
    DESTINATIONS["FRA"].place, DESTINATIONS["SYD"].place, DESTINATIONS["DXB"].place,
    DESTINATIONS["IST"].place, Place("Moscow", "RU", 55.7558, 37.6173),
)


# --- hosting and VPN exits ---------------------------------------------------------------

_AMAZON = 16509
_DC = (
    ("Amazon", _AMAZON, ("13.124", "52.78", "3.34", "43.201"), "Seoul", "KR", 37.5665, 126.978),
    ("Amazon", _AMAZON, ("3.112", "54.248", "13.230"), "Tokyo", "JP", 35.6762, 139.6503),
    ("Amazon", _AMAZON, ("3.80", "54.80", "44.192"), "Ashburn", "US", 39.0438, -77.4874),
    ("Amazon", _AMAZON, ("3.120", "18.184"), "Frankfurt", "DE", 50.1109, 8.6821),
    ("Amazon", _AMAZON, ("13.250", "54.169"), "Singapore", "SG", 1.3521, 103.8198),
    ("Google Cloud", 396982, ("34.64", "34.22"), "Seoul", "KR", 37.5665, 126.978),
    ("Google Cloud", 396982, ("34.84", "35.200"), "Tokyo", "JP", 35.6762, 139.6503),
    ("DigitalOcean", 14061, ("128.199", "159.89", "139.59"), "Singapore", "SG", 1.3521, 103.8198),
    ("DigitalOcean", 14061, ("157.245", "167.99", "159.203"), "New York", "US", 40.7128, -74.006),
    ("DigitalOcean", 14061, ("164.90", "46.101"), "Frankfurt", "DE", 50.1109, 8.6821),
    ("DigitalOcean", 14061, ("188.166", "178.62"), "Amsterdam", "NL", 52.3676, 4.9041),
    ("OVH", 16276, ("51.75", "54.36", "137.74"), "Roubaix", "FR", 50.6942, 3.1746),
    ("OVH", 16276, ("144.217", "158.69"), "Beauharnois", "CA", 45.3151, -73.8779),
    ("Hetzner", 24940, ("116.202", "88.198", "78.46"), "Falkenstein", "DE", 50.4779, 12.3713),
    ("Hetzner", 24940, ("65.108", "95.216"), "Helsinki", "FI", 60.1699, 24.9384),
    ("M247", 9009, ("146.70.12", "146.70.45", "37.120.204"), "Bucharest", "RO", 44.4268, 26.1025),
    ("M247", 9009, ("89.46.62", "146.70.117", "185.156.46"), "Amsterdam", "NL", 52.3676, 4.9041),
    ("M247", 9009, ("146.70.172", "38.132.104"), "Los Angeles", "US", 34.0522, -118.2437),
    ("M247", 9009, ("146.70.198", "45.133.172"), "Tokyo", "JP", 35.6762, 139.6503),
    ("Datacamp", 212238, ("156.146.56", "143.244.54", "138.199.21"), "Frankfurt", "DE", 50.1109, 8.6821),
    ("Datacamp", 212238, ("143.244.60", "156.146.51"), "Hong Kong", "HK", 22.3193, 114.1694),
    ("Datacamp", 212238, ("89.187.161", "138.199.60"), "Tokyo", "JP", 35.6762, 139.6503),
    ("Vultr", 20473, ("141.164.34", "158.247.192", "64.176.224"), "Seoul", "KR", 37.5665, 126.978),
    ("Vultr", 20473, ("45.76.98", "45.32.40", "139.180.192"), "Tokyo", "JP", 35.6762, 139.6503),
    ("Linode", 63949, ("139.162", "172.104"), "Tokyo", "JP", 35.6762, 139.6503),
)
DATACENTRES: tuple[DataCentre, ...] = tuple(
    DataCentre(Isp(name, asn, prefixes), Place(city, cc, lat, lon))
    for name, asn, prefixes, city, cc, lat, lon in _DC
)
#: Where bots of API traders usually run: near the exchange.
BOT_DATACENTRES = tuple(d for d in DATACENTRES if d.place.country in ("KR", "JP"))


def foreign_fixed(country: str) -> tuple[Isp, ...]:
    return _FIXED[country]


def foreign_mobile(country: str) -> tuple[Isp, ...]:
    return _MOBILE[country]


def place_isps(place: Place) -> tuple[Isp, ...]:
    """Residential and mobile ISPs of a foreign place's country."""
    return _FIXED[place.country] + _MOBILE[place.country]
