"""Event details as a user reads them: amounts in the locale's conventions, times in the
exchange's time zone, addresses and IPs partly masked.

>>> krw(112_000_000, "ko"), krw(112_000_000, "en"), krw(112_000_000.4, "zh")
('112,000,000원', '₩112,000,000', '112,000,000韩元')
>>> crypto(0.85, "BTC"), crypto("5000", "USDT"), crypto(1.234567891, "ETH")
('0.85 BTC', '5,000 USDT', '1.23456789 ETH')
>>> mask_address("bc1qexampleaddress0000000000000000000"), mask_address("WR-3960-742-380697")
('bc1qex…0000', '****0697')
>>> mask_ip("203.0.113.7"), mask_ip("2001:db8:85a3::8a2e:370:7334")
('203.0.*.*', '2001:db8:*')
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stream_guard.core.clock import parse_ts

#: Country names for the places most often seen; others show as their ISO code.
_COUNTRIES = {
    "KR": ("대한민국", "South Korea", "韩国"), "US": ("미국", "the United States", "美国"),
    "JP": ("일본", "Japan", "日本"), "CN": ("중국", "China", "中国"), "VN": ("베트남", "Vietnam", "越南"),
    "NG": ("나이지리아", "Nigeria", "尼日利亚"), "RU": ("러시아", "Russia", "俄罗斯"),
    "GB": ("영국", "the United Kingdom", "英国"), "DE": ("독일", "Germany", "德国"),
    "FR": ("프랑스", "France", "法国"), "SG": ("싱가포르", "Singapore", "新加坡"),
    "HK": ("홍콩", "Hong Kong", "中国香港"), "TW": ("대만", "Taiwan", "中国台湾"),
    "TH": ("태국", "Thailand", "泰国"), "PH": ("필리핀", "the Philippines", "菲律宾"),
    "ID": ("인도네시아", "Indonesia", "印度尼西亚"), "IN": ("인도", "India", "印度"),
    "CA": ("캐나다", "Canada", "加拿大"), "AU": ("호주", "Australia", "澳大利亚"),
    "NL": ("네덜란드", "the Netherlands", "荷兰"), "UA": ("우크라이나", "Ukraine", "乌克兰"),
    "TR": ("튀르키예", "Türkiye", "土耳其"), "BR": ("브라질", "Brazil", "巴西"),
}
_LANG_INDEX = {"ko": 0, "en": 1, "zh": 2}
_UNKNOWN = {"ko": "알 수 없음", "en": "unknown", "zh": "未知"}


def _decimal(v: Any) -> Decimal | None:
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def krw(value: Any, lang: str) -> str:
    """Won without decimals: ``112,000,000원`` (ko), ``₩112,000,000`` (en), ``…韩元`` (zh)."""
    d = _decimal(value)
    if d is None:
        return unknown(lang)
    n = f"{int(d.to_integral_value()):,}"
    if lang == "ko":
        return f"{n}원"
    if lang == "zh":
        return f"{n}韩元"
    return f"₩{n}"


def crypto(amount: Any, asset: str | None) -> str:
    """Up to 8 decimals, no trailing zeros, thousands grouped: ``0.85 BTC``."""
    d = _decimal(amount)
    if d is None:
        return "?"
    q = d.quantize(Decimal("0.00000001")).normalize()
    whole, _, frac = f"{q:f}".partition(".")
    text = f"{int(whole):,}" + (f".{frac}" if frac else "")
    return f"{text} {asset}".strip() if asset else text


def amount(amount_: Any, asset: str | None, lang: str) -> str:
    """An amount of ``asset``: won as :func:`krw`, anything else as :func:`crypto`."""
    if (asset or "").upper() == "KRW":
        return krw(amount_, lang)
    return crypto(amount_, asset)


def mask_address(address: str | None) -> str | None:
    """Enough of an address to recognise it, not enough to copy it."""
    if not address:
        return None
    a = address.strip()
    if len(a) <= 10 or any(c in a for c in "- ") or a.isdigit():  # bank accounts and short ids
        return "****" + a[-4:]
    return f"{a[:6]}…{a[-4:]}"


def mask_ip(ip: str | None) -> str | None:
    """The network, not the host: ``203.0.*.*``, ``2001:db8:*``."""
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return "*"
    if addr.version == 4:
        a, b, _, _ = str(addr).split(".")
        return f"{a}.{b}.*.*"
    groups = addr.exploded.split(":")[:2]
    return ":".join(g.lstrip("0") or "0" for g in groups) + ":*"


def mask_device(device_id: str | None) -> str | None:
    if not device_id:
        return None
    return device_id[:4] + "…" if len(device_id) > 6 else device_id


def country(code: str | None, lang: str) -> str | None:
    if not code:
        return None
    names = _COUNTRIES.get(code.upper())
    return names[_LANG_INDEX.get(lang, 1)] if names else code.upper()


def place(city: str | None, country_code: str | None, lang: str) -> str:
    """``Seoul, South Korea`` / ``대한민국 Seoul`` / ``韩国 Seoul``; "unknown" when neither is known."""
    c = country(country_code, lang)
    if not city and not c:
        return unknown(lang)
    if lang in ("ko", "zh"):
        return " ".join(x for x in (c, city) if x)
    return ", ".join(x for x in (city, c) if x)


def zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        from datetime import timedelta, timezone

        return timezone(timedelta(hours=9), "KST")  # the exchange's home, if tzdata is missing


def when(ts: str | datetime | None, lang: str, tz: tzinfo) -> str:
    """``2026년 11월 24일 09:21 (KST)`` / ``24 Nov 2026, 09:21 KST`` / ``2026年11月24日 09:21 (KST)``."""
    if ts is None or ts == "":
        return unknown(lang)
    try:
        t = parse_ts(ts) if isinstance(ts, str) else ts
    except ValueError:
        return unknown(lang)
    t = t.astimezone(tz)
    name = t.tzname() or ""
    if lang == "ko":
        return f"{t.year}년 {t.month}월 {t.day}일 {t:%H:%M} ({name})"
    if lang == "zh":
        return f"{t.year}年{t.month}月{t.day}日 {t:%H:%M} ({name})"
    return f"{t.day} {t:%b %Y, %H:%M} {name}"


def unknown(lang: str) -> str:
    return _UNKNOWN.get(lang, _UNKNOWN["en"])


def details(context: dict[str, Any], ts: str | None, lang: str, tz: tzinfo) -> dict[str, str]:
    """Every placeholder of the templates (:data:`PLACEHOLDERS`) for one event, in ``lang``."""
    u = unknown(lang)
    asset = context.get("asset")
    out = {
        "time": when(ts, lang, tz),
        "place": place(context.get("city"), context.get("country"), lang),
        "country": country(context.get("country"), lang) or u,
        "city": context.get("city") or u,
        "ip": mask_ip(context.get("ip")) or u,
        "device": mask_device(context.get("device_id")) or u,
        "address": mask_address(context.get("address")) or u,
        "asset": asset or u,
        "network": context.get("network") or u,
        "amount": amount(context["amount"], asset, lang) if context.get("amount") is not None else u,
        "value": krw(context["value_krw"], lang) if context.get("value_krw") is not None else u,
        "channel": context.get("channel") or u,
        "user_id": str(context.get("user_id") or u),
    }
    return out


#: The names a template may use as ``{name}``.
PLACEHOLDERS: tuple[str, ...] = (
    "time", "place", "country", "city", "ip", "device", "address", "asset", "network",
    "amount", "value", "channel", "user_id",
)
