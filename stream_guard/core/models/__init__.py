"""Online anomaly models: declarations (``models/*.yaml``), per-user baselines, population
detectors and the scorer that feeds ``score.<name>`` to rules. See docs/models.md."""

from stream_guard.core.models.registry import ModelRegistry, load_models
from stream_guard.core.models.scoring import ModelScorer, Scores

__all__ = ["ModelRegistry", "ModelScorer", "Scores", "load_models"]
