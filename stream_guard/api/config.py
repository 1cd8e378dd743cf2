"""The API's configuration: who may call it (hashed tokens and their roles).

Plain data, read by ``settings.py`` (the ``[api]`` table of the settings file, or
``STREAM_GUARD_API__…`` variables) and handed to :func:`~stream_guard.api.app.create_app`.
Tokens come from ``api.tokens`` (entries in the settings file) and from ``api.tokens_file``
(a TOML or YAML file with a ``tokens`` list, so that the hashes can live in a secret of their
own); :func:`read_tokens_file` reads the latter, for the command line.

>>> e = TokenEntry(id="k3y1d000", subject="agent-park", role="agent", languages=["ko", "en"],
...                hash="scrypt$n=1024,r=8,p=1$c2FsdA==$" + "A" * 43 + "=")
>>> e.subject, e.role
('agent-park', 'agent')
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stream_guard.api.tokens import KEY_ID, check_hash
from stream_guard.core.errors import ConfigError

Role = Literal["agent", "analyst", "admin"]
ROLES: tuple[str, ...] = ("agent", "analyst", "admin")


class TokenEntry(BaseModel):
    """One token: its public key id, who holds it, its role, and its hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="The key id: the middle part of the token (sg_<id>_<secret>).")
    subject: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
        description="Who holds it: the agent's name in task histories and the audit trail.",
    )
    role: Role
    languages: list[str] = Field(
        default_factory=list,
        description="Languages the holder takes calls in (ko, en, zh, or * for any); a claim may ask for fewer.",
    )
    hash: str = Field(description="scrypt$n=…,r=…,p=…$<salt>$<key>, as `stream-guard api hash-token` prints it.")

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not KEY_ID.match(v):
            raise ValueError(f"key id {v!r}: use 8 to 32 lower-case letters and digits")
        return v

    @field_validator("hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        check_hash(v)
        return v


class ApiConfig(BaseModel):
    """Settings of ``stream-guard api``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: list[TokenEntry] = Field(default_factory=list, description="Tokens, inline in the settings file.")
    tokens_file: Path | None = Field(None, description="A TOML or YAML file with more tokens (a `tokens` list).")
    console: bool = Field(True, description="Serve the agents' console at /console/.")

    @model_validator(mode="after")
    def _unique(self) -> ApiConfig:
        check_unique(self.tokens)
        return self


def check_unique(entries: list[TokenEntry]) -> None:
    seen: set[str] = set()
    for e in entries:
        if e.id in seen:
            raise ValueError(f"token key id {e.id!r} is configured twice")
        seen.add(e.id)


def read_tokens_file(path: Path) -> list[TokenEntry]:
    """The ``tokens`` list of a TOML or YAML file; :class:`ConfigError` naming the problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"tokens file {path}: cannot read it: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"tokens file {path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("tokens", []), list) or set(doc) - {"tokens"}:
        raise ConfigError(f"tokens file {path}: expected only a `tokens` list ([[tokens]] tables in TOML)")
    out = []
    for i, raw in enumerate(doc.get("tokens") or []):
        try:
            out.append(TokenEntry.model_validate(raw))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg'].removeprefix('Value error, ')}"
                                 for e in exc.errors())
            raise ConfigError(f"tokens file {path}: tokens.{i}: {problems}") from None
    return out


def all_tokens(config: ApiConfig) -> list[TokenEntry]:
    """The inline tokens and the tokens file's, checked for duplicate key ids."""
    entries = list(config.tokens)
    if config.tokens_file is not None:
        entries += read_tokens_file(config.tokens_file)
    try:
        check_unique(entries)
    except ValueError as exc:
        raise ConfigError(f"api tokens: {exc}") from None
    return entries
