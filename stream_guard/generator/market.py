"""Assets, KRW prices that drift from day to day, amounts as people type them, and addresses.

>>> from random import Random
>>> m = Market(Random(3), start_ms=0, days=2)
>>> m.price("KRW", 0), 100_000_000 < m.price("BTC", 0) < 160_000_000
(1.0, True)
>>> address(Random(1), "tron")[0], len(address(Random(1), "tron"))
('T', 34)
"""

from __future__ import annotations

import itertools
import math
from random import Random

__all__ = ["ASSETS", "BASE_PRICE", "NETWORKS", "Market", "address", "bank_account", "network_for"]

ASSETS = ("BTC", "ETH", "USDT", "XRP", "SOL", "KRW")
BASE_PRICE = {"BTC": 130_000_000.0, "ETH": 4_800_000.0, "USDT": 1_450.0, "XRP": 3_300.0,
         "SOL": 280_000.0, "KRW": 1.0}
#: daily volatility of the log price
_VOL = {"BTC": 0.025, "ETH": 0.035, "USDT": 0.0015, "XRP": 0.04, "SOL": 0.045, "KRW": 0.0}
#: decimals the exchange keeps for an amount (more than people type)
_DECIMALS = {"BTC": 8, "ETH": 8, "USDT": 6, "XRP": 6, "SOL": 9, "KRW": 0}
NETWORKS = {"BTC": ("bitcoin",), "ETH": ("ethereum",), "USDT": ("tron", "ethereum"),
            "XRP": ("ripple",), "SOL": ("solana",), "KRW": ("bank",)}
_DAY_MS = 86_400_000

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_RIPPLE = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"


def _table(alphabet: str) -> bytes:
    # byte -> character: a random byte picks a character (the slight bias is harmless here)
    return bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))


_T_B58, _T_BECH32, _T_RIPPLE = _table(_B58), _table(_BECH32), _table(_RIPPLE)


def _chars(rng: Random, table: bytes, k: int) -> str:
    return rng.randbytes(k).translate(table).decode()
#: bank prefixes and the digit groups of their account numbers
_BANKS = (("KB", (6, 2, 6)), ("KB", (3, 6, 2)), ("SH", (3, 3, 6)), ("WR", (4, 3, 6)),
          ("HN", (3, 6, 5)), ("NH", (3, 4, 4, 2)), ("IBK", (3, 6, 2, 3)), ("KAKAO", (4, 2, 7)),
          ("TOSS", (4, 4, 4)), ("KBANK", (3, 3, 6)), ("SC", (3, 2, 6)))
_BANK_CUM = tuple(itertools.accumulate((14, 8, 14, 12, 9, 12, 6, 13, 6, 4, 2)))


def network_for(rng: Random, asset: str) -> str:
    nets = NETWORKS[asset]
    if len(nets) == 1:
        return nets[0]
    return nets[0] if rng.random() < 0.72 else nets[1]  # USDT: mostly TRC-20


def bank_account(rng: Random) -> str:
    bank, groups = rng.choices(_BANKS, cum_weights=_BANK_CUM)[0]
    return "-".join([bank, *(f"{rng.getrandbits(32) % 10**n:0{n}d}" for n in groups)])


def address(rng: Random, network: str) -> str:
    """A realistic-looking address on ``network`` (no valid checksum: nobody checks here)."""
    if network == "ethereum":
        body = f"{rng.getrandbits(160):040x}"
        if rng.random() < 0.4:  # checksummed (EIP-55) addresses mix the case of the letters
            body = "".join(c.upper() if c > "9" and rng.random() < 0.5 else c for c in body)
        return "0x" + body
    if network == "tron":
        return "T" + _chars(rng, _T_B58, 33)
    if network == "bitcoin":
        r = rng.random()
        if r < 0.55:
            return "bc1q" + _chars(rng, _T_BECH32, 38)
        if r < 0.63:
            return "bc1p" + _chars(rng, _T_BECH32, 58)
        if r < 0.85:
            return "1" + _chars(rng, _T_B58, rng.choice((32, 33, 33, 33)))
        return "3" + _chars(rng, _T_B58, 33)
    if network == "ripple":
        return "r" + _chars(rng, _T_RIPPLE, rng.randint(24, 33))
    if network == "solana":
        return _chars(rng, _T_B58, rng.choice((43, 44, 44)))
    if network == "bank":
        return bank_account(rng)
    raise ValueError(f"no address format for network {network!r}")


class Market:
    """KRW prices per asset: a daily random walk, interpolated within the day.

    Prices exist from ``history_days`` before ``start_ms`` to ``days + 1`` after it.
    """

    def __init__(self, rng: Random, start_ms: int, days: int, history_days: int = 420):
        self.start_ms = start_ms
        self.first_day = -history_days
        self._daily: dict[str, list[float]] = {}
        n_after, n_before = days + 2, history_days
        for asset in ASSETS:
            vol = _VOL[asset]
            after, before = [0.0], []
            for _ in range(n_after):
                after.append(after[-1] + rng.gauss(0.0, vol))
            lp = 0.0
            for _ in range(n_before):
                # a year ago prices were a little lower on average, and walk back to it
                lp = 0.98 * lp + rng.gauss(-0.003 if vol > 0.01 else 0.0, vol)
                before.append(lp)
            logs = before[::-1] + after
            self._daily[asset] = [BASE_PRICE[asset] * math.exp(v) for v in logs]

    def price(self, asset: str, t_ms: int) -> float:
        if asset == "KRW":
            return 1.0
        x = (t_ms - self.start_ms) / _DAY_MS - self.first_day
        series = self._daily[asset]
        i = min(max(int(x), 0), len(series) - 2)
        f = min(max(x - i, 0.0), 1.0)
        return series[i] * (1 - f) + series[i + 1] * f

    def amount(
        self,
        rng: Random,
        asset: str,
        value_krw: float,
        t_ms: int,
        *,
        lo: float | None = None,
        hi: float | None = None,
        typed: float = 0.3,
    ) -> tuple[float | str, float]:
        """``(amount, value_krw)`` for about ``value_krw`` worth of ``asset`` at ``t_ms``.

        With probability ``typed`` the amount is rounded the way people type it (``0.05``,
        ``1,200 USDT``); otherwise it keeps the exchange's decimals (what "max" or a trade
        leaves). ``lo``/``hi`` bound the resulting KRW value; a typed amount that would break
        them falls back to full decimals. About a quarter of amounts are decimal strings.
        """
        if asset == "KRW":
            v = max(1, round(value_krw))
            if rng.random() < typed:
                step = 10_000 if v >= 100_000 else 1_000
                r = max(step, round(v / step) * step)
                if (lo is None or r >= lo) and (hi is None or r <= hi):
                    v = r
            return v, v
        price = self.price(asset, t_ms)
        raw = value_krw / price
        decimals = _DECIMALS[asset]
        if rng.random() < typed and raw > 0:
            digits = max(0, rng.choice((1, 2, 2, 3)) - 1 - math.floor(math.log10(raw)))
            amt = round(raw, min(digits, decimals))
            val = amt * price
            if amt <= 0 or (lo is not None and val < lo) or (hi is not None and val > hi):
                amt = round(raw, decimals)
        else:
            amt = round(raw, decimals)
            if asset == "USDT" and rng.random() < 0.5:
                amt = round(raw, 2)
        if amt <= 0:
            amt = 10.0**-decimals
        value = round(amt * price)
        if lo is not None and value < lo:
            value = math.ceil(lo)
        if hi is not None and value > hi:
            value = math.floor(hi)
        if rng.random() < 0.25:
            text = f"{amt:.{decimals}f}"
            if rng.random() < 0.5:  # producers differ: some pad to the decimals, some strip
                text = text.rstrip("0").rstrip(".")
            return text, value
        return amt, value
