"""Helpers of the streaming tests: fresh topic names, raw producing, reading topics back."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stream_guard.replay import build_detector, load_pack, replay
from stream_guard.settings import Settings


def fresh_settings(broker: Any, **kw: Any) -> Settings:
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


def produce_raw(settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]) -> None:
    """Send ``(topic, key, value)`` as they are: no validation, no routing."""
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        p = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, enable_idempotence=False)
        await p.start()
        try:
            for topic, key, value in messages:
                await p.send(topic, value, key=key)
            await p.flush()
        finally:
            await p.stop()

    asyncio.run(go())


@contextlib.asynccontextmanager
async def _reader(settings: Settings, topics: list[str]):
    """A group-less consumer over every partition of ``topics``, from their beginning."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from stream_guard.stream.admin import partition_counts_async

    counts = await partition_counts_async(settings.bootstrap_servers, topics)
    c = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None, enable_auto_commit=False)
    await c.start()
    try:
        parts = [TopicPartition(t, p) for t in topics for p in range(counts[t] or 0)]
        c.assign(parts)
        await c.seek_to_beginning(*parts)
        yield c, parts
    finally:
        await c.stop()


def wait_for_records(settings: Settings, topics: list[str], expected: int, timeout: float = 30.0) -> list[Any]:
    """Records of ``topics`` from the beginning, once ``expected`` arrived (or ``timeout``)."""

    async def go() -> list[Any]:
        async with _reader(settings, topics) as (c, _):
            got: list[Any] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while len(got) < expected and loop.time() < deadline:
                for records in (await c.getmany(timeout_ms=200)).values():
                    got.extend(records)
            return got

    return asyncio.run(go())


def read_to_end(settings: Settings, topics: list[str], timeout: float = 60.0) -> list[Any]:
    """Every record of ``topics``, read until each partition's high-water mark (as of the
    fetch responses, which Tansu gets right)."""

    async def go() -> list[Any]:
        async with _reader(settings, topics) as (c, parts):
            got: list[Any] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                for records in (await c.getmany(timeout_ms=200)).values():
                    got.extend(records)
                pending = [tp for tp in parts if (hw := c.highwater(tp)) is None or await c.position(tp) < hw]
                if not pending:
                    return got
                if loop.time() > deadline:
                    raise TimeoutError(f"could not read {pending} to the end in {timeout:g}s")

    return asyncio.run(go())


def committed_offsets(settings: Settings, topics: list[str]) -> dict[Any, int]:
    """What the worker's consumer group has committed on ``topics``, as the broker answers
    (``consumer.committed``: aiokafka's admin call for it fails to decode Tansu's reply)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from stream_guard.stream.admin import partition_counts_async

    async def go() -> dict[Any, int]:
        counts = await partition_counts_async(settings.bootstrap_servers, topics)
        c = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=settings.app_id,
                             enable_auto_commit=False)
        await c.start()  # not subscribed: it never joins the group, only asks it
        try:
            parts = [TopicPartition(t, p) for t in topics for p in range(counts[t] or 0)]
            return {tp: o for tp in parts if (o := await c.committed(tp)) is not None}
        finally:
            await c.stop()

    return asyncio.run(go())


def wait_until_idle(worker: Any, seconds: float, timeout: float) -> dict:
    """Until the worker has processed nothing new for ``seconds`` (and flushed)."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        s = worker.stats()
        key = (s.get("events"), s.get("redelivered"), s.get("state_writes"))
        if key != last:
            last, since = key, time.monotonic()
        elif s and s["held"] == 0 and s["group_items_held"] == 0 and time.monotonic() - since >= seconds:
            return s
        assert worker.alive(), worker.log_tail()
        time.sleep(0.2)
    raise AssertionError(f"worker never went idle: {worker.stats()}\n{worker.log_tail()}")


def replay_decisions(lines: list[bytes], rules_dir: Path, partitions: int = 3) -> list[dict]:
    """What ``stream-guard replay`` decides for these lines (with the default models, whose
    population detectors learn per partition as a worker on ``partitions`` does)."""
    out: list[dict] = []
    rules, models = load_pack(rules_dir)
    replay(lines, build_detector(rules, models=models, partitions=partitions), lambda d: out.append(d.to_dict()))
    return out
