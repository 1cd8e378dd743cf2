"""Shared helpers for the core tests: a rule pack written from YAML text, and events."""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stream_guard.core.clock import iso
from stream_guard.core.events import parse_obj
from stream_guard.core.rules.loader import load_rules
from stream_guard.core.rules.pack import RuleSet
from stream_guard.core.rules.testing import DEFAULTS

#: Event time of ``at=0`` in :func:`make_event` (2026-09-21T14:13:20Z).
T0 = 1_790_000_000.0


@pytest.fixture
def write_pack(tmp_path: Path) -> Callable[..., Path]:
    """Write rule files into a fresh directory under ``tmp_path`` and return it.

    ``files`` maps file names (``"a.yaml"``, ``"lists/x.txt"``) to text, dedented; a bare
    string is written as ``rules.yaml``; ``policy`` becomes ``policy.yaml``.
    """
    counter = itertools.count()

    def write(files: str | dict[str, str], policy: str | None = None) -> Path:
        root = tmp_path / f"pack{next(counter)}"
        root.mkdir()
        if isinstance(files, str):
            files = {"rules.yaml": files}
        if policy is not None:
            files = {**files, "policy.yaml": policy}
        for name, text in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return root

    return write


@pytest.fixture
def load_pack(write_pack: Callable[..., Path]) -> Callable[..., RuleSet]:
    """Like :func:`write_pack`, then :func:`load_rules` on the directory."""

    def load(files: str | dict[str, str], policy: str | None = None) -> RuleSet:
        return load_rules(write_pack(files, policy))

    return load


@pytest.fixture
def make_event() -> Callable[..., Any]:
    """``make_event("login", at=60, user_id="u-2")``: a validated event ``at`` seconds after T0.

    Fields default to :data:`stream_guard.core.rules.testing.DEFAULTS`; a field given as
    ``None`` is left out; ``event_id`` defaults to a fresh ``e-1``, ``e-2``...
    """
    counter = itertools.count(1)

    def make(event_type: str, at: float = 0, **fields: Any) -> Any:
        raw = {**DEFAULTS[event_type], "type": event_type, "ts": iso(T0 + at), **fields}
        raw.setdefault("event_id", f"e-{next(counter)}")
        return parse_obj({k: v for k, v in raw.items() if v is not None})

    return make
