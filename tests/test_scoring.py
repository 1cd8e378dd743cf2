"""Scoring exactly as EVENTS.md says: enforced decisions only, two hours either side, victims' windows."""

from __future__ import annotations

from stream_guard.scoring import score

LABELS = {
    "benign_users": ["u-1", "u-2", "u-3"],
    "attacks": [
        {"kind": "account_takeover", "user_id": "u-9", "key_event_id": "t-1", "key_ts": "2026-11-20T03:00:00+09:00"},
        {"kind": "credential_stuffing", "user_id": None, "ip": "45.155.205.17", "victims": ["u-1", "u-2"],
         "key_ts": "2026-11-21T02:00:00+09:00"},
    ],
}


def d(user, ts, mode="enforce", group=None):
    return {"user_id": user, "ts": ts, "mode": mode, "group": group}


def test_caught_within_two_hours_either_side():
    r = score([d("u-9", "2026-11-20T01:00:00+09:00")], LABELS)
    assert r.recall_by_kind["account_takeover"] == 1.0
    r = score([d("u-9", "2026-11-20T05:00:01+09:00")], LABELS)
    assert r.recall_by_kind["account_takeover"] == 0.0 and r.missed[0]["kind"] == "account_takeover"


def test_shadow_decisions_do_not_count():
    r = score([d("u-9", "2026-11-20T03:00:00+09:00", mode="shadow"), d("u-3", "2026-11-20T03:00:00+09:00", mode="shadow")], LABELS)
    assert r.recall_by_kind["account_takeover"] == 0.0 and r.benign_flagged == []


def test_stuffing_caught_by_ip_or_half_the_victims():
    by_ip = score([d("u-7", "2026-11-21T01:30:00+09:00", group={"ip": "45.155.205.17"})], LABELS)
    assert by_ip.recall_by_kind["credential_stuffing"] == 1.0
    by_victims = score([d("u-1", "2026-11-21T02:10:00+09:00")], LABELS)
    assert by_victims.recall_by_kind["credential_stuffing"] == 1.0  # one of two is half


def test_victims_are_not_false_positives_inside_their_window_only():
    inside = score([d("u-1", "2026-11-21T03:59:00+09:00")], LABELS)
    assert inside.benign_flagged == []
    outside = score([d("u-1", "2026-11-22T02:00:00+09:00")], LABELS)
    assert outside.benign_flagged == ["u-1"]
    assert outside.benign_flagged_share == 1 / 3
