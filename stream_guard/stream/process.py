"""A worker in a child process, for the demo, the benchmarks and the integration tests.

>>> WorkerProcess.__name__
'WorkerProcess'
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from stream_guard.settings import Settings
from stream_guard.stream.broker import free_port

#: Settings passed to the child through its environment (STREAM_GUARD_<NAME>).
_ENV_FIELDS = (
    "broker", "app_id", "logins_topic", "transfers_topic", "decisions_topic", "dead_letter_topic",
    "rules_topic", "group_topic", "lateness", "store", "flush_interval", "merge_hold",
    "redis_url", "freezes_topic", "alerts_topic",
)


def _pdeathsig() -> Callable[[], None] | None:
    """A preexec_fn that makes the child get SIGTERM when its parent thread ends (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_it() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return set_it


_PDEATHSIG = _pdeathsig()


class WorkerProcess:
    """``stream-guard worker`` in its own process group, its log and counters in ``workdir``."""

    def __init__(
        self,
        settings: Settings,
        *,
        workdir: Path | None = None,
        rules: Path | None = None,
        log_level: str | None = None,
        extra_env: dict[str, str] | None = None,
        index: int = 1,
    ):
        self.settings = settings
        self.index = index
        self.log_level = log_level
        self.web_port = free_port()
        self.last_stats: dict[str, Any] = {}
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="stream-guard-worker-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.rules = rules
        self.extra_env = extra_env or {}
        self.stats_path = self.workdir / "stats.json"
        self.log_path = self.workdir / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", **self.extra_env}
        for name in _ENV_FIELDS:
            env[f"STREAM_GUARD_{name.upper()}"] = str(getattr(self.settings, name))
        cmd = self.command()
        self.stats_path.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: stop() reaches its children
                preexec_fn=_PDEATHSIG,  # only a prctl call
            )
        return self

    def command(self) -> list[str]:
        """The command line of the child (a subclass runs another command the same way)."""
        cmd = [
            sys.executable, "-m", "stream_guard", "worker",
            "--web-port", str(self.web_port),
            "--stats-file", str(self.stats_path),
            "--data-dir", str(self.workdir / "data"),
        ]
        if self.rules is not None:
            cmd += ["--rules", str(self.rules)]
        if self.log_level is not None:
            cmd += ["--log-level", self.log_level]
        return cmd

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stats(self) -> dict[str, Any]:
        """The counters the worker last wrote ({} before the first write); kept in :attr:`last_stats`."""
        try:
            data = orjson.loads(self.stats_path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return {}
        if isinstance(data, dict):
            self.last_stats = data
        return data

    def poll(self) -> int | None:
        """The exit status, or None while it runs."""
        return self.proc.poll() if self.proc is not None else None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_for(self, predicate, timeout: float, what: str = "the worker") -> dict[str, Any]:
        """Poll the counters until ``predicate(stats)``; RuntimeError (with the log) if it dies or times out."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if s and predicate(s):
                return s
            if not self.alive():
                raise RuntimeError(f"{what} exited ({self.proc.returncode if self.proc else '?'}):\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: timed out after {timeout:g}s; last stats {s}\n{self.log_tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL, no goodbye: what a crash looks like."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        else:
            self.signal(signal.SIGKILL)  # children left in its group, if any
        return self.proc.returncode

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the worker's process group."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> WorkerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
