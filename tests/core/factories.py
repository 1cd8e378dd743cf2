"""Small event factories shared by the profile and feature tests (``None`` drops a field)."""

from __future__ import annotations

from typing import Any

from stream_guard.core.clock import iso
from stream_guard.core.events import parse_obj


def login(t: float, **kw: Any) -> Any:
    raw = {
        "event_id": f"l-{t}",
        "type": "login",
        "ts": iso(t),
        "user_id": "u-1",
        "success": True,
        "ip": "203.0.113.7",
        "device_id": "d-1",
        **kw,
    }
    return parse_obj({k: v for k, v in raw.items() if v is not None})


def transfer(t: float, **kw: Any) -> Any:
    raw = {
        "event_id": f"t-{t}",
        "type": "transfer",
        "ts": iso(t),
        "user_id": "u-1",
        "direction": "withdrawal",
        "status": "completed",
        "asset": "BTC",
        "amount": 1,
        "value_krw": 100_000_000,
        **kw,
    }
    return parse_obj({k: v for k, v in raw.items() if v is not None})
