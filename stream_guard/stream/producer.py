"""Send a JSONL file of events to the input topics, keyed by user.

Each line goes as it is (its original bytes, without the line break) to the logins or the
transfers topic according to its ``type``, keyed by its ``user_id`` as plain UTF-8 bytes
(not JSON-quoted), and partitioned like Kafka's Java client and the worker do:
``murmur2(key) % partitions``. Lines that cannot be routed (not a JSON object, no
``type`` of login/transfer, no non-empty string ``user_id``) are counted and listed, not
sent; anything else is sent even if otherwise invalid: the worker dead-letters it with
its reason. ``produce`` is not a validator.

Speed: records go into one batch per partition (aiokafka's BatchBuilder) that is handed
over when full, which is several times faster than one ``send()`` per record. The file is
read by a thread, so that what has been read is sent within ~20 ms even when the next line
is slow to come (standard input fed by another program).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import murmur2

from stream_guard.core.errors import ConfigError, StreamGuardError
from stream_guard.settings import Settings

#: How many unroutable lines the stats list one by one (all are counted).
MAX_LISTED_SKIPPED = 50
#: Largest batch handed to the broker: below Kafka's default message.max.bytes (1 MiB).
MAX_BATCH_BYTES = 512 * 1024
#: Lines above this are not sent (Kafka's default limit for one record batch is ~1 MiB).
MAX_LINE_BYTES = 1_000_000
#: Partial batches are sent when the input pauses, and at least this often (seconds).
FLUSH_INTERVAL = 0.02
#: Lines read ahead of the sender at most (memory bound when Kafka is slower than the file).
READ_AHEAD = 50_000

_BOM = b"\xef\xbb\xbf"


class ProduceError(StreamGuardError):
    """Sending failed midway (the broker went away, or refused a batch).

    ``stats`` holds what was read until then; events before ``stats.lines`` may have been sent.
    """

    code = "produce-failed"

    def __init__(self, message: str, stats: ProduceStats):
        self.stats = stats
        super().__init__(message)


_TYPES = {"login", "transfer"}


@dataclass
class ProduceStats:
    lines: int = 0
    bytes: int = 0
    sent: dict[str, int] = field(default_factory=dict)
    skipped: int = 0
    skipped_lines: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        """Events sent, all topics together."""
        return sum(self.sent.values())

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def skip(self, line: int, reason: str) -> None:
        self.skipped += 1
        if len(self.skipped_lines) < MAX_LISTED_SKIPPED:
            self.skipped_lines.append((line, reason))

    def to_dict(self) -> dict:
        return {
            "lines": self.lines,
            "bytes": self.bytes,
            "sent": dict(self.sent),
            "events": self.events,
            "skipped": self.skipped,
            "skipped_lines": [{"line": n, "reason": r} for n, r in self.skipped_lines],
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
        }


def route(line: bytes) -> tuple[str, bytes] | str:
    """``(type, key)`` of a line, or the reason it cannot be routed.

    >>> route(b'{"type":"login","user_id":"u-1","ts":"bad"}')
    ('login', b'u-1')
    >>> route(b'{"type":"trade","user_id":"u-1"}')
    "type is 'trade', not login or transfer"
    """
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return f"not valid JSON ({str(exc).partition(':')[0]})"
    if not isinstance(obj, dict):
        return f"not a JSON object (a {type(obj).__name__})"
    kind = obj.get("type")
    if kind not in _TYPES:
        if kind is None:
            return "no type (login or transfer)"
        return f"type is {_short(kind)}, not login or transfer"
    user = obj.get("user_id")
    if not isinstance(user, str) or not user:
        return (
            "no user_id" if user is None else f"user_id is {_short(user)}, not a non-empty string"
        )
    return kind, user.encode()


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def produce_file(
    lines: Iterable[bytes],
    settings: Settings,
    *,
    progress: Callable[[int], None] | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
) -> ProduceStats:
    """Blocking :func:`produce_async` (not from inside a running event loop)."""
    return asyncio.run(
        produce_async(lines, settings, progress=progress, rate=rate, timeout=timeout)
    )


async def produce_async(
    lines: Iterable[bytes],
    settings: Settings,
    *,
    progress: Callable[[int], None] | None = None,
    rate: float | None = None,
    timeout: float = 10.0,
    linger_ms: int = 10,
) -> ProduceStats:
    """Send every routable line of ``lines`` to its input topic; return the stats.

    ``progress(bytes_read)`` is called every few thousand lines and at the end; ``rate``
    paces sending to about that many events per second (small bursts, ``asyncio.sleep``
    between). ``linger_ms`` is aiokafka's: the latency benchmark sends with 0, so that what
    it measures is the worker's latency, not the feeder's (with 0, a broker that dies midway
    was once seen to take 20 s to give up, hence 10 by default). The input topics must exist
    (``stream-guard topics create``): a broker that auto-creates topics would otherwise make
    them with its own partition count. Raises
    ConfigError when the broker cannot be reached or a topic is missing, ProduceError when
    sending fails midway, and what reading ``lines`` raises (OSError…).
    """
    if rate is not None and rate <= 0:
        raise ConfigError(f"rate must be positive, not {rate:g}")
    from stream_guard.stream.admin import partition_counts_async

    bootstrap = settings.bootstrap_servers
    topics = {"login": settings.logins_topic, "transfer": settings.transfers_topic}
    counts = await partition_counts_async(bootstrap, topics.values(), timeout=timeout)
    missing = [t for t, n in counts.items() if n is None]
    if missing:
        raise ConfigError(
            f"topic(s) {', '.join(missing)} do not exist on {settings.broker}: create them "
            f"first with `stream-guard topics create --broker {settings.broker}`",
            code="topic-missing",
        )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id="stream-guard-produce",
        acks=1,
        enable_idempotence=False,  # Tansu cannot; and ordering holds with one batch in flight
        linger_ms=linger_ms,
        max_batch_size=MAX_BATCH_BYTES,
        max_request_size=MAX_LINE_BYTES + 64 * 1024,
        request_timeout_ms=max(1000, int(timeout * 1000)),
    )
    try:
        await asyncio.wait_for(producer.start(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise ConfigError(f"cannot reach Kafka at {bootstrap}: {exc or 'timed out'}") from None
    try:
        sender = _Sender(producer, topics, {t: n for t, n in counts.items() if n})
        try:
            return await sender.run(lines, progress=progress, rate=rate)
        except KafkaError as exc:
            why = f"no answer within {timeout:g}s" if isinstance(exc, KafkaTimeoutError) else exc
            raise ProduceError(
                f"sending to Kafka at {bootstrap} failed at line {sender.stats.lines:,} ({why}); "
                "events of earlier lines may have been sent, later ones were not",
                sender.stats,
            ) from None
    finally:
        # Everything sent has been acknowledged by now (or the run failed): stopping has
        # nothing to wait for but batches a dead broker will never take, which aiokafka
        # would retry until each expires (seen taking 20 s). It gets the same timeout.
        with contextlib.suppress(KafkaError, TimeoutError):
            await asyncio.wait_for(producer.stop(), timeout)


class _Sender:
    def __init__(self, producer: AIOKafkaProducer, topics: dict[str, str], counts: dict[str, int]):
        self.producer = producer
        self.topics = topics
        self.counts = counts
        self.batches: dict[tuple[str, int], Any] = {}
        self.pending: list[asyncio.Future] = []
        self.partition_cache: dict[tuple[str, bytes], int] = {}
        self.stats = ProduceStats(sent=dict.fromkeys(topics.values(), 0))

    async def run(
        self,
        lines: Iterable[bytes],
        *,
        progress: Callable[[int], None] | None,
        rate: float | None,
    ) -> ProduceStats:
        stats = self.stats
        reader = _Reader(lines, asyncio.get_running_loop())
        reader.start()
        started = time.perf_counter()
        last_flush = time.monotonic()
        burst = max(1, int(rate * FLUSH_INTERVAL)) if rate else 0
        paced = 0
        nbytes = 0
        n = 0
        try:
            while True:
                line = reader.next_nowait()
                if line is None:
                    if reader.finished():
                        break
                    await self.flush()  # the input paused: send what we have
                    last_flush = time.monotonic()
                    await reader.wait()
                    continue
                n += 1
                nbytes += len(line)
                if progress is not None and n % 4096 == 0:
                    progress(nbytes)
                if line.endswith(b"\n"):
                    line = line[:-2] if line.endswith(b"\r\n") else line[:-1]
                if n == 1 and line.startswith(_BOM):
                    line = line[3:]  # a UTF-8 byte-order mark, as some Windows tools write
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_BYTES:
                    stats.skip(n, f"{len(line):,} bytes, over the {MAX_LINE_BYTES:,}-byte limit")
                    continue
                routed = route(line)
                if isinstance(routed, str):
                    stats.skip(n, routed)
                    continue
                kind, key = routed
                topic = self.topics[kind]
                full = self.add(topic, key, line)
                if full is not None:
                    await self.send(*full)
                stats.sent[topic] += 1
                if rate:
                    paced += 1
                    if paced % burst == 0:
                        await self.flush()
                        last_flush = time.monotonic()
                        ahead = paced / rate - (time.perf_counter() - started)
                        if ahead > 0:
                            await asyncio.sleep(ahead)
                elif n % 1024 == 0 and time.monotonic() - last_flush > FLUSH_INTERVAL:
                    await self.flush()
                    last_flush = time.monotonic()
            await self.flush()
            await self.drain()
        finally:
            reader.stop()
            self.abandon()
            stats.lines, stats.bytes = n, nbytes
            stats.seconds = time.perf_counter() - started
        reader.raise_error()
        if progress is not None:
            progress(nbytes)
        return stats

    def add(self, topic: str, key: bytes, value: bytes) -> tuple[tuple[str, int], Any] | None:
        """Put a record in its partition's batch; return a batch that is full, to send."""
        partition = self.partition_cache.get((topic, key))
        if partition is None:
            partition = (murmur2(key) & 0x7FFFFFFF) % self.counts[topic]  # Kafka's default
            if len(self.partition_cache) > 1_000_000:
                self.partition_cache.clear()
            self.partition_cache[(topic, key)] = partition
        tp = (topic, partition)
        batch = self.batches.get(tp)
        if batch is None:
            batch = self.batches[tp] = self.producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None) is not None:
            return None
        fresh = self.batches[tp] = self.producer.create_batch()
        fresh.append(key=key, value=value, timestamp=None)  # an empty batch takes any record
        return tp, batch

    async def send(self, tp: tuple[str, int], batch: Any) -> None:
        fut = await self.producer.send_batch(batch, tp[0], partition=tp[1])
        self.pending.append(fut)
        if len(self.pending) >= 256:
            await self.drain(keep=64)

    async def flush(self) -> None:
        batches, self.batches = self.batches, {}
        for tp, batch in batches.items():
            if batch.record_count():
                await self.send(tp, batch)

    def abandon(self) -> None:
        """After a failure: collect the other deliveries' outcomes, so asyncio does not log them."""
        for fut in self.pending:
            if fut.done():
                if not fut.cancelled():
                    fut.exception()
            else:
                fut.add_done_callback(_consume_outcome)
        self.pending = []

    async def drain(self, keep: int = 0) -> None:
        """Wait for the oldest deliveries (all when ``keep`` is 0); raise the first failure."""
        cut = max(0, len(self.pending) - keep)
        done, self.pending = self.pending[:cut], self.pending[cut:]
        for fut in done:
            await fut


def _consume_outcome(fut: asyncio.Future) -> None:
    if not fut.cancelled():
        fut.exception()


class _Reader(threading.Thread):
    """Reads ``lines`` ahead of the sender; wakes it up when it waits for a line."""

    def __init__(self, lines: Iterable[bytes], loop: asyncio.AbstractEventLoop):
        super().__init__(name="stream-guard-produce-reader", daemon=True)
        self.lines = lines
        self.loop = loop
        self.queue: collections.deque[bytes] = collections.deque()
        self.done = False
        self.error: BaseException | None = None
        self.stopping = False
        self.waiting = False
        self.wakeup = asyncio.Event()
        self.room = threading.Event()

    def run(self) -> None:
        queue, room = self.queue, self.room
        try:
            for line in self.lines:
                queue.append(line)
                if self.waiting:
                    self._wake()
                if len(queue) >= READ_AHEAD:
                    room.clear()
                    while len(queue) >= READ_AHEAD // 2 and not self.stopping:
                        room.wait(0.1)
                        room.clear()
                if self.stopping:
                    return
        except BaseException as exc:  # an unreadable file: reported by the sender
            self.error = exc
        finally:
            self.done = True
            self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(self.wakeup.set)

    def next_nowait(self) -> bytes | None:
        try:
            line = self.queue.popleft()
        except IndexError:
            return None
        if len(self.queue) < READ_AHEAD // 2 and not self.room.is_set():
            self.room.set()
        return line

    def finished(self) -> bool:
        return self.done and not self.queue

    async def wait(self) -> None:
        self.wakeup.clear()
        self.waiting = True
        try:
            if self.queue or self.done:  # it came while we were getting ready to wait
                return
            await self.wakeup.wait()
        finally:
            self.waiting = False

    def stop(self) -> None:
        self.stopping = True
        self.room.set()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error
