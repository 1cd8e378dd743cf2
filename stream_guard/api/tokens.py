"""API tokens: how they look, how they are stored (hashed), how a presented one is checked.

A token is ``sg_<key id>_<secret>``: the key id (8 to 32 lower-case letters and digits) is
public and names the configuration entry; the secret (43 characters, 256 random bits when
made by :func:`new_token`) is never stored. The entry keeps only a salted scrypt hash of the
whole token::

    scrypt$n=16384,r=8,p=1$<salt, base64>$<32-byte key, base64>

Checking a token costs one scrypt (~45 ms at ``n=16384``), once per process: a token that
was accepted is remembered (by its SHA-256, in memory) so that later requests cost a
dictionary lookup. A token whose key id is unknown is refused without any hashing.

>>> token = new_token("k3y1d000")
>>> entry = hash_token(token, n=1024)
>>> verify_hash(token, entry), verify_hash(token + "x", entry)
(True, False)
>>> key_id_of(token)
'k3y1d000'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

#: ``sg_<key id>_<secret>``; the secret may itself contain ``_`` and ``-`` (URL-safe base64).
TOKEN = re.compile(r"^sg_(?P<key_id>[a-z0-9]{8,32})_(?P<secret>[A-Za-z0-9_-]{20,128})$")
KEY_ID = re.compile(r"^[a-z0-9]{8,32}$")
_HASH = re.compile(r"^scrypt\$n=(?P<n>\d+),r=(?P<r>\d+),p=(?P<p>\d+)\$(?P<salt>[A-Za-z0-9+/=]+)\$(?P<key>[A-Za-z0-9+/=]+)$")
#: The cost of new hashes: 16 MiB and ~45 ms per check on one core (OWASP's scrypt minimum
#: is n=2**17 with r=8 for passwords; tokens made here carry 256 random bits, which no
#: offline guessing gets through whatever the cost, so the cost only guards chosen tokens).
DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
_DKLEN = 32


def new_key_id() -> str:
    return secrets.token_hex(6)  # 12 characters


def new_token(key_id: str | None = None) -> str:
    """A fresh token (256 random bits) for ``key_id`` (default: a random one)."""
    key_id = key_id or new_key_id()
    if not KEY_ID.match(key_id):
        raise ValueError(f"key id {key_id!r}: use 8 to 32 lower-case letters and digits")
    return f"sg_{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(token: str) -> str | None:
    """The key id of a well-formed token, else None."""
    m = TOKEN.match(token)
    return m.group("key_id") if m else None


def hash_token(token: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P) -> str:
    """The stored form of ``token``: a salted scrypt hash with its parameters."""
    salt = secrets.token_bytes(16)
    key = _scrypt(token, salt, n, r, p)
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def check_hash(stored: str) -> None:
    """ValueError if ``stored`` is not a hash :func:`hash_token` could have made."""
    m = _HASH.match(stored)
    if not m:
        raise ValueError("not a token hash: expected scrypt$n=…,r=…,p=…$<salt>$<key> (stream-guard api hash-token makes one)")
    n, r, p = int(m["n"]), int(m["r"]), int(m["p"])
    if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 or 128 * n * r > 256 * 2**20:
        raise ValueError(f"scrypt parameters n={n}, r={r}, p={p} out of range (n a power of two, at most 256 MiB)")
    try:
        if len(base64.b64decode(m["key"], validate=True)) != _DKLEN or not base64.b64decode(m["salt"], validate=True):
            raise ValueError("the key must be 32 bytes and the salt not empty")
    except ValueError as exc:
        raise ValueError(f"bad base64 in the token hash: {exc}") from None


def verify_hash(token: str, stored: str) -> bool:
    """Whether ``token`` is the one ``stored`` was made from (constant-time comparison)."""
    m = _HASH.match(stored)
    if not m:
        return False
    key = _scrypt(token, base64.b64decode(m["salt"]), int(m["n"]), int(m["r"]), int(m["p"]))
    return hmac.compare_digest(key, base64.b64decode(m["key"]))


def fingerprint(token: str) -> bytes:
    """What the accepted-token cache is keyed by (never the token itself)."""
    return hashlib.sha256(token.encode()).digest()


def _scrypt(token: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(token.encode(), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=128 * n * r * p + 2**20)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()
