"""The stream-guard command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from stream_guard.cli import app

runner = CliRunner()
GOOD = (
    '{"event_id":"l-1","type":"login","ts":"2026-11-24T09:15:02+09:00","user_id":"u-1",'
    '"success":false,"ip":"45.155.205.17"}'
)


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_help_lists_the_commands():
    res = run("--help")
    assert res.exit_code == 0
    for cmd in ("replay", "rules", "schema", "generate"):
        assert cmd in res.output


def _commands(cmd, path, ctx):
    yield path, cmd
    for name in cmd.list_commands(ctx) if hasattr(cmd, "list_commands") else ():
        sub = cmd.get_command(ctx, name)
        yield from _commands(sub, [*path, name], typer.Context(sub, parent=ctx))


def test_every_help_text_flows_to_the_terminal_width():
    """No hard line break inside a paragraph of any command's help (typer's rich mode keeps
    them: at another width, a lone word on a line); and every command has a help."""
    import typer.main

    root = typer.main.get_command(app)
    seen = list(_commands(root, ["stream-guard"], typer.Context(root)))
    assert len(seen) > 30
    for path, cmd in seen:
        assert cmd.help, path
        assert all("\n" not in p for p in cmd.help.split("\n\n")), (path, cmd.help)


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "stream_guard.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "replay" in out.stdout


def test_rules_check_on_the_bundled_pack():
    res = run("rules", "check")
    assert res.exit_code == 0, res.output
    assert "rules OK" in res.output


def test_rules_check_reports_file_line_column_and_exits_1(tmp_path: Path):
    (tmp_path / "bad.yaml").write_text(
        "rules:\n  - id: oops\n    title: t\n    severity: high\n    on: login\n    when: features.new_devise\n"
    )
    res = run("rules", "check", str(tmp_path))
    assert res.exit_code == 1
    assert "bad.yaml:6:11: rule 'oops': unknown feature 'new_devise'; did you mean 'new_device'? [unknown-feature]" in res.output


def test_rules_test_on_the_bundled_pack():
    res = run("rules", "test")
    assert res.exit_code == 0, res.output
    assert " 0 failed" in res.output


def test_rules_test_fails_on_a_wrong_expectation(tmp_path: Path):
    (tmp_path / "r.yaml").write_text(
        "rules:\n  - id: any_login\n    title: t\n    severity: low\n    on: login\n"
        "    tests:\n      - {name: wrong, events: [{type: login}], expect: no_match}\n"
    )
    res = run("rules", "test", str(tmp_path))
    assert res.exit_code == 1
    assert "FAIL any_login :: wrong" in res.output


def test_replay_reports_invalid_lines_and_keeps_going(tmp_path: Path):
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join([GOOD, "not json", '{"type":"login"}', GOOD.replace("l-1", "l-2")]) + "\n")
    out = tmp_path / "d.jsonl"
    summary = tmp_path / "s.json"
    res = run("replay", str(events), "--out", str(out), "--summary-json", str(summary))
    assert res.exit_code == 0, res.output
    s = orjson.loads(summary.read_bytes())
    assert (s["lines"], s["events"], s["invalid"]) == (4, 2, 2)
    assert [i["line"] for i in s["invalid_lines"]] == [2, 3]
    assert "line 2:" in res.output and "not valid JSON" in res.output


def test_replay_reads_stdin_and_writes_jsonl_to_stdout(tmp_path: Path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text("rules:\n  - id: any_failure\n    title: t\n    severity: low\n    on: login\n    when: not event.success\n")
    res = runner.invoke(app, ["replay", "-", "--rules", str(rules), "-q"], input=GOOD + "\n")
    assert res.exit_code == 0, res.output
    (line,) = [x for x in res.stdout.splitlines() if x.startswith("{")]
    d = orjson.loads(line)
    assert d["rule_id"] == "any_failure" and d["event_id"] == "l-1"


def test_replay_accepts_a_byte_order_mark_and_crlf(tmp_path: Path):
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\xef\xbb\xbf" + GOOD.encode() + b"\r\n" + GOOD.replace("l-1", "l-2").encode() + b"\r\n")
    summary = tmp_path / "s.json"
    res = run("replay", str(events), "-o", str(tmp_path / "d.jsonl"), "--summary-json", str(summary))
    assert res.exit_code == 0, res.output
    s = orjson.loads(summary.read_bytes())
    assert (s["events"], s["invalid"]) == (2, 0)


def test_replay_reads_gzip(tmp_path: Path):
    import gzip

    events = tmp_path / "e.jsonl.gz"
    with gzip.open(events, "wt") as f:
        f.write(GOOD + "\n")
    summary = tmp_path / "s.json"
    res = run("replay", str(events), "-o", str(tmp_path / "d.jsonl"), "--summary-json", str(summary))
    assert res.exit_code == 0, res.output
    assert orjson.loads(summary.read_bytes())["events"] == 1


def test_replay_sample_with_labels(tmp_path: Path):
    summary = tmp_path / "s.json"
    res = run("replay", "--sample", "--out", str(tmp_path / "d.jsonl"), "--summary-json", str(summary))
    assert res.exit_code == 0, res.output
    s = orjson.loads(summary.read_bytes())
    assert s["events"] > 5000 and s["labels"]["recall"] > 0.7
    assert "labelled attacks" in res.output


def test_replay_missing_file_is_a_clear_error(tmp_path: Path):
    res = run("replay", str(tmp_path / "nope.jsonl"))
    assert res.exit_code == 2 and "no such file" in res.output


@pytest.mark.parametrize("bad", ["soon", "0s", "-5m"])
def test_replay_bad_lateness(bad: str):
    res = run("replay", "--sample", "--lateness", bad)
    assert res.exit_code == 2


def test_schema_prints_both_event_types():
    res = run("schema")
    assert res.exit_code == 0
    schema = orjson.loads(res.stdout)
    assert "LoginEvent" in res.stdout and "TransferEvent" in res.stdout and "discriminator" in schema


def test_generate_writes_labelled_traffic(tmp_path: Path):
    res = run("generate", str(tmp_path / "out"), "--users", "40", "--days", "2", "--seed", "3")
    assert res.exit_code == 0, res.output
    labels = orjson.loads((tmp_path / "out" / "labels.json").read_bytes())
    assert labels["attacks"] and labels["benign_users"]
    assert (tmp_path / "out" / "events.jsonl").stat().st_size > 0


def test_tables_written_to_no_terminal_are_wide_unless_columns_says():
    import io

    from stream_guard.cli._common import UNATTENDED_WIDTH, CliConsole

    assert CliConsole(file=io.StringIO(), _environ={}).width == UNATTENDED_WIDTH
    assert CliConsole(file=io.StringIO(), _environ={"COLUMNS": "90"}).width == 90
    assert CliConsole(file=io.StringIO(), width=70, _environ={}).width == 70
    piped = CliConsole(file=io.StringIO(), _environ={})
    piped.size = (100, 30)
    assert piped.width == 100
