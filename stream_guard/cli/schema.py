from __future__ import annotations

import sys

import orjson

from stream_guard.core.events import event_json_schema


def schema_command() -> None:
    """Print the JSON Schema of both input event types (login and transfer), per EVENTS.md."""
    sys.stdout.write(orjson.dumps(event_json_schema(), option=orjson.OPT_INDENT_2).decode() + "\n")
