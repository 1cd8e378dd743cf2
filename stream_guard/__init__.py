"""Stream Guard: a suspicious-activity monitor for cryptocurrency exchanges."""

__version__ = "0.1.0"
