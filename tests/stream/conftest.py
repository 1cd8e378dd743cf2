"""Shared fixtures of the streaming tests: one embedded broker per session, fresh topic names.

``broker`` is an :class:`EmbeddedBroker` (Tansu, in memory) started once and stopped at the
end of the session. Tests never share topics: :func:`fresh_settings` (or the
``make_settings`` fixture) gives every call its own topic names and app id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from streaming_helpers import fresh_settings, wait_for_records

from stream_guard.settings import Settings
from stream_guard.stream.broker import EmbeddedBroker


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as b:
        yield b


@pytest.fixture
def make_settings(broker: EmbeddedBroker) -> Callable[..., Settings]:
    """:func:`fresh_settings` bound to the session's broker."""
    return functools.partial(fresh_settings, broker)


def consume(broker: EmbeddedBroker, topics: list[str], expected: int, timeout: float = 5.0) -> list[Any]:
    """Records of ``topics`` from the beginning, once ``expected`` came (or ``timeout``)."""
    return wait_for_records(Settings(broker=broker.url), topics, expected, timeout)


@pytest.fixture
def read_back(broker: EmbeddedBroker) -> Callable[..., list[Any]]:
    """``read_back(topics, expected)``: consumed records (ConsumerRecord) of those topics."""
    return functools.partial(consume, broker)
