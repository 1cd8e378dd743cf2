"""Helpers of the API tests: one token per role (and a few more), the app, seeding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from actions_helpers import Env, decision

from stream_guard.actions.config import ActionsConfig
from stream_guard.actions.effects import Effects
from stream_guard.api.config import TokenEntry
from stream_guard.api.tokens import hash_token, new_token
from stream_guard.settings import Settings


@dataclass(frozen=True)
class Tok:
    token: str
    entry: TokenEntry

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _tok(key_id: str, subject: str, role: str, languages: list[str]) -> Tok:
    token = new_token(key_id)
    return Tok(token, TokenEntry(id=key_id, subject=subject, role=role, languages=languages, hash=hash_token(token, n=1024)))


#: Made once per test session (hashing is the slow part).
TOKENS: dict[str, Tok] = {
    "agent": _tok("agentpark1", "agent-park", "agent", ["ko", "en"]),
    "agent2": _tok("agentlee01", "agent-lee", "agent", ["ko"]),
    "agent_zh": _tok("agentwang1", "agent-wang", "agent", ["zh"]),
    "agent_any": _tok("agentnolang", "agent-night", "agent", []),
    "analyst": _tok("analystkim1", "analyst-kim", "analyst", []),
    "admin": _tok("adminchoi01", "lead-choi", "admin", ["*"]),
}

FREEZE_24H = {"kind": "freeze", "scope": "withdrawals", "duration": 86400.0, "manual": False}


def callback(priority: str = "high", reason: str = "call the user") -> dict[str, Any]:
    return {"kind": "callback", "priority": priority, "reason": reason}


def settings_for(env: Env, **api: Any) -> Settings:
    return Settings(redis_url=env.url, actions=ActionsConfig(key_prefix=env.prefix), api=api or {})


def make_app(env: Env, catalog: Any, **api: Any) -> Any:
    from stream_guard.api.app import create_app

    return create_app(settings_for(env, **api), [t.entry for t in TOKENS.values()], catalog=catalog, clock=env.clock)


def q(s: str) -> str:
    """A user or task id as a path segment."""
    return quote(s, safe="")


@dataclass
class Api:
    client: Any
    env: Env
    tokens: dict[str, Tok]

    def call(self, method: str, path: str, who: str | None = "agent", **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers.update(self.tokens[who].headers)
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, path: str, who: str | None = "agent", **kw: Any) -> Any:
        return self.call("GET", path, who, **kw)

    def post(self, path: str, who: str | None = "agent", **kw: Any) -> Any:
        return self.call("POST", path, who, **kw)

    def seed(self, *decisions: dict[str, Any], catalog: Any) -> list[Any]:
        """Apply decisions through the actions library, as the agent would."""

        async def go(store: Any) -> list[Any]:
            fx = Effects(store, catalog)
            return [await fx.apply(d) for d in decisions]

        return self.env.run(go)


__all__ = ["FREEZE_24H", "TOKENS", "Api", "Tok", "callback", "decision", "make_app", "q", "settings_for"]
