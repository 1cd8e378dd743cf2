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




class ApiServer:
    """``stream-guard api`` in a child process on a free port (its own process group),
    for the tests that need a real HTTP server: uvicorn, the command line, the browser."""

    def __init__(self, redis_url: str, prefix: str, tokens_file: Any, *, log: Any):
        from stream_guard.actions.server import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redis_url, self.prefix, self.tokens_file, self.log_path = redis_url, prefix, tokens_file, log
        self.proc: Any = None

    def start(self, timeout: float = 30.0) -> ApiServer:
        import os
        import subprocess
        import sys
        import time
        import urllib.request

        env = {k: v for k, v in os.environ.items() if not k.startswith("STREAM_GUARD_")}
        env["STREAM_GUARD_ACTIONS__KEY_PREFIX"] = self.prefix
        cmd = [sys.executable, "-m", "stream_guard", "api", "--host", "127.0.0.1", "--port", str(self.port),
               "--redis", self.redis_url, "--tokens", str(self.tokens_file), "--log-level", "info"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop)
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stream-guard api exited with {self.proc.returncode}: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/health/live", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"stream-guard api did not answer within {timeout} s: {self.log_path.read_text()}")

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if getattr(self, "_log", None) is not None:
            self._log.close()


def write_tokens_file(path: Any, toks: dict[str, Tok] | None = None) -> Any:
    import yaml

    path.write_text(yaml.safe_dump({"tokens": [t.entry.model_dump() for t in (toks or TOKENS).values()]}))
    return path


__all__ = ["FREEZE_24H", "TOKENS", "Api", "ApiServer", "Tok", "callback", "decision", "make_app", "q", "settings_for",
           "write_tokens_file"]
