"""Where the bundled rules, models, alert templates and sample traffic live.

In a source checkout (``pip install -e .``) they are the top-level folders of the repo; in
a wheel they are packaged under ``stream_guard/_bundled/``.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent
_LAYOUT = {"rules": "rules", "models": "models", "alerts": "alerts", "sample": "tests/data/sample"}


def bundled(name: str) -> Path:
    """The bundled folder ``name`` (rules, models, alerts or sample)."""
    packaged = _PACKAGE / "_bundled" / name
    if packaged.is_dir():
        return packaged
    return _REPO / _LAYOUT[name]


def default_rules_dir() -> Path:
    """``./rules`` when the current directory has one, else the bundled default pack."""
    here = Path.cwd() / "rules"
    return here if here.is_dir() and any(here.glob("*.yaml")) else bundled("rules")


def default_models_dir() -> Path:
    """``./models`` when the current directory has declarations, else the bundled ones."""
    here = Path.cwd() / "models"
    return here if here.is_dir() and any(here.glob("*.yaml")) else bundled("models")
