"""The dead-letter envelope: what the worker publishes for a message it cannot process.

>>> import orjson
>>> env = orjson.loads(envelope(b'{"type": "login"', reason="not valid JSON", code="not-json",
...     field=None, topic="logins", partition=2, offset=41, received_at=0.0, key=b"u-1"))
>>> env["source"], env["raw"], env["key"]
({'topic': 'logins', 'partition': 2, 'offset': 41}, 'eyJ0eXBlIjogImxvZ2luIg==', 'u-1')
>>> base64.b64decode(env["raw"])
b'{"type": "login"'
"""

from __future__ import annotations

import base64

import orjson

from stream_guard.core.clock import iso


def envelope(
    raw: bytes,
    *,
    reason: str,
    code: str,
    field: str | None,
    topic: str,
    partition: int,
    offset: int,
    received_at: float,
    key: bytes | None,
) -> bytes:
    """JSON bytes of the envelope; ``raw`` is kept exactly (base64), the key as text if it decodes."""
    if key is None:
        key_text = None
    else:
        try:
            key_text = key.decode()
        except UnicodeDecodeError:
            key_text = "base64:" + base64.b64encode(key).decode()
    return orjson.dumps(
        {
            "reason": reason,
            "code": code,
            "field": field,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "key": key_text,
            "received_at": iso(received_at),
            "raw": base64.b64encode(raw).decode(),
        }
    )
