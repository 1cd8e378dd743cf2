"""produce_file: routing by type, user_id keys, bytes as they are, unroutable lines listed."""

from __future__ import annotations

import os
import signal
import threading
import time

import orjson
import pytest
from aiokafka.partitioner import murmur2

from stream_guard.core.errors import ConfigError
from stream_guard.settings import Settings
from stream_guard.stream.admin import create_topics, partition_counts
from stream_guard.stream.broker import EmbeddedBroker
from stream_guard.stream.producer import MAX_LISTED_SKIPPED, ProduceError, produce_file, route

pytestmark = pytest.mark.integration


def login(user: str, n: int, **extra) -> bytes:
    event = {
        "event_id": f"l-{n}",
        "type": "login",
        "ts": "2026-11-24T09:15:02+09:00",
        "user_id": user,
        "success": True,
        "ip": "203.0.113.7",
        **extra,
    }
    return orjson.dumps(event)


def transfer(user: str, n: int) -> bytes:
    event = {
        "event_id": f"t-{n}",
        "type": "transfer",
        "ts": "2026-11-24T09:21:40+09:00",
        "user_id": user,
        "direction": "withdrawal",
        "asset": "BTC",
        "amount": "0.85",
        "value_krw": 112000000,
    }
    return orjson.dumps(event)


def test_routes_by_type_keys_by_user_and_lists_what_it_skips(broker, make_settings, read_back):
    s = make_settings(partitions=3)
    create_topics(s)
    bad_ts = login("u-2", 3, ts="yesterday")  # invalid, yet routable: sent (dead-lettered later)
    lines = [
        b"\xef\xbb\xbf" + login("u-1", 1) + b"\n",
        transfer("u-1", 2) + b"\n",
        b"not json\n",
        b"[1, 2]\n",
        b'{"type":"trade","user_id":"u-2"}\n',
        b'{"type":"login"}\n',
        b'{"type":"login","user_id":5}\n',
        b'{"type":"login","user_id":""}\n',
        b"\n",
        bad_ts + b"\n",
        transfer("u-\u00fc", 4) + b"\r\n",
        login("u-1", 5),  # the last line may have no line break
    ]
    stats = produce_file(lines, s)
    assert stats.lines == 12
    assert stats.sent == {s.logins_topic: 3, s.transfers_topic: 2}
    assert [n for n, _ in stats.skipped_lines] == [3, 4, 5, 6, 7, 8]
    reasons = dict(stats.skipped_lines)
    assert "not valid JSON" in reasons[3]
    assert "not a JSON object" in reasons[4]
    assert "type is 'trade'" in reasons[5]
    assert reasons[6] == "no user_id"
    assert "user_id is 5" in reasons[7] and "user_id is ''" in reasons[8]
    assert stats.seconds > 0 and stats.events_per_second > 0

    records = read_back([s.logins_topic, s.transfers_topic], expected=5)
    assert len(records) == 5
    got = {(r.topic, r.key, r.value) for r in records}
    assert got == {
        (s.logins_topic, b"u-1", login("u-1", 1)),  # without the byte-order mark
        (s.logins_topic, b"u-1", login("u-1", 5)),
        (s.logins_topic, b"u-2", bad_ts),
        (s.transfers_topic, b"u-1", transfer("u-1", 2)),
        (s.transfers_topic, "u-\u00fc".encode(), transfer("u-\u00fc", 4)),  # without \r\n
    }
    for r in records:  # Kafka's default partitioner: the worker and Java clients agree
        assert r.partition == (murmur2(r.key) & 0x7FFFFFFF) % 3
    u1 = [r.value for r in records if r.topic == s.logins_topic and r.key == b"u-1"]
    assert u1 == [login("u-1", 1), login("u-1", 5)]  # a user's events keep their order


def test_missing_topics_are_an_error_and_are_not_created(broker, make_settings):
    s = make_settings()
    with pytest.raises(ConfigError, match="topics create"):
        produce_file([login("u-1", 1)], s)
    assert set(partition_counts(broker.bootstrap, s.input_topics).values()) == {None}


def test_many_events_fast_and_complete(broker, make_settings, read_back):
    s = make_settings(partitions=4)
    create_topics(s)
    n = 20_000
    lines = [(login if i % 2 else transfer)(f"u-{i % 997}", i) + b"\n" for i in range(n)] + [
        b"junk\n"
    ] * (MAX_LISTED_SKIPPED + 5)
    stats = produce_file(lines, s)
    assert stats.events == n
    assert stats.skipped == MAX_LISTED_SKIPPED + 5
    assert len(stats.skipped_lines) == MAX_LISTED_SKIPPED
    assert stats.events_per_second > 10_000  # ~250k/s on a laptop; generous for CI
    assert len(read_back([s.logins_topic, s.transfers_topic], expected=n)) == n


def test_rate_paces_sending(broker, make_settings):
    s = make_settings(partitions=1)
    create_topics(s)
    stats = produce_file([login(f"u-{i}", i) for i in range(100)], s, rate=400)
    assert stats.events == 100
    assert 0.2 <= stats.seconds < 2  # 100 events at 400/s: a quarter of a second


def test_a_slow_source_is_sent_as_it_comes(broker, make_settings, read_back):
    """Standard input fed slowly: what was read goes out without waiting for more."""
    s = make_settings(partitions=1)
    create_topics(s)
    release = threading.Event()

    def slow():
        yield login("u-1", 1) + b"\n"
        release.wait(10)  # the next line comes only once the first one was read back
        yield login("u-1", 2) + b"\n"

    result = {}
    thread = threading.Thread(target=lambda: result.update(stats=produce_file(slow(), s)))
    thread.start()
    try:
        started = time.monotonic()
        first = read_back([s.logins_topic], expected=1, timeout=5)
        assert [r.value for r in first] == [login("u-1", 1)]
        assert time.monotonic() - started < 5
    finally:
        release.set()
        thread.join(10)
    assert result["stats"].events == 2


def test_an_unreadable_source_is_raised(broker, make_settings):
    s = make_settings(partitions=1)
    create_topics(s)

    def broken():
        yield login("u-1", 1)
        raise OSError("disk on fire")

    with pytest.raises(OSError, match="disk on fire"):
        produce_file(broken(), s)


def test_a_broker_that_dies_midway_is_a_produce_error():
    with EmbeddedBroker() as own:
        s = Settings(broker=own.url, partitions=1)
        create_topics(s)
        lines = [login(f"u-{i}", i) for i in range(5000)]
        threading.Timer(0.2, os.kill, (own.pid, signal.SIGKILL)).start()
        started = time.monotonic()
        with pytest.raises(
            ProduceError, match=rf"sending to Kafka at {own.bootstrap} failed"
        ) as info:
            produce_file(lines, s, rate=5000, timeout=1)
        assert time.monotonic() - started < 5
        assert 0 < info.value.stats.lines < 5000


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b'{"type":"login","user_id":"u-1"}', ("login", b"u-1")),
        (b'{"type":"transfer","user_id":"\xc3\xbc"}', ("transfer", "\u00fc".encode())),
        (b'{"type":"login","user_id":null}', "no user_id"),
        (b'{"type":null,"user_id":"u"}', "no type (login or transfer)"),
        (b'"login"', "not a JSON object (a str)"),
        (b'{"type":"login","user_id":"u"', "not valid JSON (unexpected end of data)"),
    ],
)
def test_route(line, expected):
    assert route(line) == expected
