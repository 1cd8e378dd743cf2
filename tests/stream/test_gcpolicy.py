"""The worker's garbage-collection schedule (stream/gcpolicy.py)."""

from __future__ import annotations

import gc

from stream_guard.stream.gcpolicy import GcPolicy


def test_start_freezes_the_setup_and_stops_automatic_full_collections():
    before = gc.get_threshold()
    policy = GcPolicy(interval=60)
    policy.start()
    try:
        assert gc.get_freeze_count() > 0
        young0, young1, full = gc.get_threshold()
        assert (young0, young1) == before[:2] and full >= 2**30
        assert not policy.due()
        assert policy.due(now=policy._last + 61)
        took = policy.collect()
        assert took >= 0 and policy.stats()["gc_full_collections"] == 1
        assert not policy.due()
    finally:
        policy.stop()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0


def test_a_zero_interval_keeps_pythons_own_schedule():
    before = gc.get_threshold()
    policy = GcPolicy(interval=0)
    policy.start()
    assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    assert not policy.due(now=1e12)
    policy.stop()
