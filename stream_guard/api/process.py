"""``stream-guard api`` in a child process with a token of its own (the embedded demo).

>>> ApiProcess.__name__
'ApiProcess'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from stream_guard.api.tokens import hash_token, key_id_of, new_token
from stream_guard.settings import Settings
from stream_guard.stream.process import WorkerProcess


class ApiProcess(WorkerProcess):
    """The API and the console on ``127.0.0.1:<port>``; :attr:`token` (``role``, any language)
    is written hashed to a tokens file in ``workdir`` and kept here to be shown to the user."""

    def __init__(self, settings: Settings, *, workdir: Path | None = None, log_level: str | None = None,
                 subject: str = "demo-lead", role: str = "admin"):
        super().__init__(settings, workdir=workdir, log_level=log_level)
        self.port = self.web_port
        self.token = new_token()
        self.log_path = self.workdir / "api.log"
        self.tokens_path = self.workdir / "tokens.yaml"
        entry: dict[str, Any] = {"id": key_id_of(self.token), "subject": subject, "role": role,
                                 "languages": ["*"], "hash": hash_token(self.token)}
        self.tokens_path.write_text(yaml.safe_dump({"tokens": [entry]}))
        self.tokens_path.chmod(0o600)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "stream_guard", "api", "--host", "127.0.0.1", "--port", str(self.port),
               "--tokens", str(self.tokens_path)]
        if self.log_level is not None:
            cmd += ["--log-level", self.log_level]
        return cmd
