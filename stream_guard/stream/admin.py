"""Topic administration with aiokafka's admin client: reachability, partition counts, creation.

Each helper has an async form (``*_async``) for code already in an event loop and a
blocking form for the command line. Problems a user can fix (no broker there, topics that
are not co-partitioned, a topic the broker refuses to create) raise :class:`ConfigError`
with a readable message.

Topics are looked up by listing them all, never by naming them in a Metadata request:
brokers that auto-create topics (Tansu always does, Kafka with
``auto.create.topics.enable``) would otherwise create what is only being looked up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, for_code

from stream_guard.core.errors import ConfigError
from stream_guard.settings import Settings

#: Kafka's error code for "Topic with this name already exists."
TOPIC_ALREADY_EXISTS = 36

log = logging.getLogger(__name__)


def _client(bootstrap: str, timeout: float) -> AIOKafkaAdminClient:
    ms = max(1000, int(timeout * 1000))
    return AIOKafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="stream-guard-admin",
        request_timeout_ms=ms,
        connections_max_idle_ms=max(ms + 1000, 540_000),
    )


def _unreachable(bootstrap: str, timeout: float, why: object) -> ConfigError:
    return ConfigError(
        f"cannot reach Kafka at {bootstrap} (waited {timeout:g}s): {why}. "
        "Is the broker running, and is --broker (or STREAM_GUARD_BROKER) right?",
        code="broker-unreachable",
    )


# -- reachability -----------------------------------------------------------------------------


async def wait_for_broker_async(bootstrap: str, timeout: float = 10.0) -> None:
    """Return once a broker at ``bootstrap`` answers a metadata request; else ConfigError."""
    deadline = time.monotonic() + timeout
    last: object = "no answer"
    while True:
        left = deadline - time.monotonic()
        client = _client(bootstrap, max(left, 0.5))
        try:
            await asyncio.wait_for(_probe(client), timeout=max(left, 0.1))
            return
        except (TimeoutError, KafkaError, OSError) as exc:
            last = _describe(exc)
        finally:
            await _close(client)
        if time.monotonic() + 0.25 >= deadline:
            raise _unreachable(bootstrap, timeout, last)
        await asyncio.sleep(0.25)


async def _probe(client: AIOKafkaAdminClient) -> None:
    await client.start()
    await client.list_topics()


def wait_for_broker(bootstrap: str, timeout: float = 10.0) -> None:
    """Blocking :func:`wait_for_broker_async`."""
    asyncio.run(wait_for_broker_async(bootstrap, timeout))


# -- partition counts -------------------------------------------------------------------------


async def partition_counts_async(
    bootstrap: str, topics: Iterable[str], *, timeout: float = 10.0
) -> dict[str, int | None]:
    """Partitions of each topic (None: it does not exist), from one all-topics metadata call."""
    client = _client(bootstrap, timeout)
    try:
        await asyncio.wait_for(client.start(), timeout)
        return await asyncio.wait_for(_counts(client, topics), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        raise _unreachable(bootstrap, timeout, _describe(exc)) from None
    finally:
        await _close(client)


async def _counts(client: AIOKafkaAdminClient, topics: Iterable[str]) -> dict[str, int | None]:
    wanted = list(dict.fromkeys(topics))
    known = {
        t["topic"]: len(t["partitions"])
        for t in await client.describe_topics(None)  # None: every topic, creating none
        if t.get("error_code", 0) == 0
    }
    return {t: known.get(t) for t in wanted}


def partition_counts(
    bootstrap: str, topics: Iterable[str], *, timeout: float = 10.0
) -> dict[str, int | None]:
    """Blocking :func:`partition_counts_async`."""
    return asyncio.run(partition_counts_async(bootstrap, topics, timeout=timeout))


# -- creation ---------------------------------------------------------------------------------


def check_copartitioned(settings: Settings, counts: dict[str, int | None]) -> None:
    """ConfigError if both input topics exist with different partition counts."""
    logins, transfers = settings.logins_topic, settings.transfers_topic
    a, b = counts.get(logins), counts.get(transfers)
    if a is not None and b is not None and a != b:
        raise ConfigError(
            f"topics {logins} ({a} partitions) and {transfers} ({b} partitions) must have the "
            "same partition count, so that a user's logins and transfers reach the same worker "
            "(co-partitioning): recreate one of them with the other's count",
            code="topics-not-copartitioned",
        )


def _plan(
    settings: Settings, partitions: int | None, counts: dict[str, int | None]
) -> list[NewTopic]:
    """The topics to create (those missing), or ConfigError if that would break co-partitioning."""
    check_copartitioned(settings, counts)
    logins, transfers = settings.logins_topic, settings.transfers_topic
    have = {t: n for t in (logins, transfers) if (n := counts.get(t)) is not None}
    inputs = partitions if partitions is not None else settings.partitions
    if have:  # the missing input topic and the group topic follow the existing inputs
        existing, n = next(iter(have.items()))
        missing = [t for t in (logins, transfers) if t not in have]
        if missing and partitions is not None and partitions != n:
            raise ConfigError(
                f"topic {existing} exists with {n} partitions: creating {missing[0]} with "
                f"{partitions} would break co-partitioning (a user's logins and transfers "
                f"must reach the same worker); use --partitions {n}",
                code="topics-not-copartitioned",
            )
        inputs = n
    others = partitions if partitions is not None else settings.partitions
    rf = settings.replication_factor
    wanted: dict[str, NewTopic] = {}
    for name, n, configs in (
        (logins, inputs, None),
        (transfers, inputs, None),
        (settings.group_topic, inputs, None),
        (settings.decisions_topic, others, None),
        (settings.dead_letter_topic, others, None),
        (settings.rules_topic, 1, {"cleanup.policy": "compact"}),
    ):
        if counts.get(name) is None and name not in wanted:
            wanted[name] = NewTopic(name, n, rf, topic_configs=configs or {})
    return list(wanted.values())


def topic_names(settings: Settings) -> list[str]:
    """Every topic ``topics create`` manages, inputs first."""
    names = (
        settings.logins_topic,
        settings.transfers_topic,
        settings.group_topic,
        settings.decisions_topic,
        settings.dead_letter_topic,
        settings.rules_topic,
    )
    return list(dict.fromkeys(names))


async def create_topics_async(
    settings: Settings, partitions: int | None = None, *, timeout: float = 10.0
) -> dict[str, str]:
    """Create the missing topics of ``settings``; per topic "created" or "exists (N partitions)".

    Input topics and the group topic get ``partitions`` (default ``settings.partitions``, or
    the count of an input topic that already exists), the rules topic 1 partition and
    ``cleanup.policy=compact``. Existing topics are left as they are; input topics with
    different partition counts raise ConfigError.
    """
    bootstrap = settings.bootstrap_servers
    names = topic_names(settings)
    client = _client(bootstrap, timeout)
    try:
        try:
            await asyncio.wait_for(client.start(), timeout)
            counts = await asyncio.wait_for(_counts(client, names), timeout)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise _unreachable(bootstrap, timeout, _describe(exc)) from None
        new = _plan(settings, partitions, counts)
        created: set[str] = set()
        if new:
            response = await asyncio.wait_for(
                client.create_topics(new, timeout_ms=int(timeout * 1000)), timeout
            )
            problems = []
            for topic, code, message in _topic_errors(response):
                if code == 0:
                    created.add(topic)
                elif code != TOPIC_ALREADY_EXISTS:  # created meanwhile by someone else
                    problems.append(f"{topic}: {message or for_code(code).__name__}")
            if problems:
                raise ConfigError(
                    f"Kafka at {bootstrap} refused to create " + "; ".join(problems),
                    code="topic-create-failed",
                )
            if len(created) < len(new):
                counts = await asyncio.wait_for(_counts(client, names), timeout)
                check_copartitioned(settings, counts)  # a concurrent creator's counts
    finally:
        await _close(client)
    return {t: "created" if t in created else f"exists ({_partitions(counts[t])})" for t in names}


def create_topics(
    settings: Settings, partitions: int | None = None, *, timeout: float = 10.0
) -> dict[str, str]:
    """Blocking :func:`create_topics_async`."""
    return asyncio.run(create_topics_async(settings, partitions, timeout=timeout))


def _topic_errors(response) -> list[tuple[str, int, str | None]]:
    out = []
    for item in response.topic_errors:
        topic, code = item[0], item[1]
        message = item[2] if len(item) > 2 else None
        out.append((topic, code, message))
    return out


# -- helpers ----------------------------------------------------------------------------------


def _partitions(n: int | None) -> str:
    return "1 partition" if n == 1 else f"{n} partitions"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc) or type(exc).__name__
    return text.removeprefix("KafkaConnectionError: ")


async def _close(client: AIOKafkaAdminClient) -> None:
    try:
        await client.close()
    except Exception as exc:  # closing a client that never started
        log.debug("closing the admin client: %s", exc)
