"""The attacks, one method per kind, injected into victims' normal timelines.

Each method describes what the attacker has to do, using the same building blocks as the
account owners (:class:`~stream_guard.generator.benign.Behaviour`), so that nothing but the
behaviour itself (new device, far country, drained balance, timing) gives an attack away.
Each returns an :class:`Outcome` naming the key event: the one by which the attack should
have been noticed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any

from stream_guard.generator.benign import Behaviour, lognormal
from stream_guard.generator.clients import Device, new_device, web_user_agent
from stream_guard.generator.infra import (
    attacker_net,
    far_net,
    hosting,
    kr_proxy,
    new_country_net,
    residential_abroad,
    same_subnet,
)
from stream_guard.generator.market import address, network_for
from stream_guard.generator.population import User
from stream_guard.generator.sanctions import Sanctioned
from stream_guard.generator.world import Net

__all__ = ["ATTACK_KINDS", "Attacks", "Outcome"]

ATTACK_KINDS: tuple[str, ...] = (
    "brute_force",
    "credential_stuffing",
    "impossible_travel",
    "new_device_new_country",
    "account_takeover",
    "large_withdrawal",
    "security_change_withdrawal",
    "sanctioned_address",
    "structuring",
    "rapid_in_out",
    "fan_in",
    "dormant_reactivation",
)

_S = 1_000
_MIN = 60_000
_H = 3_600_000
_DAY = 86_400_000


@dataclass
class Outcome:
    key: dict[str, Any]
    #: the owner's own sessions are left out until then (they were not around)
    busy_until: int
    detail: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    victims: list[str] | None = None


class Attacks:
    def __init__(self, behaviour: Behaviour, sanctioned: Sanctioned):
        self.b = behaviour
        self.sink = behaviour.sink
        self.sanctioned = sanctioned

    # --- helpers -------------------------------------------------------------------------

    def _usual(self, u: User, rng: Random, t: int) -> tuple[Net, Device]:
        """The owner's usual place and device: home broadband or their carrier, their phone."""
        if rng.random() < 0.6:
            return u.home_net(), (u.pc if u.pc and rng.random() < 0.35 else u.phone)
        return self.b.mobile(u, rng), u.phone

    def _drain(self, u: User, rng: Random, t: int, lo: float, hi: float) -> tuple[str, float]:
        """The asset worth most and ``lo``–``hi`` of its value (KRW is first bought as USDT)."""
        b = self.b
        asset = max(sorted(u.holdings), key=lambda a: b.value_of(u, a, t))
        value = b.value_of(u, asset, t) * rng.uniform(lo, hi)
        if asset == "KRW":
            asset = "USDT" if rng.random() < 0.7 else rng.choice(("BTC", "XRP", "ETH"))
            u.holdings["KRW"] -= value
            u.holdings[asset] = u.holdings.get(asset, 0.0) + value / b.market.price(asset, t)
        return asset, max(value, 50_000.0)

    def _fail(self, u: User, rng: Random, t: int, net: Net, dev: Device, n: int) -> int:
        for _ in range(n):
            reason = "bad_otp" if u.mfa and rng.random() < 0.3 else "bad_password"
            self.sink.login(t, u.uid, u.locale, net, dev, success=False, failure=reason,
                            mfa=reason == "bad_otp")
            t += int(rng.uniform(8, 90) * _S)
        return t

    # --- the kinds -----------------------------------------------------------------------

    def brute_force(self, u: User, rng: Random, t0: int) -> Outcome:
        fast = rng.random() < 0.6
        n = rng.randint(15, 200) if fast else rng.randint(20, 40)
        first = attacker_net(rng)
        nets = [first]
        for _ in range(rng.choice((0, 0, 1, 2))):
            nets.append(same_subnet(rng, first) if rng.random() < 0.5 else attacker_net(rng))
        devs = [new_device(rng, "web" if rng.random() < 0.7 else None)
                for _ in range(rng.randint(1, 2))]
        lock_after = rng.choice((None, None, 5, 10, 20))
        succeeds = lock_after is None and rng.random() < (0.1 if u.mfa else 0.3)
        step = rng.uniform(2, 8) * _H / n if not fast else 0
        t, key = t0, None
        for i in range(n):  # the i-th attempt follows i failures
            net = nets[i * len(nets) // n]
            dev = rng.choice(devs)
            if i == n - 1 and succeeds:
                self.sink.login(t, u.uid, u.locale, net, dev, mfa=u.mfa)
                break
            locked = lock_after is not None and i >= lock_after
            e = self.sink.login(t, u.uid, u.locale, net, dev, success=False,
                                failure="locked" if locked else "bad_password", mfa=False)
            if i == 9:
                key = e
            t += rng.randint(400, 9_000) if fast else int(step * rng.uniform(0.3, 1.7))
        assert key is not None
        return Outcome(key, t0, {"variant": "fast" if fast else "slow", "attempts": n,
                                 "ips": sorted({x.ip for x in nets}), "succeeded": succeeds})

    def credential_stuffing(self, rng: Random, t0: int, victims: list[User],
                            unknown: list[str]) -> Outcome:
        main = attacker_net(rng, (5, 3.5, 1.5))
        nets = [main] + [same_subnet(rng, main) for _ in range(rng.choice((0, 0, 1, 2)))]
        targets: list[User | str] = [*victims, *unknown]
        rng.shuffle(targets)
        t, key, successes = t0, None, 0
        for i, target in enumerate(targets, 1):
            tries = 1 if rng.random() < 0.75 else 2
            for k in range(tries):
                net = rng.choice(nets)
                # stuffing tools rotate user agents; few run the fingerprinting script
                dev = Device(new_device(rng, "web").device_id if rng.random() < 0.35 else None,
                             "web", web_user_agent(rng))
                if isinstance(target, str):
                    e = self.sink.login(t, target, None, net, dev, success=False,
                                        failure="unknown_user", mfa=False)
                elif k == tries - 1 and rng.random() < 0.07:  # the leaked password works
                    if target.mfa:
                        e = self.sink.login(t, target.uid, target.locale, net, dev, success=False,
                                            failure="bad_otp", mfa=True)
                    else:
                        e = self.sink.login(t, target.uid, target.locale, net, dev, mfa=False)
                        successes += 1
                else:
                    e = self.sink.login(t, target.uid, target.locale, net, dev, success=False,
                                        failure="bad_password", mfa=False)
                if i == 10 and k == 0:
                    key = e
                t += rng.randint(300, 6_000)
        assert key is not None
        return Outcome(key, t0, {"accounts": len(targets), "successes": successes,
                                 "ips": sorted({x.ip for x in nets})},
                       ip=main.ip, victims=sorted(v.uid for v in victims))

    def impossible_travel(self, u: User, rng: Random, t0: int) -> Outcome:
        net, dev = self._usual(u, rng, t0)
        self.sink.login(t0, u.uid, u.locale, net, dev, mfa=u.mfa, keep_geo=True)
        t = t0 + int(rng.uniform(10 * 60, 178 * 60) * _S)
        far = far_net(rng, net, 5_200)
        key = self.sink.login(t, u.uid, u.locale, far, new_device(rng), mfa=u.mfa, keep_geo=True)
        return Outcome(key, t + 30 * _MIN, {"from": net.city, "to": far.city,
                                            "minutes": (t - t0) // _MIN})

    def new_device_new_country(self, u: User, rng: Random, t0: int, gap: int) -> Outcome:
        # the owner's last login, ``gap`` before (their sessions in between are left out)
        self.b.login(u, rng, t0 - gap, *self._usual(u, rng, t0 - gap))
        net = new_country_net(rng, u.countries)
        dev = new_device(rng)
        t = t0
        if rng.random() < 0.15:
            t = self._fail(u, rng, t, net, dev, rng.randint(1, 2))
        key = self.sink.login(t, u.uid, u.locale, net, dev, mfa=u.mfa)
        return Outcome(key, t + _H, {"country": net.country, "days_since_last": round(gap / _DAY, 2)})

    def account_takeover(self, u: User, rng: Random, t0: int) -> Outcome:
        net = rng.choices((residential_abroad, kr_proxy, hosting), (45, 35, 20))[0](rng)
        dev = new_device(rng)
        t = t0
        if rng.random() < 0.35:
            t = self._fail(u, rng, t, net, dev, rng.randint(1, 4))
        self.sink.login(t, u.uid, u.locale, net, dev, mfa=u.mfa)
        changes = ["email_change", "phone_change", "password_change", "mfa_disable"]
        if not u.mfa:
            changes.remove("mfa_disable")
        rng.shuffle(changes)
        for action in changes[: 1 if rng.random() < 0.7 else 2]:
            t += int(rng.uniform(2 * 60, 20 * 60 if action == changes[0] else 5 * 60) * _S)
            self.sink.login(t, u.uid, u.locale, net, dev, action=action, mfa=u.mfa)
        t += int(rng.uniform(5 * 60, 30 * 60) * _S)
        asset, value = self._drain(u, rng, t, 0.6, 1.0)
        key = self.b.withdraw(u, rng, t, net, dev, asset, value, fresh=True, typed=0.15)
        if rng.random() < 0.3 and len([a for a in u.holdings if u.holdings[a] > 0]) > 1:
            asset2, value2 = self._drain(u, rng, t, 0.6, 1.0)
            self.b.withdraw(u, rng, t + int(rng.uniform(1, 10) * _MIN), net, dev, asset2, value2,
                            fresh=True, typed=0.15)
        return Outcome(key, t + 2 * _H, {"country": net.country, "asn": net.asn,
                                         "changes": changes[:2]})

    def large_withdrawal(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        # a modest history first: small withdrawals to the owner's own wallets
        span = t0 - b.start - 6 * _H
        for _ in range(rng.randint(1, 3) if span > _H else 0):
            th = b.start + rng.randrange(span)
            net, dev = self._usual(u, rng, th)
            th = b.login(u, rng, th, net, dev) + int(rng.uniform(1, 10) * _MIN)
            b.withdraw(u, rng, th, net, dev, rng.choice(u.assets),
                       lognormal(rng, 500_000, 100_000, 3_000_000), fresh=False)
        value = lognormal(rng, 8e7, 3.2e7, 4.8e8)
        # voice-phishing victims are coached to move their (loan) money in first
        b.deposit(u, rng, t0, "KRW", value * rng.uniform(1.0, 1.08), source=("bank", u.bank),
                  typed=0.7)
        t = t0 + int(rng.uniform(20, 30 * 60) * _MIN)
        net, dev = u.home_net(), u.phone
        t = b.login(u, rng, t, net, dev) + int(rng.uniform(2, 20) * _MIN)
        asset = rng.choices(("USDT", "BTC", "ETH", "XRP"), (45, 30, 15, 10))[0]
        key = b.withdraw(u, rng, t, net, dev, asset, value, fresh=True, typed=0.2,
                         lo=3e7, hi=5e8)
        return Outcome(key, t0, {"value_krw": key["value_krw"]})

    def security_change_withdrawal(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        net = rng.choices((kr_proxy, residential_abroad, hosting), (50, 25, 25))[0](rng)
        # a new device, or the owner's phone under a remote-control app
        dev = new_device(rng) if rng.random() < 0.6 else u.phone
        t = b.login(u, rng, t0, net, dev, typos=False) + int(rng.uniform(1, 15) * _MIN)
        change = "phone_change" if rng.random() < 0.5 else "email_change"
        self.sink.login(t, u.uid, u.locale, net, dev, action=change, mfa=u.mfa)
        t2 = t + int(rng.uniform(30, 20 * 60) * _MIN)
        if rng.random() < 0.3:
            net = same_subnet(rng, net) if rng.random() < 0.5 else attacker_net(rng)
        t2 = b.login(u, rng, t2, net, dev, typos=False) + int(rng.uniform(1, 10) * _MIN)
        asset, value = self._drain(u, rng, t2, 0.5, 1.0)
        key = b.withdraw(u, rng, t2, net, dev, asset, max(value, lognormal(rng, 9e6, 5.2e6, 1e8)),
                         fresh=True, typed=0.2, lo=5e6)
        return Outcome(key, t + 30 * _MIN, {"change": change, "hours": round((t2 - t) / _H, 1)})

    def sanctioned_address(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        asset, network, addr = self.sanctioned.pick(rng)
        value = b.size(u, rng) * rng.uniform(1, 4)
        if rng.random() < 0.3:
            key = b.deposit(u, rng, t0, asset, value, source=(network, addr))
            return Outcome(key, t0, {"direction": "deposit", "network": network})
        net, dev = self._usual(u, rng, t0)
        t = b.login(u, rng, t0, net, dev) + int(rng.uniform(1, 15) * _MIN)
        key = b.withdraw(u, rng, t, net, dev, asset, value, dest=(network, addr))
        return Outcome(key, t0, {"direction": "withdrawal", "network": network})

    def structuring(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        asset = rng.choices(("USDT", "XRP", "BTC", "ETH"), (45, 25, 15, 15))[0]
        dests = []
        for _ in range(rng.randint(1, 3)):
            known = u.wallets.get(asset)
            if known and rng.random() < 0.2:
                dests.append(rng.choice(known))
            else:
                net_name = network_for(rng, asset)
                dests.append((net_name, address(rng, net_name)))
        n = rng.randint(4, 8)
        span = int(rng.uniform(2 * 60, 20 * 60) * _MIN)
        times = [t0, *sorted(t0 + rng.randrange(span) for _ in range(n - 2)), t0 + span]
        net, dev = self._usual(u, rng, t0)
        keys = []
        for i, t in enumerate(times):
            if i == 0 or rng.random() < 0.5:  # a fresh session (same phone or PC, any network)
                net, dev = self._usual(u, rng, t) if i else (net, dev)
                b.login(u, rng, t - int(rng.uniform(1, 5) * _MIN), net, dev)
            keys.append(b.withdraw(u, rng, t, net, dev, asset, rng.uniform(905_000, 999_000),
                                   dest=rng.choice(dests), typed=0.0, lo=900_000, hi=999_999))
        return Outcome(keys[3], t0, {"withdrawals": n, "addresses": len(dests)})

    def rapid_in_out(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        value = lognormal(rng, 6e7, 2.1e7, 1e9)
        if rng.random() < 0.4:
            src = ("bank", u.bank if rng.random() < 0.5 else address(rng, "bank"))
            dep = b.deposit(u, rng, t0, "KRW", value, source=src, typed=0.6, lo=2e7)
            asset_in = "KRW"
        else:
            asset_in = rng.choice(("USDT", "BTC", "ETH", "XRP"))
            net_name = network_for(rng, asset_in)
            dep = b.deposit(u, rng, t0, asset_in, value, source=(net_name, address(rng, net_name)),
                            typed=0.3, lo=2e7)
        t = t0 + int(rng.uniform(32, 355) * _MIN)
        if rng.random() < 0.7:
            net, dev = self._usual(u, rng, t)
        else:
            net, dev = attacker_net(rng, (3, 2, 5)), new_device(rng)
        b.login(u, rng, t - int(rng.uniform(1, 2) * _MIN), net, dev, typos=False)
        choices = [a for a in ("USDT", "BTC", "ETH", "XRP", "SOL") if a != asset_in]
        asset = asset_in if asset_in != "KRW" and rng.random() < 0.4 else rng.choice(choices)
        share = rng.uniform(0.82, 0.99)
        key = b.withdraw(u, rng, t, net, dev, asset, dep["value_krw"] * share, fresh=True,
                         typed=0.1, lo=dep["value_krw"] * 0.8, hi=dep["value_krw"])
        return Outcome(key, t0, {"asset_in": asset_in, "asset_out": asset,
                                            "minutes": (t - t0) // _MIN})

    def fan_in(self, u: User, rng: Random, t0: int, senders: list[User]) -> Outcome:
        b = self.b
        n = rng.randint(8, 25)
        span = int(rng.uniform(2 * 60, 24 * 60) * _MIN)
        times = [t0, *sorted(t0 + rng.randrange(1, span) for _ in range(n - 1))]
        pool = [s for s in senders if s is not u]
        internal = rng.sample(pool, min(len(pool), rng.randint(0, n // 3)))
        sources: list[User | str] = [*internal, *rng.choices(("bank", "crypto"), (45, 55),
                                                              k=n - len(internal))]
        rng.shuffle(sources)
        deposits, total = [], 0.0
        for t, src in zip(times, sources, strict=True):
            value = lognormal(rng, 1.2e6, 1e5, 1e7)
            if isinstance(src, User):
                asset = "KRW" if rng.random() < 0.6 else "USDT"
                net, dev = src.home_net(), src.phone
                b.login(src, rng, t - int(rng.uniform(2, 30) * _MIN), net, dev)
                b.withdraw(src, rng, t - int(rng.uniform(5, 60) * _S), net, dev, asset, value,
                           counterparty=u.uid, typed=0.7)
                e = b.deposit(u, rng, t, asset, value, counterparty=src.uid, typed=0.7)
            elif src == "bank":
                e = b.deposit(u, rng, t, "KRW", value, source=("bank", address(rng, "bank")),
                              typed=0.7)
            else:
                asset = rng.choice(("USDT", "USDT", "XRP", "ETH", "BTC"))
                net_name = network_for(rng, asset)
                e = b.deposit(u, rng, t, asset, value, source=(net_name, address(rng, net_name)))
            deposits.append(e)
            total += e["value_krw"]
        if rng.random() < 0.7:  # cash out
            t = times[-1] + int(rng.uniform(10, 180) * _MIN)
            net, dev = self._usual(u, rng, t)
            t = b.login(u, rng, t, net, dev) + int(rng.uniform(1, 10) * _MIN)
            b.withdraw(u, rng, t, net, dev, "USDT", total * rng.uniform(0.8, 1.0), fresh=True)
        return Outcome(deposits[7], t0, {"deposits": n, "internal": len(internal)})

    def dormant_reactivation(self, u: User, rng: Random, t0: int) -> Outcome:
        b = self.b
        net = rng.choices((kr_proxy, residential_abroad, hosting), (45, 35, 20))[0](rng)
        dev = new_device(rng)
        t = t0
        x = rng.random()
        if x < 0.3:  # the thief controls the mailbox: reset the password
            t = self._fail(u, rng, t, net, dev, rng.randint(1, 3)) + int(rng.uniform(2, 20) * _MIN)
            self.sink.login(t, u.uid, u.locale, net, dev, action="password_reset", mfa=u.mfa)
            t += int(rng.uniform(1, 5) * _MIN)
        elif x < 0.5:
            t = self._fail(u, rng, t, net, dev, rng.randint(1, 3))
        self.sink.login(t, u.uid, u.locale, net, dev, mfa=u.mfa)
        t += int(rng.uniform(5, 12 * 60) * _MIN)
        asset, value = self._drain(u, rng, t, 0.7, 1.0)
        key = b.withdraw(u, rng, t, net, dev, asset, value, fresh=True, typed=0.15)
        days = (t0 - (u.history_end or t0)) // _DAY
        return Outcome(key, t + _H, {"dormant_days": days, "country": net.country})
