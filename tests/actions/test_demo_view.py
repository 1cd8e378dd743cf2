"""The demo's live view and summary show what the actions agent did."""

from __future__ import annotations

from rich.console import Console

from stream_guard.cli.demo import print_summary, render, status_line
from stream_guard.demo import ActionsView, Snapshot


def snapshot() -> Snapshot:
    view = ActionsView(
        state="running", decisions=42, tasks_open=7, tasks_by_language={"ko": 4, "en": 1, "zh": 2}, tasks_breached=1,
        freeze_changes=3, alerts=9, alerts_by_language={"ko": 6, "zh": 3},
        latest_alerts=[{"user_id": "u-1", "language": "ko", "title": "[보안 알림] 새로운 기기에서 로그인되었습니다"}],
        latest_freezes=[{"user_id": "u-2", "action": "freeze", "scope": "withdrawals", "reason": "Possible account takeover"}],
    )
    return Snapshot(
        phase="running", uptime=12.0, broker_url="kafka://127.0.0.1:1", broker_pid=1, partitions=4, workers=[],
        produced=100, invalid_sent=0, chunks=1, processed=90, decisions=42, dead_letters=0, late=0,
        produce_rate=10.0, process_rate=9.0, by_rule=[("r", 42)], latest=[], attacks_sent={}, caught_by_kind={},
        catches=0, actions=view,
    )


def text_of(renderable, width: int) -> str:
    c = Console(width=width, record=True, color_system=None)
    c.print(renderable)
    return c.export_text()


def test_live_view_has_the_actions_panel_at_any_width():
    s = snapshot()
    for width in (80, 120, 160):
        out = text_of(render(s, width), width)
        assert "callback tasks open 7" in out and "past SLA 1" in out and "freeze changes 3" in out
        assert "새로운 기기" in out and "withdrawals" in out


def test_summary_and_status_line():
    s = snapshot()
    c = Console(width=200, record=True, color_system=None)

    class FakeDemo:
        failure_summary = None
        stop_reason = "done"

    print_summary(c, FakeDemo(), s)
    out = c.export_text()
    assert "42 decisions acted on · 7 callback tasks open (1 past SLA) · 3 freeze changes published · 9 alerts" in out
    assert "(ko 6, zh 3)" in out
    assert "tasks open 7, freeze changes 3, alerts 9" in status_line(s)
