"""The actions agent's topics: the decisions it reads, the freezes and alerts it writes.

Created when missing, like ``topics create`` does for the detection topics: the outputs get
the decisions topic's partition count (all three are keyed by user id).
"""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from stream_guard.core.errors import ConfigError
from stream_guard.settings import Settings

TOPIC_ALREADY_EXISTS = 36


async def ensure_topics_async(settings: Settings, *, timeout: float = 15.0) -> int:
    """Create the decisions, freezes and alerts topics that are missing; the decisions
    topic's partition count."""
    from stream_guard.stream.admin import partition_counts_async, wait_for_broker_async

    bootstrap = settings.bootstrap_servers
    await wait_for_broker_async(bootstrap, timeout)
    names = [settings.decisions_topic, settings.freezes_topic, settings.alerts_topic]
    counts = await partition_counts_async(bootstrap, names)
    partitions = counts[settings.decisions_topic] or settings.partitions
    missing = [NewTopic(t, partitions, settings.replication_factor) for t in dict.fromkeys(names) if counts.get(t) is None]
    if missing:
        client = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="stream-guard-actions-admin")
        try:
            await asyncio.wait_for(client.start(), timeout)
            response = await asyncio.wait_for(client.create_topics(missing, timeout_ms=int(timeout * 1000)), timeout)
            for topic, code, *rest in response.topic_errors:
                if code not in (0, TOPIC_ALREADY_EXISTS):
                    raise ConfigError(f"Kafka at {bootstrap} refused to create {topic}: {rest[-1] if rest else code}",
                                      code="topic-create-failed")
        except (TimeoutError, KafkaError, OSError) as exc:
            raise ConfigError(f"cannot create the actions topics on {bootstrap}: {exc}", code="topic-create-failed") from None
        finally:
            await client.close()
    return partitions


def ensure_topics(settings: Settings, *, timeout: float = 15.0) -> int:
    return asyncio.run(ensure_topics_async(settings, timeout=timeout))
