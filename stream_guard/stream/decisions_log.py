"""Read the decisions topic back: every message it held when the reading began.

The shadow review (``stream-guard shadow-report``) reads the decisions the workers
published — enforced and shadow alike — outside any consumer group (it never moves a
group's offsets), from the start of every partition until it has caught up with each
partition's high-water mark. The high-water mark is taken from the fetch responses, not
from a ListOffsets request: Tansu answers that one with the last batch's base offset + 1,
short of the real end (publish.py relies on the fetch responses for the same reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from stream_guard.core.errors import ConfigError
from stream_guard.settings import Settings
from stream_guard.stream.admin import partition_counts_async


async def consume_topic_async(
    settings: Settings, topic: str, handle: Callable[[str, bytes | None], None], *, timeout: float = 10.0
) -> int:
    """Call ``handle("partition:offset", value)`` for each message of ``topic``, in offset
    order per partition; return how many. ConfigError if the topic does not exist, or when
    no message arrives for ``timeout`` seconds while some are still due."""
    counts = await partition_counts_async(settings.bootstrap_servers, [topic], timeout=timeout)
    n = counts.get(topic)
    if n is None:
        raise ConfigError(
            f"no topic {topic!r} on {settings.broker} (the decisions topic is the setting "
            f"decisions_topic; workers create it when they start)",
            code="topic-missing",
        )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in range(n)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        due = set(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        read = 0
        while due:
            batch = await consumer.getmany(*due, timeout_ms=300, max_records=5000)
            for tp, messages in batch.items():
                for m in messages:
                    handle(f"{tp.partition}:{m.offset}", m.value)
                    read += 1
            for tp in list(due):
                # the position passes gaps (compaction, transaction markers) too
                hw = consumer.highwater(tp)
                if hw is not None and await consumer.position(tp) >= hw:
                    due.discard(tp)
            if batch:
                deadline = loop.time() + timeout
            elif loop.time() > deadline:
                raise ConfigError(
                    f"reading {topic!r} stalled for {timeout:g}s with partitions "
                    f"{sorted(tp.partition for tp in due)} not read to their end",
                    code="broker-unreachable",
                )
        return read
    finally:
        await consumer.stop()


def consume_topic(
    settings: Settings, topic: str, handle: Callable[[str, bytes | None], None], *, timeout: float = 10.0
) -> int:
    """Blocking :func:`consume_topic_async`."""
    return asyncio.run(consume_topic_async(settings, topic, handle, timeout=timeout))
