"""A real Kafka client (librdkafka, through confluent-kafka) producing EVENTS.md JSON.

With Kafka's partitioner (librdkafka's ``murmur2_random``, what docs/streaming.md tells
librdkafka and kcat users to set) it works exactly as `stream-guard produce`: the same
decisions as replay. With librdkafka's default (CRC32) partitioner the events land in other
partitions than Kafka's: the worker moves each to its user's partition, so nothing is lost
or split between workers — but the detour can reorder a user's logins against transfers, so
decisions may differ slightly from replay's."""

from __future__ import annotations

import orjson
import pytest
from streaming_helpers import fresh_settings, read_to_end, replay_decisions, wait_until_idle

from stream_guard.generator import generate
from stream_guard.paths import default_rules_dir
from stream_guard.stream.admin import create_topics
from stream_guard.stream.process import WorkerProcess

confluent_kafka = pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.integration


def _produce(settings, traffic, **conf) -> list[bytes]:
    lines = [orjson.dumps(e) for e in traffic.events]
    producer = confluent_kafka.Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 5, **conf})
    for line, event in zip(lines, traffic.events, strict=True):
        topic = settings.logins_topic if event["type"] == "login" else settings.transfers_topic
        producer.produce(topic, value=line, key=event["user_id"].encode())
        producer.poll(0)
    assert producer.flush(30) == 0
    return lines


def _run(settings, workdir, n: int) -> tuple[dict, list[dict]]:
    with WorkerProcess(settings, workdir=workdir) as worker:
        worker.wait_for(lambda s: s["events"] >= n, timeout=120)
        done = wait_until_idle(worker, seconds=2.0, timeout=60)
    return done, [orjson.loads(r.value) for r in read_to_end(settings, [settings.decisions_topic])]


def _user_keyed(decisions: list[dict]) -> set[str]:
    return {d["decision_id"] for d in decisions if not d.get("group")}


def test_librdkafka_with_kafkas_partitioner_decides_as_replay(broker, tmp_path):
    settings = fresh_settings(broker)
    create_topics(settings, partitions=3)
    lines = _produce(settings, generate(users=60, days=6, seed=44, attacks_per_kind=1), partitioner="murmur2_random")
    done, got = _run(settings, tmp_path, len(lines))
    assert done["events"] == len(lines) and done["rerouted"] == 0
    expected = _user_keyed(replay_decisions(lines, default_rules_dir()))
    assert _user_keyed(got) == expected and expected


def test_librdkafka_default_partitioner_events_are_moved_not_lost(broker, tmp_path):
    settings = fresh_settings(broker)
    create_topics(settings, partitions=3)
    lines = _produce(settings, generate(users=60, days=6, seed=44, attacks_per_kind=1))
    done, got = _run(settings, tmp_path, len(lines))
    assert done["events"] == len(lines)  # each once, in its user's partition
    assert done["rerouted"] > 0  # CRC32 and murmur2 disagree for most users
    assert done["dead_lettered"] == 0 and got
