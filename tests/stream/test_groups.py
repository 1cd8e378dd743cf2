"""The repartition hop of rules keyed by another value (stream/groups.py), without a broker."""

from __future__ import annotations

import orjson
import pytest

from stream_guard.core.detector import Detector, GroupItem
from stream_guard.paths import default_rules_dir
from stream_guard.replay import build_detector, load_pack
from stream_guard.stream.engine import Incoming
from stream_guard.stream.groups import (
    HEARTBEAT,
    SEND_EVERY,
    GroupEngine,
    GroupOutbox,
    decode_batch,
    encode_batch,
    group_key,
)


@pytest.fixture(scope="module")
def detector() -> Detector:
    rules, models = load_pack(default_rules_dir())
    return build_detector(rules, models=models)


def item(t: float, user: str, event_id: str, ip: str = "45.155.205.17") -> GroupItem:
    return GroupItem("credential_stuffing_ip", "ip", ip, t, "x", event_id, "login", user, user)


def batch(offset: int, source: int, t: float, items=(), idle: bool = False, partition: int = 0) -> Incoming:
    return Incoming("group", partition, offset, b"k", encode_batch(source, t, idle, items), handle=offset)


def test_a_batch_round_trips():
    items = [item(1.5, "u-1", "a"), item(2.0, "u-2", "b", ip="2001:db8::1")]
    assert decode_batch(encode_batch(3, 2.0, True, items)) == (3, 2.0, True, items)


def test_group_items_wait_for_every_sources_watermark(detector):
    g = GroupEngine(detector, sources=2, load={}.get, max_hold=60.0)
    g.accept(batch(0, source=0, t=100.0, items=[item(100.0, "u-1", "a")]), now=0.0)
    assert g.release(now=0.0) == 0  # source 1 has said nothing yet
    g.accept(batch(0, source=1, t=60.0, items=[item(50.0, "u-2", "b")]), now=0.0)
    assert g.release(now=0.0) == 1  # b (t=50) is safe; a (t=100) waits for source 1
    g.accept(batch(1, source=1, t=0.0, idle=True), now=0.0)
    assert g.release(now=0.0) == 1  # an idle source holds nothing back
    entry = g.store.cache[group_key(item(0, "", ""))]
    assert entry.offsets["ids"] == ["credential_stuffing_ip/b", "credential_stuffing_ip/a"]


def test_a_record_is_acknowledged_once_all_its_items_are_folded(detector):
    g = GroupEngine(detector, sources=2, load={}.get, max_hold=60.0)
    g.accept(batch(7, source=0, t=30.0, items=[item(10.0, "u-1", "a"), item(30.0, "u-2", "b")]), now=0.0)
    g.accept(batch(8, source=1, t=20.0), now=0.0)  # nothing for this partition: done at once
    assert g.store.pending[0] == [8]
    assert g.release(now=0.0) == 1  # a; b (t=30) waits for source 1
    assert g.store.pending[0] == [8]  # record 7 is not done: b is still waiting
    g.accept(batch(9, source=1, t=40.0), now=0.0)
    assert g.release(now=0.0) == 1
    assert g.store.pending[0] == [8, 9, 7]


def test_a_redelivered_group_item_is_applied_once(detector):
    g = GroupEngine(detector, sources=1, load={}.get)
    for offset in (1, 2):  # the same record twice
        g.accept(batch(offset, source=0, t=10.0, idle=True, items=[item(10.0, "u-1", "a")]), now=0.0)
    assert g.release(now=0.0) == 2
    assert g.count.events == 1 and g.count.duplicates == 1


def test_group_items_go_after_max_hold_whatever_the_watermarks(detector):
    g = GroupEngine(detector, sources=3, load={}.get, max_hold=5.0)
    g.accept(batch(0, source=0, t=10.0, items=[item(10.0, "u-1", "a")]), now=0.0)
    assert g.release(now=4.9) == 0
    assert g.release(now=5.0) == 1


def outbox(partitions: int = 2) -> GroupOutbox:
    # the partition from the IP's last digit (the key is ["ip","10.0.0.1"]): predictable
    return GroupOutbox(partitions, partition_for=lambda key: int(chr(key[-3])) % partitions)


def sent(out, now, marks, **kw):
    return [(g, *decode_batch(v)) for g, v in out.drain(marks, now, **kw)]


def test_the_outbox_sends_each_pair_its_items_with_the_sources_watermark():
    out = outbox()
    a, b = item(1.0, "u-1", "a", ip="10.0.0.1"), item(2.0, "u-2", "b", ip="10.0.0.2")
    assert {out.partition_of(a), out.partition_of(b)} == {0, 1}
    out.add(0, a)
    out.add(0, b)
    got = sent(out, 0.0, {0: (2.0, False), 1: (0.0, True)})
    # every pair hears once at the start; the items ride with their source's watermark
    by_pair = {(src, g): items for g, src, _t, _idle, items in got}
    assert by_pair == {(0, out.partition_of(a)): [a], (0, out.partition_of(b)): [b], (1, 0): [], (1, 1): []}
    assert all(t == (2.0 if src == 0 else 0.0) for _g, src, t, _i, _items in got)


def test_the_outbox_waits_send_every_then_heartbeat():
    out = outbox()
    marks = {0: (1.0, False)}
    sent(out, 0.0, marks)
    out.add(0, item(1.5, "u-1", "a", ip="10.0.0.1"))
    assert sent(out, SEND_EVERY / 2, {0: (1.5, False)}) == []  # waits for more
    got = sent(out, SEND_EVERY, {0: (1.5, False)})
    # the item to its partition, and the moved watermark to the other one too
    assert sorted((g, len(items)) for g, *_x, items in got) == [(0, 0), (1, 1)]
    assert sent(out, SEND_EVERY * 3, {0: (1.5, False)}) == []  # nothing new
    assert len(sent(out, SEND_EVERY + HEARTBEAT, {0: (1.5, False)})) == 2  # repeated


def test_a_flush_forces_its_sources_items_out():
    out = outbox()
    sent(out, 0.0, {0: (1.0, False), 1: (1.0, False)})
    out.add(0, item(1.0, "u-1", "a", ip="10.0.0.1"))
    out.add(1, item(1.0, "u-2", "b", ip="10.0.0.1"))
    got = sent(out, 0.001, {0: (1.0, False), 1: (1.0, False)}, force=[0])
    assert [(src, [i.event_id for i in items]) for _g, src, _t, _i, items in got] == [(0, ["a"])]


def test_revoked_sources_lose_their_unsent_items():
    out = outbox()
    sent(out, 0.0, {0: (1.0, False)})
    out.add(0, item(1.0, "u-1", "a"))
    out.drop_sources([0])
    assert out.pending == {} and out.sent == {}


def test_the_group_key_is_the_tables_key():
    assert orjson.loads(group_key(item(0, "u", "e"))) == ["ip", "45.155.205.17"]


def test_items_folded_locally_are_only_acknowledged_when_their_records_copy_comes(detector):
    g = GroupEngine(detector, sources=1, load={}.get)
    a = item(10.0, "u-1", "a")
    g.fold_local(0, 0, (10.0, True), [a], now=0.0)
    assert g.release(now=0.0) == 1 and g.count.events == 1
    assert 0 not in g.store.pending  # nothing to acknowledge yet
    value = encode_batch(0, 10.0, True, [a])  # the record that carried it, sent later
    g.expect_echo(0, value)
    g.accept(Incoming("group", 0, 41, b"k", value, handle=41), now=0.0)  # its copy from the topic
    assert g.release(now=0.0) == 0 and g.count.events == 1 and g.count.duplicates == 0
    assert g.store.pending[0] == [41] and g.echoes == 1
    # two identical records (a repeated heartbeat) are two copies
    beat = encode_batch(0, 10.0, True, [])
    g.expect_echo(0, beat)
    g.expect_echo(0, beat)
    g.accept(Incoming("group", 0, 42, b"k", beat, handle=42), now=6.0)
    g.accept(Incoming("group", 0, 43, b"k", beat, handle=43), now=6.0)
    assert g.store.pending[0] == [41, 42, 43] and g.echoes == 3


def test_local_watermarks_order_local_and_remote_items(detector):
    g = GroupEngine(detector, sources=2, load={}.get)
    g.fold_local(0, 0, (30.0, False), [item(30.0, "u-1", "a")], now=0.0)
    assert g.release(now=0.0) == 0  # source 1 (another worker) has said nothing
    g.accept(batch(5, source=1, t=20.0, items=[item(20.0, "u-2", "b")]), now=0.0)
    assert g.release(now=0.0) == 1  # b (20) goes first; a (30) waits for source 1 to pass 30
    g.accept(batch(6, source=1, t=35.0), now=0.0)
    assert g.release(now=0.0) == 1
    entry = g.store.cache[group_key(item(0, "", ""))]
    assert entry.offsets["ids"] == ["credential_stuffing_ip/b", "credential_stuffing_ip/a"]


def test_the_outbox_hands_each_pending_item_over_once_for_local_folding():
    out = outbox()
    sent(out, 0.0, {0: (1.0, False)})
    a, b = item(1.0, "u-1", "a", ip="10.0.0.1"), item(2.0, "u-2", "b", ip="10.0.0.1")
    g = out.partition_of(a)
    out.add(0, a)
    assert out.take_unfed(0, g) == [a]
    out.add(0, b)
    assert out.take_unfed(0, g) == [b] and out.take_unfed(0, g) == []
    (_, _src, _t, _idle, items), *_ = [r for r in sent(out, SEND_EVERY, {0: (2.0, False)}) if r[0] == g]
    assert items == [a, b]  # the record still carries both (its copy is the echo)
    assert out.take_unfed(0, g) == []


def test_after_a_crash_the_copy_of_a_locally_folded_record_folds_once(detector):
    a = item(10.0, "u-1", "a")
    first = GroupEngine(detector, sources=1, load={}.get)
    first.fold_local(0, 0, (10.0, True), [a], now=0.0)
    first.release(now=0.0)
    (key, stored), = first.store.flush(0)[0]
    # the next worker starts from that state; the record comes from the topic, not as an echo
    second = GroupEngine(detector, sources=1, load={key: stored}.get)
    second.accept(Incoming("group", 0, 7, b"k", encode_batch(0, 10.0, True, [a]), handle=7), now=0.0)
    assert second.release(now=0.0) == 1
    assert second.count.duplicates == 1 and second.count.events == 0
    assert second.store.pending[0] == [7]
