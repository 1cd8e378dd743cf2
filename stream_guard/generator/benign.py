"""What account owners do, day by day: log in at their usual hours, mistype passwords, move
money to their own wallets, fly abroad, switch phones, get paid, get money from friends.

:class:`Behaviour` plans a user's day as ``(t_ms, session kind)`` pairs and runs each session
into events. Its building blocks (``context``, ``login``, ``deposit``, ``withdraw``) are what
the attacks use too, so both leave the same kind of trace.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from random import Random

from stream_guard.generator.clients import Device, new_device
from stream_guard.generator.emit import Sink
from stream_guard.generator.market import Market, address, bank_account, network_for
from stream_guard.generator.population import User
from stream_guard.generator.world import INCHEON_AIRPORT, SEOUL, Net, ip_in, kr_net, net_at

__all__ = ["Behaviour"]

_S = 1_000
_MIN = 60_000
_H = 3_600_000
_DAY = 86_400_000
_KST = 9 * _H
_CAPITAL = frozenset({"Seoul", "Incheon", "Suwon", "Seongnam", "Goyang"})
_SECURITY = (("password_change", 34), ("mfa_enable", 14), ("phone_change", 18),
             ("email_change", 14), ("api_key_create", 12), ("mfa_disable", 8))


_SESSION_KINDS = frozenset({
    "visit", "bot", "bot_retry", "deposit", "withdraw", "salary", "friends", "security", "forgot",
    "new_phone", "big_move", "cold_storage", "split", "hotel_pc", "comeback"})


def lognormal(rng: Random, median: float, lo: float, hi: float) -> float:
    sigma = math.log(hi / lo) / 4.5
    return min(hi, max(lo, median * math.exp(rng.gauss(0.0, sigma))))


class Behaviour:
    def __init__(self, sink: Sink, market: Market, start_ms: int, days: int, users: list[User]):
        self.sink = sink
        self.market = market
        self.start = start_ms
        self.days = days
        self.users = users
        #: session kind -> the method that runs it
        self.sessions = {name[1:]: getattr(self, name) for name in dir(self)
                         if name.startswith("_") and not name.startswith("__")
                         and name[1:] in _SESSION_KINDS}

    # --- planning ------------------------------------------------------------------------

    def weekday(self, t: int) -> int:
        """Monday 0 … Sunday 6, in KST (1970-01-01 was a Thursday)."""
        return ((t + _KST) // _DAY + 3) % 7

    def hour(self, u: User, rng: Random) -> int:
        """Milliseconds into the day at which ``u`` tends to show up."""
        r = rng.random
        if r() < 0.07:
            return int(r() * _DAY)
        hours = u.hours
        h = (hours[int(r() * len(hours))] + rng.gauss(0.0, 1.1)) % 24
        return int(h * _H)

    def plan_day(self, u: User, rng: Random, day: int) -> list[tuple[int, str]]:
        d0 = self.start + day * _DAY
        out: list[tuple[int, str]] = []
        if u.persona == "dormant":
            if u.returns_day is None or day < u.returns_day:
                return out
            if day == u.returns_day:
                return [(d0 + self.hour(u, rng), "comeback")]
        p = u.p
        r = rng.random
        hour = self.hour
        if r() < p.p_day * (0.8 if self.weekday(d0) >= 5 else 1.0):
            for _ in range(rng.randint(*p.logins)):
                out.append((d0 + hour(u, rng), "visit"))
        if r() < p.p_dep:
            out.append((d0 + hour(u, rng), "deposit"))
        if r() < p.p_wd:
            out.append((d0 + hour(u, rng), "withdraw"))
        if u.bot and r() < 0.85:
            for _ in range(rng.randint(1, 4)):
                out.append((d0 + int(r() * _DAY), "bot"))
        for trait, tday in u.traits.items():
            if tday == day:
                out.append((d0 + self.hour(u, rng), trait))
        if u.payday and self._day_of_month(d0) == u.payday:
            out.append((d0 + int(rng.uniform(8 * 60, 11 * 60) * _MIN) + rng.randrange(_MIN), "salary"))
        tr = u.trip
        if tr is not None:
            # abroad, habits follow the local clock
            shift = int(tr.dest.tz_shift * _H)
            if shift and d0 + _DAY > tr.land and d0 < tr.back_dep:
                out = [(t - shift if tr.land < t - shift < tr.back_dep else t, kind)
                       for t, kind in out]
            if d0 <= tr.dep < d0 + _DAY:
                if rng.random() < 0.6:
                    out.append((tr.dep - int(rng.uniform(30, 140) * _MIN), "visit"))
                if rng.random() < 0.85:
                    out.append((tr.land + int(rng.uniform(22, 90) * _MIN), "visit"))
            if d0 <= tr.back_dep < d0 + _DAY:
                if rng.random() < 0.5:
                    out.append((tr.back_dep - int(rng.uniform(40, 140) * _MIN), "visit"))
                if rng.random() < 0.5:
                    out.append((tr.back_land + int(rng.uniform(22, 100) * _MIN), "visit"))
            if tr.hotel_pc_day == day:
                out.append((d0 + self.hour(u, rng), "hotel_pc"))
        out.sort()
        return out

    def _day_of_month(self, t: int) -> int:
        return (date(1970, 1, 1) + timedelta(days=(t + _KST) // _DAY)).day

    def where(self, u: User, t: int) -> str:
        """``home``, ``airport`` (ICN or the way back), ``flight`` or ``abroad``."""
        tr = u.trip
        if tr is None or t < tr.dep - 150 * _MIN or t >= tr.back_land + 150 * _MIN:
            return "home"
        if t < tr.dep:
            return "airport"
        if t < tr.land + 20 * _MIN:
            return "flight"
        if t < tr.back_dep:
            return "abroad"
        if t < tr.back_land + 20 * _MIN:
            return "flight"
        return "airport"

    # --- building blocks (attacks use them too) ------------------------------------------

    def context(self, u: User, rng: Random, t: int) -> tuple[Net, Device] | None:
        """The network and device ``u`` uses at ``t``; None while on a plane."""
        r = rng.random
        if u.trip is not None:
            where = self.where(u, t)
            if where == "flight":
                return None
            if where == "abroad":
                tr = u.trip
                if r() < 0.55:
                    return tr.hotel, (u.pc if u.pc and r() < 0.3 else u.phone)
                return kr_net(rng, tr.dest.place, tr.roaming), u.phone
            if where == "airport":
                return kr_net(rng, INCHEON_AIRPORT, u.carrier, 0.15), u.phone
        elif u.vpn and r() < u.vpn_rate:
            dc = rng.choice(u.vpn)
            return net_at(ip_in(rng, dc.isp), dc.place, dc.isp), (u.pc or u.phone)
        lt = t + _KST
        local = lt % _DAY // _H
        weekday = (lt // _DAY + 3) % 7
        if u.office and weekday < 5 and 9 <= local < 19 and r() < 0.7:
            dev = u.pc if u.pc and r() < 0.5 else u.phone
            return rng.choice(u.office.nets), dev
        if r() < (0.7 if (local >= 19 or local < 8 or weekday >= 5) else 0.4):
            return self.home(u, rng)
        return self.mobile(u, rng), u.phone

    def home(self, u: User, rng: Random) -> tuple[Net, Device]:
        if rng.random() < 0.004:  # dynamic addresses change now and then
            u.home_ip = ip_in(rng, u.isp)
        return u.home_net(), (u.pc if u.pc and rng.random() < 0.45 else u.phone)

    def mobile(self, u: User, rng: Random) -> Net:
        # carriers' address pools geolocate to the capital now and then
        place = SEOUL if u.home.city not in _CAPITAL and rng.random() < 0.25 else u.home
        return kr_net(rng, place, u.carrier, 0.12)

    def login(self, u: User, rng: Random, t: int, net: Net, dev: Device, *,
              typos: bool = True) -> int:
        """A successful login, sometimes after a typo; returns the time of the success."""
        s = self.sink
        mfa = None if dev.channel == "api" else u.mfa
        x = rng.random()
        if typos and x < u.typo + 0.012:
            if x < u.typo:
                for _ in range(1 if rng.random() < 0.7 else 2):
                    s.login(t, u.uid, u.locale, net, dev, success=False, failure="bad_password",
                            mfa=False)
                    t += int(rng.uniform(6_000, 40_000))
            elif u.mfa and mfa is not None:
                s.login(t, u.uid, u.locale, net, dev, success=False, failure="bad_otp", mfa=True)
                t += rng.randint(10_000, 50_000)
        s.login(t, u.uid, u.locale, net, dev, mfa=mfa)
        if dev.device_id:
            u.known_devices.add(dev.device_id)
        return t

    def logout(self, u: User, rng: Random, t: int, net: Net, dev: Device) -> None:
        if rng.random() < (0.35 if dev.channel == "web" else 0.05):
            self.sink.login(t + int(rng.uniform(2, 60) * _MIN), u.uid, u.locale, net, dev,
                            action="logout", mfa=None)

    def deposit(self, u: User, rng: Random, t: int, asset: str, value: float, *,
                source: tuple[str, str] | None = None, counterparty: str | None = None,
                typed: float = 0.5, lo: float | None = None) -> dict:
        if source is None and counterparty is None:
            known = u.sources.get(asset)
            if known and (asset == "KRW" or rng.random() < 0.65):
                source = rng.choice(known)
            else:
                net_name = network_for(rng, asset)
                source = (net_name, address(rng, net_name))
        amount, v = self.market.amount(rng, asset, value, t, typed=typed, lo=lo)
        u.holdings[asset] = u.holdings.get(asset, 0.0) + float(amount)
        network, addr = source if source else ("internal", None)
        return self.sink.transfer(t, u.uid, u.locale, "deposit", asset, amount, v, network, addr,
                                  counterparty=counterparty)

    def withdraw(self, u: User, rng: Random, t: int, net: Net | None, dev: Device | None,
                 asset: str, value: float, *, dest: tuple[str, str] | None = None,
                 fresh: bool | None = None, typed: float = 0.3, lo: float | None = None,
                 hi: float | None = None, counterparty: str | None = None) -> dict:
        """A withdrawal request (sometimes followed by a completed/failed/cancelled update).

        ``fresh`` True sends to a never-used address, False to a known one, None decides by
        the persona's habit (and a benign new address then becomes a known one).
        """
        if dest is None and counterparty is None:
            known = u.wallets.setdefault(asset, [])
            if asset == "KRW":  # KRW only ever goes to the account holder's own bank account
                dest = ("bank", u.bank)
            elif known and not fresh and (fresh is False or rng.random() >= u.p.p_new_address):
                dest = rng.choice(known)
            else:
                net_name = network_for(rng, asset)
                dest = (net_name, address(rng, net_name))
                if fresh is None:
                    known.append(dest)
        amount, v = self.market.amount(rng, asset, value, t, typed=typed, lo=lo, hi=hi)
        u.holdings[asset] = max(0.0, u.holdings.get(asset, 0.0) - float(amount))
        network, addr = dest if dest else ("internal", None)
        s = self.sink
        e = s.transfer(t, u.uid, u.locale, "withdrawal", asset, amount, v, network, addr,
                       counterparty=counterparty, net=net, dev=dev)
        x = rng.random()
        if x < 0.12:
            status = "completed" if x < 0.1 else ("failed" if x < 0.11 else "cancelled")
            s.transfer(t + int(rng.uniform(1, 60) * _MIN), u.uid, u.locale, "withdrawal", asset,
                       amount, v, network, addr, status=status, counterparty=counterparty)
        return e

    def pick_asset(self, u: User, rng: Random, krw: float = 0.25) -> str:
        if rng.random() < krw:
            return "KRW"
        return rng.choice(u.assets)

    def size(self, u: User, rng: Random) -> float:
        return lognormal(rng, *u.p.size)

    def value_of(self, u: User, asset: str, t: int) -> float:
        return u.holdings.get(asset, 0.0) * self.market.price(asset, t)

    # --- sessions ------------------------------------------------------------------------

    def run(self, u: User, rng: Random, t: int, kind: str) -> None:
        self.sessions[kind](u, rng, t)

    def _visit(self, u: User, rng: Random, t: int) -> None:
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        net, dev = ctx
        t = self.login(u, rng, t, net, dev)
        self.logout(u, rng, t, net, dev)

    def _bot(self, u: User, rng: Random, t: int) -> None:
        assert u.bot is not None
        net, dev = u.bot
        if rng.random() < 0.005:
            self.sink.login(t, u.uid, u.locale, net, dev, success=False, failure="bad_password")
            t += rng.randint(1_000, 30_000)
        self.sink.login(t, u.uid, u.locale, net, dev)

    def _bot_retry(self, u: User, rng: Random, t: int) -> None:
        """A bot with a stale password retries every minute or two until someone fixes it."""
        assert u.bot is not None
        net, dev = u.bot
        for _ in range(rng.randint(8, 90)):
            self.sink.login(t, u.uid, u.locale, net, dev, success=False, failure="bad_password")
            t += int(rng.uniform(20, 150) * _S)
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 10)):
                self.sink.login(t, u.uid, u.locale, net, dev, success=False, failure="locked")
                t += int(rng.uniform(20, 150) * _S)
        t += int(rng.uniform(10, 300) * _MIN)
        self.sink.login(t, u.uid, u.locale, net, dev)

    def _deposit(self, u: User, rng: Random, t: int) -> None:
        asset = self.pick_asset(u, rng, 0.6)
        self.deposit(u, rng, t, asset, self.size(u, rng))
        if rng.random() < 0.5:
            self._visit(u, rng, t + int(rng.uniform(3, 40) * _MIN))

    def _withdraw(self, u: User, rng: Random, t: int) -> None:
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        if rng.random() < 0.85:  # else the app session was already open
            t = self.login(u, rng, t, *ctx) + int(rng.uniform(1, 15) * _MIN)
        asset = self.pick_asset(u, rng)
        self.withdraw(u, rng, t, *ctx, asset, self.size(u, rng))
        self.logout(u, rng, t, *ctx)

    def _salary(self, u: User, rng: Random, t: int) -> None:
        pay = lognormal(rng, 3.6e6, 2.2e6, 9e6)
        self.deposit(u, rng, t, "KRW", pay, source=("bank", u.employer), typed=0.0)
        if rng.random() < 0.6:
            t2 = t + int(rng.uniform(60, 480) * _MIN)
            ctx = self.context(u, rng, t2)
            if ctx is None:
                return
            t2 = self.login(u, rng, t2, *ctx) + int(rng.uniform(2, 20) * _MIN)
            self.withdraw(u, rng, t2, *ctx, rng.choice(u.assets), pay * rng.uniform(0.3, 1.0),
                          fresh=rng.random() < 0.03, typed=0.2)

    def _friends(self, u: User, rng: Random, t: int) -> None:
        n = rng.randint(2, 4) if rng.random() < 0.94 else rng.randint(5, 6)
        for _ in range(n):
            t += int(rng.uniform(2, 150) * _MIN)
            value = lognormal(rng, 150_000, 20_000, 1_500_000)
            x = rng.random()
            if x < 0.3:
                friend = rng.choice(self.users)
                if friend is u or friend.persona == "dormant":
                    continue
                asset = "KRW" if rng.random() < 0.5 else rng.choice(friend.assets)
                self.withdraw(friend, rng, t - rng.randint(5, 60) * 1000, None, None, asset, value,
                              counterparty=u.uid, typed=0.7)
                self.deposit(u, rng, t, asset, value, counterparty=friend.uid, typed=0.7)
            elif x < 0.75:
                self.deposit(u, rng, t, "KRW", value, source=("bank", bank_account(rng)), typed=0.8)
            else:
                asset = rng.choice(("USDT", "XRP", "ETH"))
                net_name = network_for(rng, asset)
                self.deposit(u, rng, t, asset, value, source=(net_name, address(rng, net_name)))
        if rng.random() < 0.4:
            self._visit(u, rng, t + int(rng.uniform(5, 120) * _MIN))

    def _security(self, u: User, rng: Random, t: int) -> None:
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        t = self.login(u, rng, t, *ctx) + int(rng.uniform(1, 10) * _MIN)
        action = rng.choices([a for a, _ in _SECURITY], [w for _, w in _SECURITY])[0]
        if action == "mfa_enable" and u.mfa:
            action = "password_change"
        self.sink.login(t, u.uid, u.locale, *ctx, action=action, mfa=u.mfa)
        if action == "mfa_enable":
            u.mfa = True
        elif action == "mfa_disable":  # moving the OTP app to another phone
            self.sink.login(t + int(rng.uniform(5, 90) * _MIN), u.uid, u.locale, *ctx,
                            action="mfa_enable", mfa=False)
        if rng.random() < 0.45:
            t2 = t + int(rng.uniform(20, 24 * 60) * _MIN)
            ctx2 = self.context(u, rng, t2)
            if ctx2 is not None:
                t2 = self.login(u, rng, t2, *ctx2) + int(rng.uniform(1, 10) * _MIN)
                asset = self.pick_asset(u, rng, 0.15)
                self.withdraw(u, rng, t2, *ctx2, asset, self.size(u, rng) * rng.uniform(1, 3),
                              fresh=rng.random() < 0.12)

    def _forgot(self, u: User, rng: Random, t: int) -> None:
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        t = self._reset_password(u, rng, t, *ctx)
        self.login(u, rng, t + int(rng.uniform(1, 5) * _MIN), *ctx, typos=False)

    def _reset_password(self, u: User, rng: Random, t: int, net: Net, dev: Device) -> int:
        s = self.sink
        tries = rng.randint(2, 5)
        for _ in range(tries):
            s.login(t, u.uid, u.locale, net, dev, success=False, failure="bad_password", mfa=False)
            t += rng.randint(8_000, 60_000)
        if tries == 5 and rng.random() < 0.4:
            # locked out, and some keep trying anyway before they reset
            for _ in range(1 if rng.random() < 0.7 else rng.randint(3, 9)):
                s.login(t, u.uid, u.locale, net, dev, success=False, failure="locked", mfa=False)
                t += int(rng.uniform(5, 50) * _S)
        t += int(rng.uniform(3, 40) * _MIN)
        s.login(t, u.uid, u.locale, net, dev, action="password_reset", mfa=u.mfa)
        return t

    def _new_phone(self, u: User, rng: Random, t: int) -> None:
        same_os = rng.random() < 0.8
        channel = u.phone.channel if same_os else ("ios" if u.phone.channel == "android" else "android")
        u.phone = new_device(rng, channel)
        if self.where(u, t) != "home":
            return
        net, _ = self.home(u, rng)
        t = self.login(u, rng, t, net, u.phone)
        if rng.random() < 0.35:
            t += int(rng.uniform(2, 15) * _MIN)
            self.sink.login(t, u.uid, u.locale, net, u.phone, action="mfa_enable", mfa=u.mfa)
        if rng.random() < 0.12:
            self.sink.login(t + int(rng.uniform(1, 30) * _MIN), u.uid, u.locale, net, u.phone,
                            action="phone_change", mfa=u.mfa)

    def _big_move(self, u: User, rng: Random, t: int) -> None:
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        t = self.login(u, rng, t, *ctx) + int(rng.uniform(2, 20) * _MIN)
        self.withdraw(u, rng, t, *ctx, rng.choice(u.assets), lognormal(rng, 2.5e7, 1e7, 8e7),
                      fresh=rng.random() < 0.1)

    def _cold_storage(self, u: User, rng: Random, t: int) -> None:
        value = lognormal(rng, 1.5e8, 2e7, 1e9) if u.persona == "whale" else \
            lognormal(rng, 4e7, 2e7, 3e8)
        self.deposit(u, rng, t, "KRW", value, typed=0.8)
        t2 = t + int(rng.uniform(60, 300) * _MIN)
        ctx = self.context(u, rng, t2)
        if ctx is None:
            return
        t2 = self.login(u, rng, t2, *ctx) + int(rng.uniform(2, 15) * _MIN)
        asset = "BTC" if "BTC" in u.assets or rng.random() < 0.6 else u.assets[0]
        self.withdraw(u, rng, t2, *ctx, asset, value * rng.uniform(0.8, 1.0), fresh=False,
                      typed=0.2)

    def _split(self, u: User, rng: Random, t: int) -> None:
        """Withdrawals kept under the travel-rule threshold to skip its paperwork."""
        ctx = self.context(u, rng, t)
        if ctx is None:
            return
        t = self.login(u, rng, t, *ctx)
        asset = rng.choice(("USDT", "XRP", "BTC"))
        dest = rng.choice(u.wallets[asset]) if u.wallets.get(asset) else None
        n, gap = (rng.randint(2, 3), (10, 120)) if rng.random() < 0.8 else (4, (300, 480))
        for i in range(n):
            t += int(rng.uniform(*gap) * _MIN)
            if i and gap[0] >= 300:  # hours later: a new session
                ctx = self.context(u, rng, t)
                if ctx is None:
                    continue
                t = self.login(u, rng, t, *ctx) + int(rng.uniform(1, 8) * _MIN)
            self.withdraw(u, rng, t, *ctx, asset, rng.uniform(850_000, 999_000), dest=dest,
                          fresh=False, typed=0.0, lo=800_000, hi=999_999)

    def _hotel_pc(self, u: User, rng: Random, t: int) -> None:
        tr = u.trip
        if tr is None or self.where(u, t) != "abroad":
            return
        self.login(u, rng, t, tr.hotel, new_device(rng, "web"))

    def _comeback(self, u: User, rng: Random, t: int) -> None:
        """A dormant owner coming back: often a new phone, often a forgotten password."""
        if rng.random() < 0.5:
            u.phone = new_device(rng)
        net, dev = self.home(u, rng)
        if rng.random() < 0.4:
            t = self._reset_password(u, rng, t, net, dev) + int(rng.uniform(1, 5) * _MIN)
        t = self.login(u, rng, t, net, dev)
        if rng.random() < 0.4:
            self.deposit(u, rng, t + int(rng.uniform(5, 90) * _MIN), "KRW",
                         lognormal(rng, 5e5, 1e5, 5e6), source=("bank", u.bank))
        x = rng.random()
        if x < 0.33:
            asset = max(u.holdings, key=lambda a: self.value_of(u, a, t))
            share = rng.uniform(0.1, 0.6) if x < 0.25 else rng.uniform(0.7, 1.0)
            value = self.value_of(u, asset, t) * share
            if value > 10_000:
                self.withdraw(u, rng, t + int(rng.uniform(3, 60) * _MIN), net, dev, asset, value,
                              fresh=False, typed=0.2)

    def history(self, u: User, rng: Random) -> None:
        """A dormant account's activity before it went quiet (ending at ``history_end``)."""
        assert u.history_end is not None
        end = u.history_end
        first = max(self.start - 400 * _DAY, end - int(rng.uniform(20, 150) * _DAY))
        times = [*sorted(rng.randrange(first, end) for _ in range(rng.randint(2, 14))), end]
        for t in times:
            net, dev = (self.home(u, rng) if rng.random() < 0.6 else (self.mobile(u, rng), u.phone))
            t = self.login(u, rng, t, net, dev)
            if rng.random() < 0.3:
                self.deposit(u, rng, t + int(rng.uniform(2, 30) * _MIN), self.pick_asset(u, rng, 0.6),
                             self.size(u, rng))
            elif rng.random() < 0.12:
                self.withdraw(u, rng, t + int(rng.uniform(2, 30) * _MIN), net, dev,
                              rng.choice(u.assets), self.size(u, rng))
