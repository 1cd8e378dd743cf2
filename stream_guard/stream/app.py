"""The Faust application: agents, tables and topics around the pure :mod:`.engine`.

- ``detect`` consumes ``logins`` and ``transfers`` (co-partitioned by user id) in batches,
  merges them in event time, runs the detector and publishes decisions, dead letters and
  the contributions to rules keyed by something else than the user (``group_topic``,
  keyed by that value, so Kafka repartitions them).
- ``groups`` consumes those contributions and keeps the windows of each key (an IP, an
  address) in its own table.
- ``users`` / ``group_keys`` are changelog-backed tables (memory or RocksDB); each changed
  key is written once per flush, not once per event, and the messages are acknowledged only
  after the state that includes them is written.
- ``follow_rules`` reads the compacted rules topic outside the consumer group (every worker
  reads all of it) and the agents swap to a newly published rule set between two batches,
  without a restart. (A Faust GlobalTable would do, but Faust insists on naming its
  changelog topic ``<app id>-<table>-changelog``, and the topic's name is an interface.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Iterator
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.streams import _current_event
from faust.types import TP

from stream_guard.core.detector import Detector
from stream_guard.core.errors import ConfigError, RuleSetError
from stream_guard.core.rules.pack import RuleSet
from stream_guard.settings import Settings
from stream_guard.stream import rulesync
from stream_guard.stream.consumer import Consumer, ConsumerThread
from stream_guard.stream.engine import (
    WATERMARK_KEY,
    GroupEngine,
    Incoming,
    KeyedStore,
    OffsetGuard,
    UserEngine,
    encode_watermark,
)
from stream_guard.stream.gcpolicy import GcPolicy
from stream_guard.stream.publish import rule_set_messages

log = logging.getLogger("stream_guard.worker")

#: Written after each flush of a changelog partition, alone in its record batch. Tansu answers
#: ListOffsets "latest" with the first offset of the log's last batch + 1, so Faust's recovery
#: reads only the first record of the last batch; with this marker last, that record is the
#: marker and nothing of value is skipped (on Apache Kafka it is merely one small record).
END_MARKER = b"\x00stream-guard-flush"
#: Largest producer record batch per partition (below the 1 MB request and broker limits).
PRODUCER_BATCH_BYTES = 512 * 1024
RAW = {"key_serializer": "raw", "value_serializer": "raw"}
#: Seconds between watermarks to the group partitions while events flow: the longest a
#: contribution to a rule keyed by IP waits for the slowest source partition to catch up.
WATERMARK_EVERY = 0.25
#: ... and when nothing changed, only this often (new group partitions' owners learn them).
WATERMARK_HEARTBEAT = 5.0


@contextlib.contextmanager
def as_current(event: Any) -> Iterator[None]:
    """Make ``event`` Faust's current event: tables pick the changelog partition from it.

    Faust sets it only while an agent iterates one event at a time; writes made for a whole
    batch (``take``) or from a timer need it set explicitly.
    """
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class Worker:
    """Everything one worker process holds: the Faust app, its engines and counters."""

    def __init__(
        self,
        settings: Settings,
        *,
        partitions: int,
        rules: RuleSet,
        rules_source: str,
        published: rulesync.PublishedRules | None = None,
    ):
        """``published``: the rule set ``rules`` was loaded from, if it came from the rules topic."""
        self.settings = settings
        self.partitions = partitions
        self.rules_source = rules_source
        self.rules_version = published.version if published else None
        self.rules_checksum = published.checksum if published else None
        self.rejected_checksum: str | None = None
        self.rule_errors = 0
        self.lock = asyncio.Lock()
        self.app = app = faust.App(
            settings.app_id,
            broker=settings.broker,
            store="rocksdb://" if settings.store == "rocksdb" else "memory://",
            datadir=str(settings.data_dir),
            topic_partitions=partitions,
            topic_replication_factor=settings.replication_factor,
            web_port=settings.web_port,
            web_enabled=False,
            broker_session_timeout=settings.session_timeout,
            broker_rebalance_timeout=settings.session_timeout,
            broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
            consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
            table_standby_replicas=0,
            key_serializer="raw",
            value_serializer="raw",
            producer_linger_ms=5,
            # A flush writes thousands of states at once; with Faust's 16 KB batches the
            # producer waited for a drain every dozen records (py-spy: MessageBatch.wait_drain).
            producer_max_batch_size=PRODUCER_BATCH_BYTES,
        )
        ConsumerThread.fetch_max_wait_ms = int(settings.fetch_max_wait * 1000)
        app.transport.Consumer = Consumer
        self.source = app.topic(settings.logins_topic, settings.transfers_topic, **RAW)
        self.group_topic = app.topic(settings.group_topic, partitions=partitions, **RAW)
        # keys and values are bytes; the app's default serializers are raw
        self.users = app.Table("users", partitions=partitions, key_type=bytes, value_type=bytes)
        self.group_keys = app.Table("group-keys", partitions=partitions, key_type=bytes, value_type=bytes)
        self.published: bytes | None = None  # the newest message on the rules topic
        self._seen: bytes | None = None
        detector = self._detector(rules)
        self.user_engine = UserEngine(
            detector,
            topics=settings.input_topics,
            load=lambda uid: self.users.get(uid.encode()),
            partition_for=lambda key: (murmur2(key) & 0x7FFFFFFF) % partitions,  # Kafka's default partitioner
            hold=settings.merge_hold,
            max_hold=settings.merge_max_hold,
        )
        self.group_engine = GroupEngine(
            detector, sources=partitions, load=self.group_keys.get, max_hold=settings.merge_max_hold
        )
        self._watermarks_sent = 0.0
        self._marks_sent: dict[int, tuple[tuple[float, bool], float]] = {}  # source -> (mark, when)
        self._stream: dict[str, Any] = {}
        self._last_event: dict[tuple[str, int], Any] = {}
        self.guard = OffsetGuard()
        self._last_flush: dict[tuple[str, int], float] = {}
        self._inflight: list[asyncio.Future] = []  # records sent, not yet known to be written
        self.first_event_at: float | None = None  # wall time of the first and last batch
        self.last_event_at: float | None = None
        self.gc = GcPolicy(settings.gc_interval)
        self._register()

    def _detector(self, rules: RuleSet) -> Detector:
        return Detector(rules, lateness=self.settings.lateness_seconds)

    # -- agents -------------------------------------------------------------------------
    def _register(self) -> None:
        app = self.app
        s = self.settings

        @app.task
        async def follow_rules() -> None:
            await self._follow_rules_topic()

        @app.agent(self.source, name="stream_guard.detect")
        async def detect(stream: Any) -> None:
            self._stream["users"] = stream
            async for events in stream.noack_take(s.batch_size, within=s.batch_wait):
                async with self.lock:
                    self._follow_rules()
                    now = time.time()
                    engine = self.user_engine
                    if self.first_event_at is None:
                        self.first_event_at = now
                    self.last_event_at = now
                    for p in self._take("users", engine, events, now):
                        engine.release(p, now, self._caught_up)
                    await self._publish(engine.out)
                    if now - self._watermarks_sent >= WATERMARK_EVERY:
                        await self._send_watermarks(now)
                    await self._flush_due("users", engine.store, self.users, now)

        @app.agent(self.group_topic, name="stream_guard.groups")
        async def groups(stream: Any) -> None:
            self._stream["groups"] = stream
            async for events in stream.noack_take(s.batch_size, within=s.batch_wait):
                async with self.lock:
                    engine = self.group_engine
                    now = time.time()
                    self._take("groups", engine, events, now)
                    engine.release(now)
                    await self._publish(engine.out)
                    await self._flush_due("groups", engine.store, self.group_keys, now)

        @app.task
        async def freeze_setup() -> None:  # once the worker is set up and recovered
            self.gc.start()

        @app.timer(interval=min(0.5, s.flush_interval, max(s.merge_hold, 0.05)))
        async def tick() -> None:
            if self.lock.locked():
                return  # an agent is busy: it releases and flushes as it goes
            if self.gc.due():
                took = self.gc.collect()
                log.info("stream-guard: full garbage collection took %.0f ms", took * 1000)
            async with self.lock:
                self._follow_rules()
                now = time.time()
                engine = self.user_engine
                for p in engine.merger.partitions():
                    engine.release(p, now, self._caught_up)
                await self._publish(engine.out)
                await self._send_watermarks(now)
                self.group_engine.release(now)
                await self._publish(self.group_engine.out)
                await self._flush_due("users", engine.store, self.users, now)
                await self._flush_due("groups", self.group_engine.store, self.group_keys, now)

        @app.timer(interval=30.0)
        async def report() -> None:
            log.info("stream-guard worker: %s", self.status())

        if s.stats_file is not None:
            stats_file = s.stats_file

            @app.timer(interval=1.0)
            async def write_stats() -> None:
                tmp = stats_file.with_name(stats_file.name + ".tmp")
                tmp.write_bytes(orjson.dumps(self.status()))
                tmp.replace(stats_file)  # readers never see half a file

        app.on_partitions_revoked.connect(self._on_revoked)

    async def _on_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        async with self.lock:
            user_parts = {tp.partition for tp in revoked if tp.topic in self.settings.input_topics}
            group_parts = {tp.partition for tp in revoked if tp.topic == self.settings.group_topic}
            held = sum(len(self.user_engine.merger.drop(p)) for p in user_parts)
            for p in user_parts:
                self._last_event.pop(("users", p), None)
            if not revoked:
                return
            log.warning(
                "stream-guard: partitions revoked %s: %d held events and %d unflushed messages dropped (redelivered to the next owner)",
                sorted(f"{tp.topic}-{tp.partition}" for tp in revoked), held,
                sum(self.user_engine.store.waiting(p) for p in user_parts),
            )
            self.user_engine.store.drop_partitions(user_parts)
            self.group_engine.drop_partitions(group_parts)
            self.guard.forget((tp.topic, tp.partition) for tp in revoked)
            for p in group_parts:
                self._last_event.pop(("groups", p), None)

    # -- helpers ------------------------------------------------------------------------
    def _take(self, name: str, engine: Any, events: Any, now: float) -> set[int]:
        """Hand a batch to ``engine`` (the messages in sequence); the partitions it touched."""
        parts = set()
        for ev in events:
            m = ev.message
            if self._in_sequence(m):
                engine.accept(Incoming(m.topic, m.partition, m.offset, m.key, m.value, ev), now)
                self._last_event[(name, m.partition)] = ev
                parts.add(m.partition)
        return parts

    def _in_sequence(self, m: Any) -> bool:
        """Whether to take this message (see OffsetGuard)."""
        guard = self.guard
        gaps = guard.gaps
        key = (m.topic, m.partition)
        # where the group resumed: asked once per partition, not on the hot path
        start = None if key in guard.expected else self.app.consumer._committed_offset.get(m.tp)
        verdict = guard.check(key, m.offset, start=start)
        if guard.gaps != gaps:
            _, expected, got = guard.last_gap
            log.error(
                "stream-guard: %s-%s: the consumer skipped offsets %d to %d (not processed)",
                m.topic, m.partition, expected, got - 1,
            )
        return verdict == OffsetGuard.TAKE

    async def _send_watermarks(self, now: float) -> None:
        """Tell every group-items partition how far in event time each of this worker's
        source partitions has got (see GroupEngine)."""
        self._watermarks_sent = now
        self._inflight = [f for f in self._inflight if not f.done()]
        engine = self.user_engine
        inputs = self.settings.input_topics
        sources = {tp.partition for tp in self.app.consumer.assignment() if tp.topic in inputs}
        for p in sorted(sources):
            idle = engine.merger.held(p) == 0 and all(self._caught_up(t, p) is True for t in inputs)
            mark = (engine.released_t.get(p, 0.0), idle)
            sent = self._marks_sent.get(p)
            if sent is not None and sent[0] == mark and now - sent[1] < WATERMARK_HEARTBEAT:
                continue  # nothing new to say (a quiet system sends one every few seconds)
            self._marks_sent[p] = (mark, now)
            value = encode_watermark(p, *mark)
            for g in range(self.partitions):
                self._inflight.append(await self._send(self.settings.group_topic, WATERMARK_KEY, value, g))

    def _caught_up(self, topic: str, partition: int) -> bool | None:
        """Whether ``topic``'s ``partition`` has nothing more to give now (see Merger):
        True, False (more is in the log) or None (no fetch answer yet)."""
        consumer = self.app.consumer
        tp = TP(topic, partition)
        hw = consumer.highwater(tp)
        if hw is None:
            return None
        last = self.user_engine.last_offset.get((topic, partition))
        if last is None:  # nothing read from it since this worker got the partition
            committed = consumer._committed_offset.get(tp)
            if hw == 0 or (committed is not None and committed + 1 >= hw):
                return True
            return False if committed is not None or hw > 0 else None
        return last + 1 >= hw

    async def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None = None) -> asyncio.Future:
        """Hand a record to the Kafka producer; the future resolves once the broker has it.

        Straight to aiokafka rather than Faust's ``send_soon`` buffer: Faust's
        ``producer.flush()`` gives up on that buffer after 0.1 s, so it cannot tell us when a
        record is safely written — and acknowledging a message before the records it caused
        are written is how a crash loses them.
        """
        return await self.app.producer.send(topic, key, value, partition, None, None)

    async def _publish(self, out: Any) -> None:
        if not out:
            return
        s = self.settings
        inflight = self._inflight
        for d in out.decisions:
            inflight.append(await self._send(s.decisions_topic, d.user_id.encode(), d.to_json()))
        for env, key in out.dead_letters:
            inflight.append(await self._send(s.dead_letter_topic, key, env))
        for key, value in out.group_items:
            inflight.append(await self._send(s.group_topic, key, value))
        for topic, partition, key, value in out.reroutes:
            inflight.append(await self._send(topic, key, value, partition))
        out.clear()

    async def _flush_due(self, name: str, store: KeyedStore, table: Any, now: float) -> None:
        s = self.settings
        for p in list(store.pending):
            waiting = store.waiting(p)
            last = self._last_flush.setdefault((name, p), now)
            if waiting and (waiting >= s.flush_events or now - last >= s.flush_interval):
                await self._flush(name, store, table, p)
                self._last_flush[(name, p)] = now

    async def _flush(self, name: str, store: KeyedStore, table: Any, partition: int) -> None:
        """Write a partition's changed keys, then acknowledge the messages they include.

        Order matters for what a crash can lose: (1) the outputs of those messages
        (decisions, …) are written first, so a state that says "done" implies its decisions
        are out; (2) the states go to the changelog and the local store; (3) an end marker
        goes alone in the changelog's last record batch (see :data:`END_MARKER`); (4) only
        then are the messages acknowledged, hence committed.
        """
        event = self._last_event.get((name, partition))
        stream = self._stream.get(name)
        if event is None or stream is None:
            return
        writes, acks = store.flush(partition)
        if self._inflight:
            await asyncio.gather(*self._inflight)
            self._inflight.clear()
        if writes:
            changelog = table.changelog_topic.get_topic_name()
            with as_current(event):  # RocksDB picks its per-partition database from it
                for key, value in writes:
                    table.data[key if isinstance(key, bytes) else key.encode()] = value
            sent = [
                await self._send(changelog, key if isinstance(key, bytes) else key.encode(), value, partition)
                for key, value in writes
            ]
            await asyncio.gather(*sent)
            meta = await (await self._send(changelog, END_MARKER, b"", partition))
            table.data.set_persisted_offset(TP(changelog, partition), meta.offset)
        for handle in acks:
            await stream.ack(handle)

    async def _follow_rules_topic(self) -> None:
        """Keep :attr:`published` at the newest rule set on the rules topic, all worker long."""
        try:
            async for value in rule_set_messages(self.settings, follow=True):
                self.published = value
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stream-guard: cannot follow the rules topic %s", self.settings.rules_topic)

    def _follow_rules(self) -> None:
        """Swap to the published rule set if it changed (between two batches)."""
        raw = self.published
        if raw is None or raw is self._seen:
            return
        self._seen = raw
        try:
            published = rulesync.unpack(raw)
        except ConfigError as exc:
            self._reject(None, str(exc))
            return
        if published.checksum in (self.rules_checksum, self.rejected_checksum):
            return
        try:
            rules = published.load()
        except RuleSetError as exc:
            detail = "; ".join(e.render() for e in exc.errors[:5])
            self._reject(published.checksum, f"rule set version {published.version} is invalid: {detail}")
            return
        detector = self._detector(rules)
        self.user_engine.set_detector(detector)
        self.group_engine.set_detector(detector)
        self.rules_version, self.rules_checksum = published.version, published.checksum
        self.rules_source = f"published version {published.version}"
        log.warning(
            "stream-guard: now running rule set version %s (%s, %d rules)",
            published.version, published.checksum[:19], len(rules.rules),
        )

    def _reject(self, checksum: str | None, message: str) -> None:
        if checksum is not None and checksum == self.rejected_checksum:
            return
        self.rejected_checksum = checksum
        self.rule_errors += 1
        log.error("stream-guard: keeping the current rules: %s", message)

    def status(self) -> dict[str, Any]:
        u, g = self.user_engine.count, self.group_engine.count
        return {
            "events": u.events,
            "decisions": u.decisions + g.decisions,
            "dead_lettered": u.invalid,
            "late": u.late,
            "redelivered": u.duplicates + g.duplicates,
            "rerouted": u.rerouted,
            "held": self.user_engine.merger.held(),
            "group_items_held": self.group_engine.held(),
            "state_writes": self.user_engine.store.writes + self.group_engine.store.writes,
            "rules": self.rules_source,
            "rules_version": self.rules_version,
            "rule_set_errors": self.rule_errors,
            "offset_gaps": self.guard.gaps,
            "offsets_skipped": self.guard.skipped,
            **self.gc.stats(),
            "first_event_at": self.first_event_at,
            "last_event_at": self.last_event_at,
            "written_at": time.time(),
        }
