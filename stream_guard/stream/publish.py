"""``rules publish``: put a validated rule set on the rules topic, where every worker follows it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from stream_guard.core.errors import ConfigError
from stream_guard.core.rules.loader import load_rules
from stream_guard.settings import Settings
from stream_guard.stream import rulesync
from stream_guard.stream.admin import create_topics_async, wait_for_broker_async


async def rule_set_messages(
    settings: Settings, *, follow: bool, timeout: float = 10.0
) -> AsyncIterator[bytes]:
    """The rule set messages on the rules topic, from its start, outside any consumer group.

    ``follow=False`` stops at the end of the topic (ConfigError if that takes over
    ``timeout``); ``follow=True`` goes on for ever, as every worker does.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    tp = TopicPartition(settings.rules_topic, 0)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            batch = await consumer.getmany(tp, timeout_ms=300)
            for msg in batch.get(tp, ()):
                if msg.key == rulesync.KEY and msg.value:
                    yield msg.value
            if follow:
                continue
            # the high-water mark of fetch responses is right on Tansu too
            hw = consumer.highwater(tp)
            if hw is not None and await consumer.position(tp) >= hw:
                return
            if loop.time() > deadline:
                raise ConfigError(f"could not read {settings.rules_topic} to its end within {timeout:g}s")
    finally:
        await consumer.stop()


async def latest_published(settings: Settings, timeout: float = 10.0) -> rulesync.PublishedRules | None:
    """The newest rule set on the rules topic (read to its end), or None."""
    latest = None
    async for value in rule_set_messages(settings, follow=False, timeout=timeout):
        latest = value
    if latest is None:
        return None
    try:
        return rulesync.unpack(latest)
    except ConfigError:
        return None  # a damaged message: the next version still counts up from nothing


async def publish_async(
    settings: Settings, directory: Path, *, version: int | None = None, scores: Collection[str] | None = None
) -> rulesync.PublishedRules:
    """``scores``: the model names the rules may read (default: the models of
    ``settings.models_dir``, which the workers run)."""
    if scores is None:
        from stream_guard.core.models import load_models
        from stream_guard.paths import default_models_dir

        scores = load_models(settings.models_dir or default_models_dir()).names
    load_rules(directory, scores=scores)  # raises RuleSetError with every problem: nothing bad is published
    await wait_for_broker_async(settings.bootstrap_servers)
    await create_topics_async(settings)
    previous = await latest_published(settings)
    if version is None:
        version = (previous.version if previous else 0) + 1
    elif previous is not None and version <= previous.version:
        raise ConfigError(f"version {version} is not newer than the published version {previous.version}")
    rs = rulesync.pack(directory, version=version)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers, enable_idempotence=False, acks="all",
        max_request_size=2 * rulesync.MAX_BYTES,
    )
    await producer.start()
    try:
        await producer.send_and_wait(settings.rules_topic, rs.to_bytes(), key=rulesync.KEY, partition=0)
    finally:
        await producer.stop()
    return rs


def publish(
    settings: Settings, directory: Path, *, version: int | None = None, scores: Collection[str] | None = None
) -> rulesync.PublishedRules:
    return asyncio.run(publish_async(settings, directory, version=version, scores=scores))
