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
from stream_guard.core.models import ModelRegistry, ModelScorer
from stream_guard.core.rules.pack import RuleSet
from stream_guard.metrics import WorkerCounts, registry_for, worker_metrics
from stream_guard.replay import build_detector
from stream_guard.settings import Settings
from stream_guard.stream import rulesync
from stream_guard.stream.consumer import Consumer, ConsumerThread, FlowControl
from stream_guard.stream.engine import (
    Incoming,
    KeyedStore,
    OffsetGuard,
    UserEngine,
)
from stream_guard.stream.gcpolicy import GcPolicy
from stream_guard.stream.groups import BATCH_KEY, GroupEngine, GroupOutbox
from stream_guard.stream.monitor import QuietMonitor
from stream_guard.stream.publish import rule_set_messages
from stream_guard.stream.web import WEB_SETTINGS, add_pages, add_status_timers, group_state

log = logging.getLogger("stream_guard.worker")

#: Written after each flush of a changelog partition, alone in its record batch. Tansu answers
#: ListOffsets "latest" with the first offset of the log's last batch + 1, so Faust's recovery
#: reads only the first record of the last batch; with this marker last, that record is the
#: marker and nothing of value is skipped (on Apache Kafka it is merely one small record).
END_MARKER = b"\x00stream-guard-flush"
#: Largest producer record batch per partition (below the 1 MB request and broker limits).
PRODUCER_BATCH_BYTES = 512 * 1024
RAW = {"key_serializer": "raw", "value_serializer": "raw"}


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
        models: ModelRegistry | None = None,
    ):
        """``published``: the rule set ``rules`` was loaded from, if it came from the rules topic;
        ``models``: the anomaly models to score with (their names are what rules may read)."""
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
            **WEB_SETTINGS,
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
            Monitor=QuietMonitor,  # Faust's statistics per message: ~9% of a loaded worker's CPU
        )
        ConsumerThread.fetch_max_wait_ms = int(settings.fetch_max_wait * 1000)
        app.transport.Consumer = Consumer
        app.flow_control = FlowControl()
        self.source = app.topic(settings.logins_topic, settings.transfers_topic, **RAW)
        self.group_topic = app.topic(settings.group_topic, partitions=partitions, **RAW)
        # keys and values are bytes; the app's default serializers are raw
        self.users = app.Table("users", partitions=partitions, key_type=bytes, value_type=bytes)
        self.group_keys = app.Table("group-keys", partitions=partitions, key_type=bytes, value_type=bytes)
        # population models' checkpoints, "<model>:<partition>" -> state, written with the
        # partition's user states (each worker learns from its own partitions)
        self.model_table = app.Table("models", partitions=partitions, key_type=bytes, value_type=bytes)
        self.models = models or ModelRegistry()
        self.scorer = ModelScorer(
            self.models, shard_of=lambda uid: (murmur2(uid.encode()) & 0x7FFFFFFF) % partitions,
            load=self._checkpoint_of,
        ) if self.models else None
        self.published: bytes | None = None  # the newest message on the rules topic
        self._seen: bytes | None = None
        detector = self._detector(rules)
        self.user_engine = UserEngine(
            detector,
            topics=settings.input_topics,
            load=lambda uid: self._stored("users", uid.encode()),
            partition_for=lambda key: (murmur2(key) & 0x7FFFFFFF) % partitions,  # Kafka's default partitioner
            hold=settings.merge_hold,
            max_hold=settings.merge_max_hold,
        )
        self.group_engine = GroupEngine(
            detector, sources=partitions, load=lambda key: self._stored("groups", key),
            max_hold=settings.merge_max_hold,
        )
        self.outbox = GroupOutbox(partitions, partition_for=lambda key: (murmur2(key) & 0x7FFFFFFF) % partitions)
        self._stream: dict[str, Any] = {}
        self._last_event: dict[tuple[str, int], Any] = {}
        self.guard = OffsetGuard()
        self._last_flush: dict[tuple[str, int], float] = {}
        self._tables = {"users": self.users, "groups": self.group_keys}
        # States a flush has taken but not yet written to its table: what a key reads back
        # if the store evicts it meanwhile.
        self._unwritten: dict[str, dict[bytes, bytes]] = {"users": {}, "groups": {}}
        self._flushing: dict[tuple[str, int], asyncio.Task] = {}  # the flush writing, per partition
        self._inflight: list[asyncio.Future] = []  # records sent, not yet known to be written
        self._local: set[int] = set()  # group partitions whose records fold as they are sent
        self._sent_remote: dict[int, asyncio.Future] = {}  # group partition -> its last record sent the slow way
        self.first_event_at: float | None = None  # wall time of the first and last batch
        self.last_event_at: float | None = None
        self.gc = GcPolicy(settings.gc_interval)
        self.counts = WorkerCounts()
        self.registry = registry_for(lambda: worker_metrics(self))
        add_pages(app, self.registry, self._ready)
        self._register()

    def _detector(self, rules: RuleSet) -> Detector:
        # one scorer for every rule set: a rule swap keeps what the models have learnt
        return build_detector(rules, scorer=self.scorer, lateness=self.settings.lateness_seconds)

    def _checkpoint_of(self, model: str, partition: int) -> list[Any] | None:
        raw = self.model_table.get(f"{model}:{partition}".encode())
        return orjson.loads(raw) if raw else None

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
                    started = time.perf_counter()
                    n = 0
                    for p in self._take("users", engine, events, now):
                        n += self._release(p, now)
                    if n:
                        self.counts.processing.observe((time.perf_counter() - started) / n, n)
                    await self._publish(engine.out)
                    await self._send_group_items(now)
                    if self.group_engine.release(now):
                        await self._publish(self.group_engine.out)
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
                    self._release(p, now)
                await self._publish(engine.out)
                await self._send_group_items(now)
                self.group_engine.release(now)
                await self._publish(self.group_engine.out)
                await self._flush_due("users", engine.store, self.users, now)
                await self._flush_due("groups", self.group_engine.store, self.group_keys, now)

        add_status_timers(app, self.status, s.stats_file, log, "stream-guard worker")

        app.on_partitions_revoked.connect(self._on_revoked)

    async def _on_revoked(self, sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        async with self.lock:
            await self._flushed(revoked)
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
            if self.scorer is not None:
                self.scorer.drop_shards(user_parts)
            self.outbox.drop_sources(user_parts)
            self.group_engine.drop_partitions(group_parts)
            self.guard.forget((tp.topic, tp.partition) for tp in revoked)
            for p in group_parts:
                self._last_event.pop(("groups", p), None)
            self._local -= group_parts

    # -- helpers ------------------------------------------------------------------------
    def _release(self, partition: int, now: float) -> int:
        """Evaluate what the event-time merge lets go in ``partition``; how many events."""
        engine = self.user_engine
        n = engine.release(partition, now, self._caught_up)
        if n:
            self.counts.lag.observe(now - engine.released_t[partition], n)
        return n

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

    async def _send_group_items(self, now: float, *, force: tuple[int, ...] = ()) -> None:
        """Send the items bound for the group partitions with this worker's watermarks: how
        far in event time each of its source partitions has got (see :mod:`.groups`)."""
        self._inflight = [f for f in self._inflight if not f.done()]
        engine = self.user_engine
        inputs = self.settings.input_topics
        marks = {}
        owned = set()  # group partitions this worker folds: records go to them at once too
        for tp in self.app.consumer.assignment():
            p = tp.partition
            if tp.topic == inputs[0]:
                idle = engine.merger.held(p) == 0 and all(self._caught_up(t, p) is True for t in inputs)
                marks[p] = (engine.released_t.get(p, 0.0), idle)
            elif tp.topic == self.settings.group_topic:
                owned.add(p)
        local = [g for g in sorted(owned) if self._folds_locally(g)]
        for g in local:  # fold at once what is bound for partitions this worker owns
            for source, mark in marks.items():
                self.group_engine.fold_local(g, source, mark, self.outbox.take_unfed(source, g), now)
        for g, value in self.outbox.drain(marks, now, force=force):
            sent = await self._send(self.settings.group_topic, BATCH_KEY, value, g)
            self._inflight.append(sent)
            if g in local:
                self.group_engine.expect_echo(g, value)
            else:
                self._sent_remote[g] = sent

    def _folds_locally(self, g: int) -> bool:
        """Whether records for group partition ``g`` (owned) may be folded as they are sent.

        Only once the partition's consumer has read everything that was in it before — what
        an earlier owner or this worker sent the slow way — or an old record could come after
        newer local ones and fold out of event-time order. Latched until ``g`` is revoked.
        """
        if g in self._local:
            return True
        topic = self.settings.group_topic
        expected = self.guard.expected.get((topic, g))  # the next offset the agent will read
        hw = self.app.consumer.highwater(TP(topic, g))
        if expected is None or hw is None or expected < hw:
            return False
        sent = self._sent_remote.get(g)
        if sent is not None and not (sent.done() and not sent.exception() and sent.result().offset < expected):
            return False
        self._local.add(g)
        return True

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
        self.counts.decided(out.decisions)
        for d in out.decisions:
            inflight.append(await self._send(s.decisions_topic, d.user_id.encode(), d.to_json()))
        for env, key in out.dead_letters:
            inflight.append(await self._send(s.dead_letter_topic, key, env))
        for source, item in out.group_items:
            self.outbox.add(source, item)
        for topic, partition, key, value in out.reroutes:
            inflight.append(await self._send(topic, key, value, partition))
        out.clear()

    def _stored(self, name: str, key: bytes) -> bytes | None:
        value = self._unwritten[name].get(key)
        return value if value is not None else self._tables[name].get(key)

    async def _flush_due(self, name: str, store: KeyedStore, table: Any, now: float) -> None:
        """Flush the partitions that are due: full ones (``flush_events``) at once, the others
        (``flush_interval``) one per call, the longest waiting first — encoding a flush's
        states takes the agent ~10 ms, and partitions started together would otherwise all
        fall due in the same batch, every time."""
        s = self.settings
        timed = None
        for p in list(store.pending):
            waiting = store.waiting(p)
            last = self._last_flush.setdefault((name, p), now)
            if not waiting:
                continue
            if waiting >= s.flush_events:
                await self._flush_partition(name, store, table, p, now)
            elif now - last >= s.flush_interval and (timed is None or last < timed[1]):
                timed = (p, last)
        if timed is not None:
            await self._flush_partition(name, store, table, timed[0], now)

    async def _flush_partition(self, name: str, store: KeyedStore, table: Any, p: int, now: float) -> None:
        writing = self._flushing.get((name, p))
        if writing is not None and not writing.done():
            if store.waiting(p) < 2 * self.settings.flush_events:
                return  # the previous flush is still being written: take more first
            await asyncio.shield(writing)  # the broker is slow: wait for it
        if name == "users":  # the items of the events this flush includes go out first
            await self._send_group_items(now, force=(p,))
        self._flush(name, store, table, p)
        self._last_flush[(name, p)] = now

    def _flush(self, name: str, store: KeyedStore, table: Any, partition: int) -> None:
        """Take a partition's changed keys and pending messages, and write them in the background.

        The states are encoded now (the store may change them from the next event on); the
        writing runs as a task (:meth:`_write`), so the agent goes on with the next batch
        instead of waiting for the broker's acknowledgements, at most one per partition.
        """
        event = self._last_event.get((name, partition))
        stream = self._stream.get(name)
        if event is None or stream is None:
            return
        writes, acks = store.flush(partition)
        writes = [(k if isinstance(k, bytes) else k.encode(), v) for k, v in writes]
        self._unwritten[name].update(writes)
        tables = [(table, writes)]
        if name == "users" and self.scorer is not None and partition in self.scorer.dirty:
            # What the models learnt up to these states, written before them: a crash between
            # the two makes a restarted worker learn that flush's events again (harmless in a
            # window of hundreds), where the other order would lose them for good.
            checkpoint = self.scorer.checkpoint(partition)
            tables.insert(0, (self.model_table, [(f"{m}:{partition}".encode(), orjson.dumps(s)) for m, s in checkpoint.items()]))
        outputs, self._inflight = self._inflight, []
        task = asyncio.ensure_future(self._write(name, tables, partition, acks, outputs, event, stream))
        task.add_done_callback(self._written)
        self._flushing[(name, partition)] = task

    async def _write(
        self, name: str, tables: list[tuple[Any, list[tuple[bytes, bytes]]]], partition: int,
        acks: list[Any], outputs: list[asyncio.Future], event: Any, stream: Any,
    ) -> None:
        """Write a flush's states, then acknowledge the messages they include.

        Order matters for what a crash can lose: (1) the outputs of those messages
        (decisions, …) are written first, so a state that says "done" implies its decisions
        are out; (2) the states go to the local store and the changelog; (3) an end marker
        goes alone in the changelog's last record batch (see :data:`END_MARKER`); (4) only
        then are the messages acknowledged, hence committed.
        """
        started = time.perf_counter()
        if outputs:
            await asyncio.gather(*outputs)
        unwritten = self._unwritten[name]
        for table, writes in tables:  # the models' checkpoint, then the states that go with it
            if not writes:
                continue
            with as_current(event):  # RocksDB picks its per-partition database from it
                for key, value in writes:
                    table.data[key] = value
                    if unwritten.get(key) is value:
                        del unwritten[key]
            changelog = table.changelog_topic.get_topic_name()
            sent = [await self._send(changelog, key, value, partition) for key, value in writes]
            await asyncio.gather(*sent)
            meta = await (await self._send(changelog, END_MARKER, b"", partition))
            table.data.set_persisted_offset(TP(changelog, partition), meta.offset)
        for handle in acks:
            await stream.ack(handle)
        self.counts.flush[name].observe(time.perf_counter() - started)

    def _written(self, task: asyncio.Task) -> None:
        if task.cancelled() or task.exception() is None:
            return
        # Nothing of this flush is acknowledged, so nothing is lost; but this worker can no
        # longer tell what is written: stop, and let the next start recover from the changelog.
        exc = task.exception()
        self.counts.broker_error("state_write")
        log.error("stream-guard: writing state failed; stopping the worker", exc_info=exc)
        self._crash = asyncio.ensure_future(self.app.crash(exc))

    async def _flushed(self, tps: set[TP]) -> None:
        """Wait for the flushes of these partitions that are still being written."""
        inputs = self.settings.input_topics
        names = {("users" if tp.topic in inputs else "groups", tp.partition) for tp in tps}
        writing = [t for k, t in self._flushing.items() if k in names and not t.done()]
        if writing:
            await asyncio.wait(writing, timeout=self.settings.session_timeout)

    async def _follow_rules_topic(self) -> None:
        """Keep :attr:`published` at the newest rule set on the rules topic, all worker long."""
        try:
            async for value in rule_set_messages(self.settings, follow=True):
                self.published = value
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counts.broker_error("rules_topic")
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
            rules = published.load(self.models.names)
        except RuleSetError as exc:
            detail = "; ".join(e.render() for e in exc.errors[:5])
            self._reject(published.checksum, f"rule set version {published.version} is invalid: {detail}")
            return
        detector = self._detector(rules)
        before = self.counts.evaluated_before
        for rule_id, n in self.user_engine.detector.evaluations().items():
            before[rule_id] = before.get(rule_id, 0) + n
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

    def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Messages not yet read per assigned partition of the inputs and the group topic."""
        consumer = self.app.consumer
        expected = self.guard.expected  # (topic, partition) -> the next offset to read
        topics = {*self.settings.input_topics, self.settings.group_topic}
        out = {}
        for tp in consumer.assignment():
            if tp.topic not in topics:
                continue  # the tables' changelogs: read at recovery only
            hw = consumer.highwater(tp)
            if hw is None:
                continue
            nxt = expected.get((tp.topic, tp.partition))
            if nxt is None:  # nothing read since the assignment: from where the group resumes
                committed = consumer._committed_offset.get(tp)
                nxt = committed + 1 if committed is not None else 0
            out[(tp.topic, tp.partition)] = max(hw - nxt, 0)
        return out

    def assigned_counts(self, stream_of: dict[str, str]) -> dict[tuple[str], int]:
        counts = dict.fromkeys(((v,) for v in stream_of.values()), 0)
        for tp in self.app.consumer.assignment():
            name = stream_of.get(tp.topic)
            if name is not None:
                counts[(name,)] += 1
        return counts

    async def _ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready: in the group, not rebalancing, the tables recovered."""
        state = group_state(self.app)
        parts = sorted(f"{tp.topic}-{tp.partition}" for tp in self.app.consumer.assignment()) if state == "ready" else []
        return state == "ready", {"state": state, "partitions": parts, "rules_version": self.rules_version}

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
            "group_records_echoed": self.group_engine.echoes,
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
