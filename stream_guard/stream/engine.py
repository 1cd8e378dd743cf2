"""What a worker does with the messages of its partitions — without Faust, so it can be tested alone.

The Faust shell (:mod:`stream_guard.stream.app`) hands every message it takes to
:meth:`UserEngine.accept`, asks :meth:`UserEngine.release` to process what the event-time
merge lets go, publishes what lands in :class:`Outputs`, and now and then calls
:meth:`KeyedStore.flush` for a partition: the changed keys' states (one table write per key,
however many events changed it) and the message handles that may now be acknowledged.

Exactly-once state on an at-least-once stream: each key's stored state carries, per source
topic, the offset of the last message folded into it. After a crash Kafka redelivers what
follows the last committed offset; a redelivered message at or below the stored offset is
already in the state and is skipped, so nothing is counted twice, and messages are only
acknowledged (hence committed) after the state that includes them has been written, so
nothing is forgotten.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson

from stream_guard.core.decisions import Decision
from stream_guard.core.detector import Detector, GroupItem
from stream_guard.core.errors import EventError
from stream_guard.core.events import parse_event
from stream_guard.core.state import GroupState, UserState
from stream_guard.stream.deadletter import envelope
from stream_guard.stream.merge import Merger

_LEN = struct.Struct("<I")
S = TypeVar("S", UserState, GroupState)


@dataclass(slots=True)
class Incoming:
    """One Kafka message as the shell saw it; ``handle`` is what the shell acknowledges."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    handle: Any = None


@dataclass
class Outputs:
    """What processing produced since the shell last drained it."""

    decisions: list[Decision] = field(default_factory=list)
    group_items: list[tuple[int, GroupItem]] = field(default_factory=list)  # (source partition, item)
    dead_letters: list[tuple[bytes, bytes | None]] = field(default_factory=list)  # (envelope, key)
    reroutes: list[tuple[str, int, bytes, bytes]] = field(default_factory=list)  # topic, partition, key, value

    def __bool__(self) -> bool:
        return bool(self.decisions or self.group_items or self.dead_letters or self.reroutes)

    def clear(self) -> None:
        self.decisions.clear()
        self.group_items.clear()
        self.dead_letters.clear()
        self.reroutes.clear()


@dataclass
class Counters:
    """Totals of a part of the worker (the per-topic split of the user part: :data:`OUTCOMES`)."""

    events: int = 0
    invalid: int = 0
    late: int = 0
    duplicates: int = 0  # redelivered: already folded into the stored state
    rerouted: int = 0
    decisions: int = 0


#: What became of each message read from an input topic (their sum is every message read):
#: evaluated; late (too far behind its user's newest event, not evaluated); redelivered (already
#: in the state); rerouted (moved to its user's partition); dead-lettered (not a valid event).
OUTCOMES = ("valid", "late", "redelivered", "rerouted", "dead_lettered")


def encode_stored(offsets: dict[str, int], state: bytes) -> bytes:
    """A table value: the source offsets the state includes, then the state itself."""
    head = orjson.dumps(offsets)
    return _LEN.pack(len(head)) + head + state


def decode_stored(data: bytes) -> tuple[dict[str, int], bytes]:
    (n,) = _LEN.unpack_from(data)
    start = _LEN.size
    return orjson.loads(data[start : start + n]), data[start + n :]


class _Entry(Generic[S]):
    __slots__ = ("gen", "offsets", "partition", "state")

    def __init__(self, state: S, offsets: dict[str, int], partition: int, gen: int):
        self.state = state
        self.offsets = offsets
        self.partition = partition
        self.gen = gen


class KeyedStore(Generic[S]):
    """Decoded states of the keys in use, which keys changed, which messages wait for a flush.

    ``load(key)`` reads a key's stored bytes (the Faust table); a state built for an older
    rule set is re-read under the current one on first use (rules that changed shape start
    afresh, as the core's ``from_bytes`` does).
    """

    def __init__(self, cls: type[S], load: Callable[[Any], bytes | None], *, max_cached: int):
        self.cls = cls
        self._load = load
        self.max_cached = max_cached
        self.cache: dict[Any, _Entry[S]] = {}
        self.dirty: dict[int, set[Any]] = {}
        self.pending: dict[int, list[Any]] = {}  # partition -> handles to ack after the flush
        self.gen = 0
        self.rules: Any = None
        self.writes = 0  # table writes so far

    def set_rules(self, rules: Any) -> None:
        self.rules = rules
        self.gen += 1

    def entry(self, key: Any, partition: int) -> _Entry[S]:
        e = self.cache.get(key)
        if e is not None and e.gen == self.gen:
            return e
        if e is not None:  # built under an older rule set
            data: bytes | None = encode_stored(e.offsets, e.state.to_bytes())
        else:
            data = self._load(key)
        if data is None:
            e = _Entry(self.cls(), {}, partition, self.gen)
        else:
            offsets, raw = decode_stored(data)
            e = _Entry(self.cls.from_bytes(raw, self.rules), offsets, partition, self.gen)
        self.cache[key] = e
        return e

    def touch(self, key: Any, partition: int) -> None:
        d = self.dirty.get(partition)
        if d is None:
            d = self.dirty[partition] = set()
        d.add(key)

    def done(self, partition: int, handle: Any) -> None:
        """A message is processed: acknowledge it at the partition's next flush."""
        p = self.pending.get(partition)
        if p is None:
            p = self.pending[partition] = []
        p.append(handle)

    def waiting(self, partition: int) -> int:
        return len(self.pending.get(partition, ()))

    def flush(self, partition: int) -> tuple[list[tuple[Any, bytes]], list[Any]]:
        """The partition's changed keys as table writes, and the handles to acknowledge after them."""
        keys = self.dirty.pop(partition, set())
        writes = []
        for k in keys:
            e = self.cache[k]
            writes.append((k, encode_stored(e.offsets, e.state.to_bytes())))
        acks = self.pending.pop(partition, [])
        self.writes += len(writes)
        if len(self.cache) > self.max_cached:
            self._evict()
        return writes, acks

    def _evict(self) -> None:
        busy = set().union(*self.dirty.values()) if self.dirty else set()
        excess = len(self.cache) - self.max_cached // 2
        for k in [k for k in self.cache if k not in busy][:excess]:
            del self.cache[k]

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        """Partitions revoked in a rebalance: forget their states and unflushed work (the
        messages were not acknowledged, so whoever gets the partition processes them again)."""
        gone = set(partitions)
        for p in gone:
            self.dirty.pop(p, None)
            self.pending.pop(p, None)
        for k in [k for k, e in self.cache.items() if e.partition in gone]:
            del self.cache[k]


class _Part(Generic[S]):
    """What both parts of a worker hold: the detector, the states of their keys, outputs, counts."""

    def __init__(self, detector: Detector, cls: type[S], load: Callable[[Any], bytes | None], max_cached: int):
        self.detector = detector
        self.store: KeyedStore[S] = KeyedStore(cls, load, max_cached=max_cached)
        self.store.set_rules(detector.rules)
        self.out = Outputs()
        self.count = Counters()

    def set_detector(self, detector: Detector) -> None:
        """Swap the rules between two events; states are re-read under the new rules lazily."""
        self.detector = detector
        self.store.set_rules(detector.rules)


class UserEngine(_Part[UserState]):
    """The user-keyed part: parse, route, merge the two topics, detect."""

    def __init__(
        self,
        detector: Detector,
        *,
        topics: tuple[str, ...],
        load: Callable[[str], bytes | None],
        partition_for: Callable[[bytes], int],
        hold: float,
        max_hold: float = 120.0,
        max_cached: int = 200_000,
    ):
        super().__init__(detector, UserState, load, max_cached)
        self.topics = topics
        self.partition_for = partition_for
        self.merger = Merger(topics, hold=hold, max_hold=max_hold)
        self.last_offset: dict[tuple[str, int], int] = {}
        self.released_t: dict[int, float] = {}  # partition -> event time of the last released event
        self.outcomes: dict[str, dict[str, int]] = {t: dict.fromkeys(OUTCOMES, 0) for t in topics}
        self.dead_letter_codes: dict[str, int] = {}
        self._partition_of: dict[str, int] = {}  # user_id -> its partition (murmur2, cached)

    def accept(self, msg: Incoming, now: float) -> None:
        self.last_offset[(msg.topic, msg.partition)] = msg.offset
        try:
            event = parse_event(msg.value)
        except EventError as exc:
            self._dead_letter(msg, str(exc), exc.code, exc.field, now)
            return
        uid = event.user_id
        target = self._partition_of.get(uid)
        if target is None:
            if len(self._partition_of) > 1_000_000:
                self._partition_of.clear()
            target = self._partition_of[uid] = self.partition_for(uid.encode())
        if target != msg.partition:
            # Not where Kafka's default partitioner puts user_id (a keyless producer, another
            # key, librdkafka's CRC32 partitioner): move it to the user's partition, where the
            # rest of the user's events and state are.
            self.out.reroutes.append((msg.topic, target, uid.encode(), msg.value))
            self.count.rerouted += 1
            self.outcomes[msg.topic]["rerouted"] += 1
            self.store.done(msg.partition, msg.handle)
            return
        self.merger.add(msg.partition, msg.topic, event.ts.timestamp(), (msg, event), now=now)

    def _dead_letter(self, msg: Incoming, reason: str, code: str, fld: str | None, now: float) -> None:
        self.count.invalid += 1
        self.outcomes[msg.topic]["dead_lettered"] += 1
        self.dead_letter_codes[code] = self.dead_letter_codes.get(code, 0) + 1
        env = envelope(
            msg.value, reason=reason, code=code, field=fld, topic=msg.topic,
            partition=msg.partition, offset=msg.offset, received_at=now, key=msg.key,
        )
        self.out.dead_letters.append((env, msg.key))
        self.store.done(msg.partition, msg.handle)

    def release(self, partition: int, now: float, caught_up: Callable[[str, int], bool | None]) -> int:
        """Process what the merge lets go in ``partition``; returns how many events."""
        ready = self.merger.release(partition, now=now, caught_up=caught_up)
        if not ready:
            return 0
        store = self.store
        detector = self.detector
        out = self.out
        count = self.count
        self.released_t[partition] = ready[-1][1].ts.timestamp()
        outcomes = self.outcomes
        for msg, event in ready:
            uid = event.user_id
            e = store.entry(uid, partition)
            if e.offsets.get(msg.topic, -1) >= msg.offset:
                count.duplicates += 1
                outcomes[msg.topic]["redelivered"] += 1
            else:
                res = detector.process_user(event, e.state)
                e.offsets[msg.topic] = msg.offset
                store.touch(uid, partition)
                count.events += 1
                if res.late:
                    count.late += 1
                    outcomes[msg.topic]["late"] += 1
                elif res.duplicate:
                    count.duplicates += 1
                    outcomes[msg.topic]["redelivered"] += 1
                else:
                    outcomes[msg.topic]["valid"] += 1
                if res.decisions:
                    out.decisions.extend(res.decisions)
                    count.decisions += len(res.decisions)
                for item in res.group_items:
                    out.group_items.append((partition, item))
            store.done(partition, msg.handle)
        return len(ready)


class OffsetGuard:
    """Checks that each source partition arrives once and in order, offset after offset.

    Seen with Faust on Tansu: an agent that did not start iterating its stream right after
    the partitions were assigned got them from a few hundred offsets past the committed one;
    the skipped messages were lost for good once the next commit passed them. The worker now
    iterates from the start, and this guard makes any recurrence visible: a message from
    before the expected offset was delivered twice and is dropped (``DROP``); a jump forward
    is logged and counted (:attr:`gaps`, :attr:`skipped`) and the message taken (``TAKE``) —
    rewinding with ``seek`` was tried and stalls Faust's consumer. A transactional
    producer's control records also make such jumps, harmlessly.

    >>> g = OffsetGuard()
    >>> [g.check(("t", 0), o, start=10) for o in (10, 11, 11, 14, 15)]
    ['take', 'take', 'drop', 'take', 'take']
    >>> g.gaps, g.skipped
    (1, 2)
    """

    TAKE, DROP = "take", "drop"

    def __init__(self) -> None:
        self.expected: dict[Any, int] = {}
        self.gaps = 0
        self.skipped = 0
        self.last_gap: tuple[Any, int, int] | None = None  # (key, expected, got)

    def check(self, key: Any, offset: int, *, start: int | None) -> str:
        expected = self.expected.get(key)
        if expected is None:  # the first message since the partition was assigned
            expected = start if start is not None else offset
        if offset < expected:
            return self.DROP
        if offset > expected:
            self.gaps += 1
            self.skipped += offset - expected
            self.last_gap = (key, expected, offset)
        self.expected[key] = offset + 1
        return self.TAKE

    def forget(self, keys: Iterable[Any]) -> None:
        for k in keys:
            self.expected.pop(k, None)
