"""The worker's Faust monitor keeps no per-message statistics (they cost ~9% of its CPU)."""

from __future__ import annotations

from pathlib import Path

from faust.types import TP

from stream_guard.paths import bundled
from stream_guard.replay import load_pack
from stream_guard.settings import Settings
from stream_guard.stream.app import Worker
from stream_guard.stream.monitor import QuietMonitor


class _Message:
    time_in = None


def test_the_worker_runs_faust_with_the_quiet_monitor(tmp_path: Path) -> None:
    settings = Settings(broker="kafka://127.0.0.1:1", data_dir=tmp_path, store="memory")
    rules, models = load_pack(bundled("rules"), bundled("models"))
    worker = Worker(settings, partitions=2, rules=rules, rules_source="bundled", models=models)
    monitor = worker.app.monitor
    assert isinstance(monitor, QuietMonitor)
    tp = TP("logins", 0)
    for offset in range(100):
        monitor.on_message_in(tp, offset, _Message())
        state = monitor.on_stream_event_in(tp, offset, object(), object())
        monitor.on_stream_event_out(tp, offset, object(), object(), state)
        monitor.on_message_out(tp, offset, _Message())
    assert monitor.messages_received_total == 0 and monitor.events_total == 0 and not monitor.events_runtime
    # what Faust itself reads back is still kept
    monitor.track_tp_end_offset(tp, 42)
    assert monitor.tp_end_offsets[tp] == 42
