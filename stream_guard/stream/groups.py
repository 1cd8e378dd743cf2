"""Rules keyed by something else than the user (an IP, an address): the repartition hop.

The user side (:class:`~stream_guard.stream.engine.UserEngine`) evaluates such a rule's
filter where the user's features are and hands back :class:`GroupItem` s. They travel
through the group topic to the worker that owns their key's partition, where
:class:`GroupEngine` folds them into that key's windows.

Items come from every source partition, each in event-time order but the sources at their
own pace (a worker catching up on a backlog may be days of event time ahead on one
partition). So a source partition sends, with its items, its *watermark*: how far in event
time it has released events (and whether it is idle: nothing more to read for now). Since a
topic partition keeps its records in order, a watermark ``t`` from source ``s`` on group
partition ``g`` means that every item of ``s`` for ``g`` up to ``t`` has arrived; the group
side folds an item once every source's watermark has passed it (idle sources hold nothing
back), in event-time order, as replay does.

One record carries a source's pending items for one group partition *and* its watermark
(:class:`GroupOutbox`), at most every :data:`SEND_EVERY` seconds per pair: far fewer
records than one per item plus watermarks apart (each record costs Faust's per-message
machinery at the receiving end), and a watermark that moves as often as items do.

When the worker that makes the items also owns their group partition, it hands them and
its source's watermark to its :class:`GroupEngine` at once, batch by batch
(:meth:`GroupEngine.fold_local`), as well as sending them in records as above: they fold as
soon as the watermarks allow, without the hop through the broker nor the wait for the next
record, and each record's copy from the topic — its *echo* — is only acknowledged when it
comes (:meth:`GroupEngine.expect_echo`). The topic stays the record of truth: after a
crash, the copies come again and are folded then (items already in a stored state are
recognised by id).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from stream_guard.core.detector import Detector, GroupItem
from stream_guard.core.state import GroupState
from stream_guard.stream.engine import Incoming, _Part

#: Key of every group-topic record (the partition is chosen by the items' keys, see
#: :meth:`GroupOutbox.partition_of`; the record key is only a recognisable constant).
BATCH_KEY = b"\x00group-batch"
#: How long an item may wait at its source for others bound for the same group partition,
#: and how often a moving watermark is sent.
SEND_EVERY = 0.05
#: How often an unchanged watermark is repeated (new owners of group partitions learn it).
HEARTBEAT = 5.0
#: How many recent item ids a group key remembers to recognise a redelivered item.
GROUP_RECENT_IDS = 512


def group_key(item: GroupItem) -> bytes:
    """The group-keys table key of an item's group: ``["ip","45.155.205.17"]``."""
    return orjson.dumps([item.key, item.value])


def encode_batch(source: int, t: float, idle: bool, items: Iterable[GroupItem]) -> bytes:
    """Source partition ``source`` has released every event up to event time ``t`` (and, if
    ``idle``, has nothing more to read for now); ``items`` are its items not sent before."""
    return orjson.dumps(
        [source, t, idle, [[i.rule_id, i.key, i.value, i.t, i.ts, i.event_id, i.event_type, i.user_id, i.payload] for i in items]]
    )


def decode_batch(raw: bytes) -> tuple[int, float, bool, list[GroupItem]]:
    source, t, idle, items = orjson.loads(raw)
    return int(source), float(t), bool(idle), [GroupItem(*i) for i in items]


class GroupOutbox:
    """A source worker's items on their way to the group partitions, with its watermarks."""

    def __init__(self, partitions: int, partition_for: Callable[[bytes], int]):
        self.partitions = partitions
        self.partition_for = partition_for
        self.pending: dict[tuple[int, int], list[GroupItem]] = {}  # (source, group partition)
        self.fed: dict[tuple[int, int], int] = {}  # how many of the pending items were folded locally
        self.sent: dict[tuple[int, int], tuple[tuple[float, bool], float]] = {}  # -> (mark, when)
        self._partition_cache: dict[Any, int] = {}

    def partition_of(self, item: GroupItem) -> int:
        """The group partition of an item's key: Kafka's default partitioner on its table key."""
        value = item.value
        p = self._partition_cache.get((item.key, value))
        if p is None:
            if len(self._partition_cache) > 100_000:
                self._partition_cache.clear()
            p = self._partition_cache[(item.key, value)] = self.partition_for(group_key(item))
        return p

    def add(self, source: int, item: GroupItem) -> None:
        key = (source, self.partition_of(item))
        items = self.pending.get(key)
        if items is None:
            items = self.pending[key] = []
        items.append(item)

    def take_unfed(self, source: int, partition: int) -> list[GroupItem]:
        """The pending items of a pair not yet folded locally (now they are)."""
        key = (source, partition)
        items = self.pending.get(key)
        if not items:
            return []
        done = self.fed.get(key, 0)
        self.fed[key] = len(items)
        return items[done:]

    def drain(
        self, marks: Mapping[int, tuple[float, bool]], now: float, *, force: Iterable[int] = ()
    ) -> list[tuple[int, bytes]]:
        """The records to send now, as ``(group partition, value)``.

        ``marks``: each source partition's watermark ``(t, idle)``. For every source and group
        partition, a record goes out when items or a moved watermark have waited
        :data:`SEND_EVERY` since the last record of that pair, when the watermark has not been
        repeated for :data:`HEARTBEAT`, or at once for the sources in ``force`` (those about to
        flush their state: an event's items must be written before the state that includes
        the event).
        """
        forced = set(force)
        out: list[tuple[int, bytes]] = []
        for source, mark in marks.items():
            for g in range(self.partitions):
                key = (source, g)
                items = self.pending.get(key)
                last = self.sent.get(key)
                if last is None:
                    due = True
                else:
                    (last_mark, when) = last
                    waited = now - when
                    if items:
                        due = source in forced or waited >= SEND_EVERY
                    elif last_mark != mark:
                        due = waited >= SEND_EVERY
                    else:
                        due = waited >= HEARTBEAT
                if not due:
                    continue
                out.append((g, encode_batch(source, mark[0], mark[1], items or ())))
                self.pending.pop(key, None)
                self.fed.pop(key, None)
                self.sent[key] = (mark, now)
        return out

    def drop_sources(self, sources: Iterable[int]) -> None:
        """Source partitions revoked: their unsent items go with them (their events were not
        acknowledged, so the next owner makes the items again)."""
        gone = set(sources)
        for key in [k for k in self.pending if k[0] in gone]:
            del self.pending[key]
            self.fed.pop(key, None)
        for key in [k for k in self.sent if k[0] in gone]:
            del self.sent[key]


class _Receipt:
    """One group-topic record: acknowledged once all of its items are folded."""

    __slots__ = ("handle", "left")

    def __init__(self, handle: Any, left: int):
        self.handle = handle
        self.left = left


class GroupEngine(_Part[GroupState]):
    """Folds the items of the group partitions this worker owns into their keys' states.

    Items wait in their group partition's heap until every source's watermark there has
    passed them, then fold in event-time order; an item waits at most ``max_hold`` seconds
    (a source whose worker is gone). Redelivered items are recognised by id per key (they
    are applied in time order, not offset order, so offsets can't tell).
    """

    def __init__(
        self,
        detector: Detector,
        *,
        sources: int,
        load: Callable[[bytes], bytes | None],
        max_hold: float = 120.0,
        max_cached: int = 200_000,
    ):
        super().__init__(detector, GroupState, load, max_cached)
        self.sources = sources
        self.max_hold = max_hold
        # group partition -> source partition -> (event time, idle)
        self.watermarks: dict[int, dict[int, tuple[float, bool]]] = {}
        # group partition -> heap of (t, seq, arrived, key, item, receipt)
        self.heaps: dict[int, list[tuple[float, int, float, bytes, GroupItem, _Receipt]]] = {}
        self._seq = 0
        # group partition -> records accepted locally whose copy from the topic is still to come
        self._echoes: dict[int, dict[bytes, int]] = {}
        self.echoes = 0  # copies recognised

    def held(self) -> int:
        return sum(len(h) for h in self.heaps.values())

    def accept(self, msg: Incoming, now: float) -> None:
        """A record from the group topic."""
        echoes = self._echoes.get(msg.partition)
        if echoes:
            left = echoes.get(msg.value)
            if left is not None:  # accepted locally already: nothing to fold, nothing to learn
                if left > 1:
                    echoes[msg.value] = left - 1
                else:
                    del echoes[msg.value]
                self.echoes += 1
                self.store.done(msg.partition, msg.handle)
                return
        self._accept(msg.partition, msg.value, msg.handle, now)

    def fold_local(
        self, partition: int, source: int, mark: tuple[float, bool], items: list[GroupItem], now: float
    ) -> None:
        """Items this worker's ``source`` partition made for ``partition`` (which it owns), and
        the source's watermark: what the records that carry them will say, said now."""
        self._add(partition, source, mark[0], mark[1], items, None, now)

    def expect_echo(self, partition: int, value: bytes) -> None:
        """This worker sent ``value`` to ``partition`` after folding its items locally."""
        echoes = self._echoes.setdefault(partition, {})
        echoes[value] = echoes.get(value, 0) + 1

    def _accept(self, partition: int, value: bytes, handle: Any, now: float) -> None:
        source, t, idle, items = decode_batch(value)
        self._add(partition, source, t, idle, items, handle, now)

    def _add(
        self, partition: int, source: int, t: float, idle: bool, items: list[GroupItem], handle: Any, now: float
    ) -> None:
        if items:
            receipt = _Receipt(handle, len(items))
            heap = self.heaps.setdefault(partition, [])
            for item in items:
                self._seq += 1
                heapq.heappush(heap, (item.t, self._seq, now, group_key(item), item, receipt))
        elif handle is not None:
            self.store.done(partition, handle)
        marks = self.watermarks.setdefault(partition, {})
        old = marks.get(source)
        marks[source] = (max(t, old[0]) if old else t, idle)

    def _horizon(self, partition: int) -> float | None:
        """Event time up to which every source's items for ``partition`` are in (None: not known)."""
        marks = self.watermarks.get(partition, {})
        if len(marks) < self.sources:
            return None
        busy = [t for t, idle in marks.values() if not idle]
        return min(busy) if busy else float("inf")

    def release(self, now: float) -> int:
        n = 0
        for partition, heap in self.heaps.items():
            horizon = self._horizon(partition)
            while heap:
                t, _, arrived, key, item, receipt = heap[0]
                if (horizon is None or t > horizon) and now - arrived < self.max_hold:
                    break
                heapq.heappop(heap)
                self._apply(partition, key, item)
                receipt.left -= 1
                if not receipt.left and receipt.handle is not None:
                    self.store.done(partition, receipt.handle)
                n += 1
        return n

    def _apply(self, partition: int, key: bytes, item: GroupItem) -> None:
        e = self.store.entry(key, partition)
        ids = e.offsets.setdefault("ids", [])
        tag = f"{item.rule_id}/{item.event_id}"
        if tag in ids:
            self.count.duplicates += 1
            return
        ids.append(tag)
        if len(ids) > GROUP_RECENT_IDS:
            del ids[: len(ids) - GROUP_RECENT_IDS]
        d = self.detector.process_group(item, e.state)
        self.store.touch(key, partition)
        self.count.events += 1
        if d is not None:
            self.out.decisions.append(d)
            self.count.decisions += 1

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        gone = set(partitions)
        for p in gone:
            self.heaps.pop(p, None)
            self.watermarks.pop(p, None)
            self._echoes.pop(p, None)
        self.store.drop_partitions(gone)
