"""The worker's pure parts, without a broker: the user engine and the event-time merge."""

from __future__ import annotations

import base64

import orjson
import pytest
from event_cases import LOGIN, TRANSFER, raw

from stream_guard.core.detector import Detector
from stream_guard.paths import default_rules_dir
from stream_guard.replay import build_detector, load_pack
from stream_guard.stream.engine import Incoming, UserEngine, decode_stored
from stream_guard.stream.merge import Merger

TOPICS = ("logins", "transfers")


@pytest.fixture(scope="module")
def detector() -> Detector:
    rules, models = load_pack(default_rules_dir())
    return build_detector(rules, models=models, partitions=1)


def user_engine(detector, stored=None, partition_of=lambda key: 0) -> UserEngine:
    stored = stored if stored is not None else {}
    return UserEngine(detector, topics=TOPICS, load=stored.get, partition_for=partition_of, hold=0.5)


def msg(topic: str, offset: int, value: bytes, *, key: bytes | None = b"u-1029", partition: int = 0) -> Incoming:
    return Incoming(topic, partition, offset, key, value, handle=(topic, offset))


def always(answer):
    return lambda topic, partition: answer


def login(i: int, **kw) -> bytes:
    return raw(LOGIN, event_id=f"l-{i}", ts=f"2026-11-24T09:{i:02d}:00+09:00", **kw)


def transfer(i: int, **kw) -> bytes:
    return raw(TRANSFER, event_id=f"t-{i}", ts=f"2026-11-24T09:{i:02d}:30+09:00", **kw)


def test_an_invalid_message_is_dead_lettered_with_its_source(detector):
    e = user_engine(detector)
    e.accept(msg("logins", 7, b'{"type": "login"'), now=0.0)
    (env, key), = e.out.dead_letters
    env = orjson.loads(env)
    assert env["code"] == "not-json" and env["source"] == {"topic": "logins", "partition": 0, "offset": 7}
    assert base64.b64decode(env["raw"]) == b'{"type": "login"' and key == b"u-1029"
    assert e.count.invalid == 1 and e.store.waiting(0) == 1  # acknowledged at the next flush


def test_a_message_outside_its_users_partition_is_moved_there(detector):
    e = user_engine(detector, partition_of=lambda key: 2)
    e.accept(msg("logins", 0, login(1), key=None), now=0.0)
    assert e.out.reroutes == [("logins", 2, b"u-1029", login(1))]
    assert e.merger.held() == 0 and e.count.rerouted == 1


def test_the_two_topics_are_merged_in_event_time(detector):
    e = user_engine(detector)
    e.accept(msg("transfers", 0, transfer(1)), now=0.0)  # 09:01:30
    e.accept(msg("logins", 0, login(1)), now=0.0)  # 09:01:00
    e.accept(msg("logins", 1, login(2)), now=0.0)  # 09:02:00
    assert e.release(0, now=0.0, caught_up=always(False)) == 2  # l-1, t-1; l-2 waits for transfers
    assert e.merger.held() == 1
    assert e.release(0, now=0.0, caught_up=always(True)) == 1
    assert e.store.cache["u-1029"].state.recent_ids.keys() == {"l-1", "t-1", "l-2"}
    assert list(e.store.cache["u-1029"].state.recent_ids) == ["l-1", "t-1", "l-2"]


def test_one_write_per_key_per_flush_and_the_acks_after_it(detector):
    e = user_engine(detector)
    for i in range(5):
        e.accept(msg("logins", i, login(i)), now=0.0)
    e.release(0, now=0.0, caught_up=always(True))
    writes, acks = e.store.flush(0)
    assert [k for k, _ in writes] == ["u-1029"]
    assert acks == [("logins", i) for i in range(5)]
    offsets, _ = decode_stored(writes[0][1])
    assert offsets == {"logins": 4}
    assert e.store.flush(0) == ([], [])


def test_a_redelivered_message_already_in_the_stored_state_is_skipped(detector):
    first = user_engine(detector)
    for i in range(3):
        first.accept(msg("logins", i, login(i)), now=0.0)
    first.release(0, now=0.0, caught_up=always(True))
    (key, value), = first.store.flush(0)[0]
    # a new worker after a crash: the state says offsets up to 2 are in; Kafka redelivers 1..3
    second = user_engine(detector, stored={key: value})
    for i in (1, 2, 3):
        second.accept(msg("logins", i, login(i)), now=0.0)
    second.release(0, now=0.0, caught_up=always(True))
    assert second.count.duplicates == 2 and second.count.events == 1
    state = second.store.cache["u-1029"].state
    assert list(state.recent_ids) == ["l-0", "l-1", "l-2", "l-3"]


def test_merger_can_not_tell_waits_only_hold_seconds():
    m = Merger(TOPICS, hold=1.0, max_hold=10.0)
    m.add(0, "logins", 5.0, "l", now=0.0)
    assert m.release(0, now=0.5, caught_up=always(None)) == []
    assert m.release(0, now=1.0, caught_up=always(None)) == ["l"]
    m.add(0, "logins", 6.0, "l2", now=2.0)
    assert m.release(0, now=11.0, caught_up=always(False)) == []  # more is coming: wait
    assert m.release(0, now=12.0, caught_up=always(False)) == ["l2"]  # but never past max_hold
