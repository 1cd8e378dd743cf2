"""Shared fixtures of the streaming tests: one embedded broker per session, fresh topic names.

``broker`` is an :class:`EmbeddedBroker` (Tansu, in memory) started once and stopped at the
end of the session. Tests never share topics: :func:`fresh_settings` (or the
``make_settings`` fixture) gives every call its own topic names and app id.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from stream_guard.settings import Settings
from stream_guard.stream.broker import EmbeddedBroker


def fresh_settings(broker: EmbeddedBroker, **kw: Any) -> Settings:
    """Settings on ``broker`` with topic names and app id of their own (``kw`` overrides)."""
    tag = uuid.uuid4().hex[:10]
    values: dict[str, Any] = {
        "broker": broker.url,
        "app_id": f"sg-test-{tag}",
        "logins_topic": f"logins-{tag}",
        "transfers_topic": f"transfers-{tag}",
        "decisions_topic": f"decisions-{tag}",
        "dead_letter_topic": f"dead-letter-{tag}",
        "rules_topic": f"rules-{tag}",
        "group_topic": f"group-items-{tag}",
    }
    values.update(kw)
    return Settings(**values)


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def make_settings(broker: EmbeddedBroker) -> Callable[..., Settings]:
    """:func:`fresh_settings` bound to the session's broker."""
    return functools.partial(fresh_settings, broker)


async def _consume(bootstrap: str, topics: list[str], expected: int, timeout: float) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from stream_guard.stream.admin import partition_counts_async

    counts = await partition_counts_async(bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(counts[t] or 0)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        got: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(got) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                got.extend(records)
        return got
    finally:
        await consumer.stop()


def consume(
    broker: EmbeddedBroker, topics: list[str], expected: int, timeout: float = 5.0
) -> list[Any]:
    """Records of ``topics`` from the beginning, once ``expected`` came (or ``timeout``)."""
    return asyncio.run(_consume(broker.bootstrap, topics, expected, timeout))


@pytest.fixture
def read_back(broker: EmbeddedBroker) -> Callable[..., list[Any]]:
    """``read_back(topics, expected)``: consumed records (ConsumerRecord) of those topics."""
    return functools.partial(consume, broker)
