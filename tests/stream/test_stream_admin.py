"""Topic creation: idempotent, co-partitioned inputs, lookups that create nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from stream_guard.core.errors import ConfigError
from stream_guard.stream.admin import create_topics, partition_counts, wait_for_broker
from stream_guard.stream.broker import free_port

pytestmark = pytest.mark.integration


def _make(bootstrap: str, **counts: int) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, n, 1) for t, n in counts.items()])
        finally:
            await admin.close()

    asyncio.run(go())


def _config(bootstrap: str, topic: str) -> dict[str, str]:
    async def go() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (resp,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
        finally:
            await admin.close()
        return {e[0]: e[1] for e in resp.resources[0][4]}

    return asyncio.run(go())


def test_create_is_idempotent(broker, make_settings):
    s = make_settings(partitions=3)
    first = create_topics(s)
    assert list(first) == [
        s.logins_topic,
        s.transfers_topic,
        s.group_topic,
        s.decisions_topic,
        s.dead_letter_topic,
        s.rules_topic,
    ]
    assert set(first.values()) == {"created"}
    counts = partition_counts(broker.bootstrap, first)
    assert counts == {**dict.fromkeys(first, 3), s.rules_topic: 1}
    assert _config(broker.bootstrap, s.rules_topic)["cleanup.policy"] == "compact"
    again = create_topics(s)
    assert again == {
        **{t: "exists (3 partitions)" for t in first},
        s.rules_topic: "exists (1 partition)",
    }


def test_partitions_argument_overrides_the_setting(broker, make_settings):
    s = make_settings(partitions=3)
    create_topics(s, partitions=2)
    assert partition_counts(broker.bootstrap, s.input_topics) == {
        s.logins_topic: 2,
        s.transfers_topic: 2,
    }


def test_mismatching_input_topics_are_reported(broker, make_settings):
    s = make_settings()
    _make(broker.bootstrap, **{s.logins_topic: 2, s.transfers_topic: 3})
    with pytest.raises(ConfigError) as info:
        create_topics(s)
    msg = str(info.value)
    assert f"{s.logins_topic} (2 partitions)" in msg
    assert f"{s.transfers_topic} (3 partitions)" in msg
    assert "co-partitioning" in msg
    # nothing else was created
    assert partition_counts(broker.bootstrap, [s.decisions_topic]) == {s.decisions_topic: None}


def test_a_missing_input_topic_follows_the_existing_one(broker, make_settings):
    s = make_settings(partitions=4)
    _make(broker.bootstrap, **{s.logins_topic: 2})
    with pytest.raises(ConfigError, match=r"use --partitions 2"):
        create_topics(s, partitions=4)
    status = create_topics(s)
    assert status[s.logins_topic] == "exists (2 partitions)"
    assert status[s.transfers_topic] == "created"
    counts = partition_counts(broker.bootstrap, [s.transfers_topic, s.group_topic])
    assert counts == {s.transfers_topic: 2, s.group_topic: 2}


def test_partition_counts_creates_nothing(broker, make_settings):
    s = make_settings()
    assert partition_counts(broker.bootstrap, [s.logins_topic]) == {s.logins_topic: None}
    assert partition_counts(broker.bootstrap, [s.logins_topic]) == {s.logins_topic: None}


def test_unreachable_broker_is_a_config_error():
    port = free_port()
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"cannot reach Kafka at 127\.0\.0\.1:{port}"):
        wait_for_broker(f"127.0.0.1:{port}", timeout=0.6)
    assert time.monotonic() - started < 3


def test_wait_for_broker_returns_at_once_when_it_answers(broker):
    started = time.monotonic()
    wait_for_broker(broker.bootstrap, timeout=5)
    assert time.monotonic() - started < 1
