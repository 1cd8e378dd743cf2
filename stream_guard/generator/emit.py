"""Turning what happened into wire events (EVENTS.md), with the noise real producers add.

Every event, an owner's or a thief's, goes through :class:`Sink`, so fields go missing,
milliseconds get dropped and amounts become strings at the same rates for everybody.
Times are integer milliseconds since the epoch until :meth:`Sink.finish` sorts the events
and writes ``ts`` in KST and a random ``event_id``.

>>> kst_text(0), kst_text(1_234)
('1970-01-01T09:00:00+09:00', '1970-01-01T09:00:01.234+09:00')
"""

from __future__ import annotations

from datetime import date, timedelta
from operator import itemgetter
from random import Random
from typing import Any

from stream_guard.generator.clients import Device
from stream_guard.generator.world import Net

__all__ = ["Sink", "kst_text"]

_KST_MS = 9 * 3_600_000
_EPOCH = date(1970, 1, 1)
#: share of login events that get per-field noise (missing fields, whole-second times)
_NOISY = 0.25
_day_prefix: dict[int, str] = {}
_MINUTES = tuple(f"{m // 60:02d}:{m % 60:02d}:" for m in range(1440))
_SECONDS = tuple(f"{s:02d}" for s in range(60))
_MILLIS = tuple(f".{ms:03d}+09:00" for ms in range(1000))


def kst_text(t_ms: int) -> str:
    """RFC 3339 in KST, with milliseconds unless they are zero."""
    day, ms = divmod(t_ms + _KST_MS, 86_400_000)
    prefix = _day_prefix.get(day)
    if prefix is None:
        prefix = _day_prefix[day] = (_EPOCH + timedelta(days=day)).isoformat() + "T"
    minute, ms = divmod(ms, 60_000)
    sec, milli = divmod(ms, 1000)
    return prefix + _MINUTES[minute] + _SECONDS[sec] + (_MILLIS[milli] if milli else "+09:00")


class Sink:
    """Collects events as ``(t_ms, dict)``, each with a unique random ``event_id``."""

    def __init__(self, rng: Random, id_rng: Random):
        self.rng = rng
        self.records: list[tuple[int, dict[str, Any]]] = []
        self._id_bits = id_rng.getrandbits
        self._ids: set[int] = set()

    def _id(self, prefix: str) -> str:
        ids = self._ids
        n = self._id_bits(48)
        while n in ids:
            n = self._id_bits(48)
        ids.add(n)
        return prefix + hex(n | 1 << 48)[3:]  # 12 hex digits, zero-padded

    def _add(self, t: int, e: dict[str, Any], prefix: str) -> None:
        # ids and times are written as the event is made, while it is fresh in memory (much
        # faster than one pass over hundreds of thousands of events after sorting)
        e["event_id"] = self._id(prefix)
        e["ts"] = kst_text(t)
        self.records.append((t, e))

    def __len__(self) -> int:
        return len(self.records)

    def login(
        self,
        t: int,
        uid: str,
        locale: str | None,
        net: Net,
        dev: Device | None,
        *,
        action: str = "login",
        success: bool = True,
        failure: str | None = None,
        mfa: bool | None = None,
        keep_geo: bool = False,
    ) -> dict[str, Any]:
        r = self.rng.random
        # One draw decides whether this event is a clean one (most are); only the others pay
        # for a draw per field. Each field is missing in about the share noted beside it.
        noisy = r() < _NOISY
        if (not noisy and failure is None and action == "login" and dev is not None
                and dev.device_id and mfa is not None and locale):
            # the common case, built in one go
            e = {"event_id": self._id("l-"), "type": "login", "ts": kst_text(t), "user_id": uid,
                 "action": action, "success": success, "ip": net.ip, "country": net.country,
                 "city": net.city, "lat": net.lat, "lon": net.lon, "asn": net.asn,
                 "device_id": dev.device_id, "user_agent": dev.user_agent,
                 "channel": dev.channel, "mfa_used": mfa, "locale": locale}
            self.records.append((t, e))
            return e
        e = {"event_id": "", "type": "login", "ts": "", "user_id": uid}
        if action != "login" or not noisy or r() > 0.05 / _NOISY:  # 5%: the default left out
            e["action"] = action
        e["success"] = success
        if failure:
            e["failure_reason"] = failure
        e["ip"] = net.ip
        x = r() * _NOISY if noisy else 1.0
        if x > 0.004:  # no country
            e["country"] = net.country
        if keep_geo or x > 0.01:  # no city
            e["city"] = net.city
            if keep_geo or x > 0.03:  # no coordinates
                e["lat"] = net.lat
                e["lon"] = net.lon
        if not noisy:
            e["asn"] = net.asn
            if dev is not None:
                if dev.device_id:
                    e["device_id"] = dev.device_id
                e["user_agent"] = dev.user_agent
                e["channel"] = dev.channel
            if mfa is not None:
                e["mfa_used"] = mfa
            if locale:
                e["locale"] = locale
            self._add(t, e, "l-")
            return e
        if r() > 0.015 / _NOISY:
            e["asn"] = net.asn
        if dev is not None:
            # web logins without a fingerprint: privacy extensions, scripts, blocked JS
            if dev.device_id and (dev.channel != "web" or r() > 0.02 / _NOISY):
                e["device_id"] = dev.device_id
            if r() > 0.01 / _NOISY:
                e["user_agent"] = dev.user_agent
            if r() > 0.01 / _NOISY:
                e["channel"] = dev.channel
        if mfa is not None and r() > 0.04 / _NOISY:
            e["mfa_used"] = mfa
        if locale and r() > 0.03 / _NOISY:
            e["locale"] = locale
        if r() < 0.03 / _NOISY:  # a producer that writes whole seconds
            t -= t % 1000
        self._add(t, e, "l-")
        return e

    def transfer(
        self,
        t: int,
        uid: str,
        locale: str | None,
        direction: str,
        asset: str,
        amount: float | str,
        value_krw: float,
        network: str | None,
        address: str | None,
        *,
        status: str | None = None,
        counterparty: str | None = None,
        net: Net | None = None,
        dev: Device | None = None,
    ) -> dict[str, Any]:
        r = self.rng.random
        e: dict[str, Any] = {"event_id": "", "type": "transfer", "ts": "", "user_id": uid,
                             "direction": direction}
        if status is None:
            status = "completed" if direction == "deposit" else "requested"
        if status != "requested" or r() > 0.05:
            e["status"] = status
        e["asset"] = asset
        e["amount"] = amount
        e["value_krw"] = value_krw
        if network and r() > 0.01:
            e["network"] = network
        if address:
            e["address"] = address
        if counterparty:
            e["counterparty_user_id"] = counterparty
        if net is not None and r() > 0.07:
            e["ip"] = net.ip
            if dev is not None and dev.device_id:
                e["device_id"] = dev.device_id
        if locale and r() < 0.7:
            e["locale"] = locale
        # the bank rail reports whole seconds
        if r() < (0.7 if network == "bank" else 0.03):
            t -= t % 1000
        self._add(t, e, "t-")
        return e

    def finish(self, until: int | None = None) -> list[dict[str, Any]]:
        """The events sorted by time (stable), without those from ``until`` on."""
        self.records.sort(key=itemgetter(0))
        if until is not None:
            return [e for t, e in self.records if t < until]
        return [e for _, e in self.records]
