"""Faust's default sensor, without its per-message bookkeeping.

Faust calls its ``Monitor`` for every message and event: it counts messages per topic,
stringifies streams and tasks into counters, stamps times in and out and keeps a deque of
run times — statistics for Faust's own web pages, which the worker does not serve (its
metrics are Prometheus', kept by the worker itself: docs/operations.md). py-spy put these
hooks at ~9% of a loaded worker's CPU. This monitor keeps what Faust itself reads back
(end and commit offsets, rebalance and assignment records, send errors) and does nothing per
message, event or table access.

Plug it in with ``faust.App(..., Monitor=QuietMonitor)``.
"""

from __future__ import annotations

from typing import Any

from faust.sensors.monitor import Monitor

__all__ = ["QuietMonitor"]


class QuietMonitor(Monitor):
    """:class:`faust.sensors.Monitor` with no-op hooks on the per-message path."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: Any, key: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> None:
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass
