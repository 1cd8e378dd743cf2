"""`stream-guard shadow-report` reading the decisions topic of the embedded broker."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from backtest_fixture import run_case, write_case
from streaming_helpers import produce_raw
from typer.testing import CliRunner

from stream_guard.cli import app
from stream_guard.core.decisions import Decision
from stream_guard.replay import build_detector, load_pack, replay
from stream_guard.stream.admin import create_topics

pytestmark = pytest.mark.integration

runner = CliRunner()


def test_shadow_report_from_the_topic_equals_the_file(tmp_path: Path, broker, make_settings):
    case = write_case(tmp_path / "case")
    decisions: list[Decision] = []
    with case.events.open("rb") as f:
        replay(f, _detector(case.rules), decisions.append)
    s = make_settings(partitions=3)
    create_topics(s)
    # as the worker writes them (keyed by user, over 3 partitions), plus one redelivery
    # and one message that is not a decision
    messages = [(s.decisions_topic, d.user_id.encode(), d.to_json()) for d in decisions]
    messages += [messages[0], (s.decisions_topic, b"u-x", b"not a decision")]
    produce_raw(s, messages)
    file = tmp_path / "decisions.jsonl"
    file.write_bytes(b"".join(d.to_json() + b"\n" for d in decisions))

    env = {"STREAM_GUARD_DECISIONS_TOPIC": s.decisions_topic}
    res = runner.invoke(app, ["shadow-report", "--broker", broker.url, "--json", "-", "-q"], env=env)
    assert res.exit_code == 0, res.output
    from_topic = orjson.loads(res.stdout)
    res = runner.invoke(app, ["shadow-report", "--decisions", str(file), "--json", "-", "-q"])
    from_file = orjson.loads(res.stdout)
    assert from_topic["rules"] == from_file["rules"]
    assert from_topic["rules"]["big_withdrawal_shadow"]["decisions"] == 4
    assert from_topic["read"]["messages"] == len(decisions) + 2
    assert (from_topic["read"]["duplicates"], from_topic["read"]["invalid"]) == (1, 1)
    assert from_topic["source"] == f"{s.decisions_topic} on {s.broker}"
    assert len(run_case(case).records) == len(decisions)  # the backtest saw the same decisions

    res = runner.invoke(app, ["shadow-report", "--broker", broker.url],
                        env={"STREAM_GUARD_DECISIONS_TOPIC": "no-such-topic-here"})
    assert res.exit_code == 1 and "no topic 'no-such-topic-here'" in res.output


def _detector(rules_dir):
    rules, models = load_pack(rules_dir)
    return build_detector(rules, models=models)
