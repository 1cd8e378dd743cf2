"""The API's routes, one module per concern: health, me, tasks, users (freezes, audit, alerts)."""
