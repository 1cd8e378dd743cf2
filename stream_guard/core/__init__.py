"""The broker-free detection core: events, profiles, features, rules and the engine.

Nothing in here imports Kafka, Redis, HTTP, metrics or CLI code (import-linter checks it).
"""
