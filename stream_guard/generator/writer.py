"""Writing a labelled traffic set: ``events.jsonl`` (one event a line) and ``labels.json``."""

from __future__ import annotations

from pathlib import Path

import orjson

from stream_guard.generator.simulate import GeneratedTraffic

__all__ = ["write_labelled"]

_CHUNK = 20_000


def write_labelled(traffic: GeneratedTraffic, out_dir: Path) -> tuple[Path, Path]:
    """Write ``out_dir/events.jsonl`` and ``out_dir/labels.json`` (creating ``out_dir``)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events_path = out_dir / "events.jsonl"
    labels_path = out_dir / "labels.json"
    events = traffic.events
    dumps = orjson.dumps
    with events_path.open("wb") as f:
        for i in range(0, len(events), _CHUNK):
            f.write(b"".join(dumps(e) + b"\n" for e in events[i : i + _CHUNK]))
    labels_path.write_bytes(orjson.dumps(traffic.labels, option=orjson.OPT_INDENT_2) + b"\n")
    return events_path, labels_path
