"""Connecting to Redis, and waiting for it while it is away.

:func:`connect` takes ``redis://`` / ``rediss://`` / ``unix://`` URLs (redis-py's) and
``redis+cluster://host:port`` for Redis Cluster. :func:`retrying` runs an operation until
it succeeds, waiting with exponential backoff while Redis is unreachable: the actions agent
wraps each decision in it, so that a Redis outage pauses the actions instead of losing them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from stream_guard.core.errors import ConfigError

log = logging.getLogger("stream_guard.actions")
T = TypeVar("T")

#: What "Redis is away" looks like to redis-py (a server restarting answers LOADING).
UNAVAILABLE: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError, BusyLoadingError, OSError)
try:  # the cluster client's own errors when a node is down
    from redis.exceptions import ClusterDownError, MasterDownError

    UNAVAILABLE += (ClusterDownError, MasterDownError)
except ImportError:  # pragma: no cover
    pass


def connect(url: str, *, timeout: float = 5.0, max_connections: int = 64) -> Any:
    """An asyncio Redis client for ``url`` (strings decoded as UTF-8); at most
    ``max_connections`` at once — more concurrent commands wait for a free one."""
    opts: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 15,
    }
    if url.startswith("redis+cluster://"):
        from redis.asyncio.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url.removeprefix("redis+cluster://"), **{
            k: v for k, v in opts.items() if k != "health_check_interval"
        })
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"unsupported Redis URL {url!r}: use redis://host:port/db, rediss://, unix:// or "
            "redis+cluster://host:port",
            code="bad-config",
        )
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=None, **opts)
    return aioredis.Redis(connection_pool=pool)


class RedisUnavailable(ConfigError):
    """Redis did not answer within the time a command was willing to wait."""

    def __init__(self, url: str, why: object):
        super().__init__(f"cannot reach Redis at {url}: {why}", code="redis-unreachable")


async def ping(client: Any, url: str, wait: float = 5.0) -> None:
    """Return once Redis answers PING; :class:`RedisUnavailable` after ``wait`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 0.05
    while True:
        try:
            await client.ping()
            return
        except UNAVAILABLE as exc:
            if loop.time() + delay > deadline:
                raise RedisUnavailable(url, exc) from None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)


async def retrying(
    op: Callable[[], Awaitable[T]],
    *,
    what: str = "redis",
    first: float = 0.1,
    cap: float = 5.0,
    on_wait: Callable[[int, float, BaseException], None] | None = None,
) -> T:
    """``await op()`` until it does not fail with an :data:`UNAVAILABLE` error.

    Waits ``first`` seconds after the first failure, doubling up to ``cap`` (with ±20 %
    jitter so that many agents do not knock at once); ``on_wait(attempt, delay, error)``
    hears about each wait. Other errors are raised at once.
    """
    attempt = 0
    delay = first
    while True:
        try:
            return await op()
        except UNAVAILABLE as exc:
            attempt += 1
            wait = delay * random.uniform(0.8, 1.2)
            if on_wait is not None:
                on_wait(attempt, wait, exc)
            elif attempt == 1 or attempt % 10 == 0:
                log.warning("stream-guard actions: %s unreachable (%s); retrying in %.1fs", what, exc, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, cap)
