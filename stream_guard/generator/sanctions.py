"""Real OFAC-listed crypto addresses (``rules/lists/ofac_sdn_crypto``) for sanctioned transfers.

>>> from random import Random
>>> asset, network, addr = load_sanctioned().pick(Random(1))
>>> asset in ("BTC", "ETH", "USDT", "XRP") and network in ("bitcoin", "ethereum", "tron", "ripple")
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from random import Random

__all__ = ["Sanctioned", "load_sanctioned", "sanctions_dir"]

_EVM_FILES = ("ETH", "USDT", "USDC", "ARB", "BSC", "ETC")


def sanctions_dir() -> Path:
    """The folder of ``sanctioned_addresses_*.txt`` files (source checkout, then wheel)."""
    here = Path(__file__).resolve().parents[2] / "rules" / "lists" / "ofac_sdn_crypto"
    if here.is_dir():
        return here
    bundled = Path(__file__).resolve().parents[1] / "_bundled" / "rules" / "lists" / "ofac_sdn_crypto"
    if bundled.is_dir():
        return bundled
    raise FileNotFoundError(
        f"the OFAC address lists are missing: expected sanctioned_addresses_*.txt in {here} "
        f"(or {bundled} in an installed wheel); restore rules/lists/ofac_sdn_crypto"
    )


def _read(folder: Path, code: str) -> list[str]:
    path = folder / f"sanctioned_addresses_{code}.txt"
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


@dataclass(frozen=True)
class Sanctioned:
    bitcoin: tuple[str, ...]
    evm: tuple[str, ...]
    tron: tuple[str, ...]
    ripple: tuple[str, ...]

    def pick(self, rng: Random) -> tuple[str, str, str]:
        """``(asset, network, address)`` of one listed address, written as wallets write it."""
        kind = rng.choices(("bitcoin", "evm", "tron", "ripple"), (40, 35, 20, 5))[0]
        pool = getattr(self, kind) or self.bitcoin
        addr = rng.choice(pool)
        if kind == "evm" and pool is self.evm:
            if rng.random() < 0.5:  # listed with a checksum case; wallets often lowercase
                addr = addr.lower()
            return ("ETH" if rng.random() < 0.45 else "USDT"), "ethereum", addr
        if kind == "tron" and pool is self.tron:
            return "USDT", "tron", addr
        if kind == "ripple" and pool is self.ripple:
            return "XRP", "ripple", addr
        return "BTC", "bitcoin", addr


def load_sanctioned(folder: Path | None = None) -> Sanctioned:
    folder = folder or sanctions_dir()
    bitcoin = [a for a in _read(folder, "XBT") if a[0] in "13" or a.startswith("bc1")]
    if not bitcoin:
        raise FileNotFoundError(f"no Bitcoin (XBT) addresses in {folder}: the OFAC lists look empty")
    # the token files (USDT, USDC) list addresses of several chains: sort them by format
    listed = [a for code in (*_EVM_FILES, "TRX") for a in _read(folder, code)]
    evm: dict[str, str] = {}
    for a in listed:
        if a.startswith("0x") and len(a) == 42:
            evm.setdefault(a.lower(), a)  # one spelling per address
    tron = dict.fromkeys(a for a in listed if a.startswith("T") and len(a) == 34)
    return Sanctioned(tuple(bitcoin), tuple(evm.values()), tuple(tron),
                      tuple(a for a in _read(folder, "XRP") if a.startswith("r")))
