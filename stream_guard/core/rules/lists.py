"""Named value lists that conditions test with ``in_list(x, 'name')``.

A list is inline ``values``, ``files`` beside the rules (one value per line, ``#`` comments),
or both. ``match`` says how values compare:

- ``exact``: as written;
- ``lower``: case-insensitive;
- ``address``: crypto addresses — exact, except EVM addresses (``0x`` + 40 hex digits:
  Ethereum, Arbitrum, BSC, ETC, USDT/USDC on Ethereum), which compare case-insensitively,
  because their mixed case is only a checksum.

>>> ofac = NamedList("ofac", ["0xAbC0000000000000000000000000000000000001", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"], "address")
>>> "0xabc0000000000000000000000000000000000001" in ofac, "1boatslrhtknngkdxeeobr76b53lettpyt" in ofac
(True, False)
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stream_guard.core.errors import RuleError, SourcePos


def _is_evm(value: str) -> bool:
    return len(value) == 42 and value[:2] in ("0x", "0X")


def normalise_address(value: str) -> str:
    """The form an address is compared in: EVM addresses lower-cased, others as they are."""
    return value.lower() if _is_evm(value) else value


class NamedList:
    """An immutable set of values with a matching mode; supports ``x in named_list``."""

    __slots__ = ("_values", "match", "name", "sources")

    def __init__(self, name: str, values: Iterable[Any], match: str = "exact", sources=()):
        self.name = name
        self.match = match
        self.sources = tuple(sources)
        self._values = frozenset(self._norm(v) for v in values)

    def _norm(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if self.match == "lower":
            return value.lower()
        if self.match == "address":
            return normalise_address(value)
        return value

    def __contains__(self, value: Any) -> bool:
        if value is None:
            return False
        if self.match == "exact" or not isinstance(value, str):
            return value in self._values
        return self._norm(value) in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"NamedList({self.name!r}, {len(self)} values, match={self.match!r})"


def read_list_files(patterns: Iterable[str], base: Path, pos: SourcePos) -> tuple[list[str], list[Path]]:
    """Values from the files that ``patterns`` (globs relative to ``base``) name."""
    values: list[str] = []
    paths: list[Path] = []
    for pattern in patterns:
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise RuleError(
                f"list file {pattern!r} must be a path inside the rules directory",
                code="bad-list-file",
                pos=pos,
            )
        found = sorted(Path(p) for p in glob.glob(str(base / pattern)))
        if not found:
            raise RuleError(
                f"list file {pattern!r} matches no file under {str(base)!r}",
                code="missing-list-file",
                pos=pos,
            )
        for path in found:
            paths.append(path)
            for line in path.read_text(encoding="utf-8").splitlines():
                value = line.split("#", 1)[0].strip()
                if value:
                    values.append(value)
    return values, paths
