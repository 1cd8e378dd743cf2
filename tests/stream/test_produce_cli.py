"""`stream-guard topics create` and `stream-guard produce` as a user runs them; kcat agrees."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from stream_guard.cli import app
from stream_guard.settings import Settings
from stream_guard.stream.admin import create_topics, partition_counts
from stream_guard.stream.broker import free_port
from stream_guard.stream.producer import produce_file

pytestmark = pytest.mark.integration

runner = CliRunner()
LOGIN = (
    b'{"event_id":"l-1","type":"login","ts":"2026-11-24T09:15:02+09:00","user_id":"u-1029",'
    b'"success":false,"ip":"45.155.205.17"}'
)
TRANSFER = (
    b'{"event_id":"t-1","type":"transfer","ts":"2026-11-24T09:21:40+09:00","user_id":"u-1029",'
    b'"direction":"withdrawal","asset":"BTC","amount":"0.85","value_krw":112000000}'
)


def run(*args: str, input: bytes | None = None):
    return runner.invoke(app, list(args), input=input)


def config_file(tmp_path: Path, s: Settings) -> Path:
    """A TOML settings file naming the topics of ``s`` (the broker comes from --broker)."""
    keys = ("logins_topic", "transfers_topic", "decisions_topic", "dead_letter_topic")
    keys += ("rules_topic", "group_topic", "app_id", "partitions")
    path = tmp_path / "stream-guard.toml"
    path.write_text("".join(f"{k} = {orjson.dumps(getattr(s, k)).decode()}\n" for k in keys))
    return path


def test_topics_create_prints_a_table_and_is_idempotent(tmp_path, broker, make_settings):
    s = make_settings(partitions=2)
    cfg = config_file(tmp_path, s)
    res = run("topics", "create", "--broker", broker.url, "--config", str(cfg))
    assert res.exit_code == 0, res.output
    assert s.logins_topic in res.output and s.rules_topic in res.output
    assert "6 created, 0 already there" in res.output
    assert partition_counts(broker.bootstrap, s.input_topics) == dict.fromkeys(s.input_topics, 2)
    res = run("topics", "create", "-b", broker.bootstrap, "-c", str(cfg), "--partitions", "2")
    assert res.exit_code == 0, res.output
    assert "0 created, 6 already there" in res.output


def test_topics_create_reports_mismatching_inputs(tmp_path, broker, make_settings):
    s = make_settings(partitions=2)
    create_topics(s)
    other = make_settings(partitions=5)
    create_topics(other)
    mixed = Settings(**{**s.model_dump(), "transfers_topic": other.transfers_topic})
    res = run("topics", "create", "-b", broker.url, "-c", str(config_file(tmp_path, mixed)))
    assert res.exit_code == 1
    assert "must have the same partition count" in res.output
    assert f"{s.logins_topic} (2 partitions)" in res.output


def test_unreachable_broker_is_a_readable_error(tmp_path):
    port = free_port()
    res = run("topics", "create", "--broker", f"127.0.0.1:{port}", "--wait", "0.5")
    assert res.exit_code == 1
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in res.output
    assert "Traceback" not in res.output
    events = tmp_path / "e.jsonl"
    events.write_bytes(LOGIN + b"\n")
    res = run("produce", str(events), "--broker", f"127.0.0.1:{port}", "--wait", "0.5")
    assert res.exit_code == 1
    assert f"cannot reach Kafka at 127.0.0.1:{port}" in res.output


def test_bad_usage_exits_2(tmp_path):
    res = run("topics", "create", "--broker", "http://x:1")
    assert res.exit_code == 2 and "unsupported broker scheme" in res.output
    res = run("produce", str(tmp_path / "nope.jsonl"))
    assert res.exit_code == 2 and "no such file" in res.output
    (tmp_path / "e.jsonl").write_bytes(LOGIN)
    res = run("produce", str(tmp_path / "e.jsonl"), "--rate", "0")
    assert res.exit_code == 2 and "--rate" in res.output


def test_produce_a_file_and_report(tmp_path, broker, make_settings, read_back):
    s = make_settings(partitions=2)
    create_topics(s)
    cfg = config_file(tmp_path, s)
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join([LOGIN, b"not json", TRANSFER, b'{"type":"x"}']) + b"\n")
    summary = tmp_path / "summary.json"
    res = run(
        "produce", str(events), "-b", broker.url, "-c", str(cfg), "--summary-json", str(summary)
    )
    assert res.exit_code == 0, res.output
    assert "4 lines, 2 events sent, 2 skipped" in res.output
    assert "line 2:" in res.output and "not valid JSON" in res.output
    assert "line 4:" in res.output and "type is 'x'" in res.output
    got = orjson.loads(summary.read_bytes())
    assert got["sent"] == {s.logins_topic: 1, s.transfers_topic: 1}
    assert [x["line"] for x in got["skipped_lines"]] == [2, 4]
    records = read_back([s.logins_topic, s.transfers_topic], expected=2)
    assert {(r.topic, r.key, r.value) for r in records} == {
        (s.logins_topic, b"u-1029", LOGIN),
        (s.transfers_topic, b"u-1029", TRANSFER),
    }


def test_produce_gzip_and_stdin(tmp_path, broker, make_settings, read_back):
    s = make_settings(partitions=1)
    create_topics(s)
    cfg = config_file(tmp_path, s)
    gz = tmp_path / "e.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(LOGIN + b"\n")
    res = run("produce", str(gz), "-b", broker.url, "-c", str(cfg), "--quiet")
    assert res.exit_code == 0, res.output
    assert res.output == ""
    res = run(
        "produce", "-", "-b", broker.url, "-c", str(cfg), "--rate", "1000", input=TRANSFER + b"\n"
    )
    assert res.exit_code == 0, res.output
    assert "1 events sent" in res.output
    records = read_back([s.logins_topic, s.transfers_topic], expected=2)
    assert sorted(r.value for r in records) == sorted([LOGIN, TRANSFER])


def test_produce_into_missing_topics_says_how_to_create_them(tmp_path, broker, make_settings):
    s = make_settings()
    events = tmp_path / "e.jsonl"
    events.write_bytes(LOGIN + b"\n")
    res = run("produce", str(events), "-b", broker.url, "-c", str(config_file(tmp_path, s)))
    assert res.exit_code == 1
    assert "do not exist" in res.output and "stream-guard topics create" in res.output


def _kcat_or_skip(broker) -> str:
    kcat = shutil.which("kcat")
    if kcat is None:
        pytest.skip("kcat is not installed (apt-get install kcat)")
    probe = subprocess.run(
        [kcat, "-L", "-b", broker.bootstrap, "-m", "1"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if probe.returncode != 0:
        version = subprocess.run([kcat, "-V"], capture_output=True, text=True).stdout
        librdkafka = next((w for w in version.split("librdkafka ")[1:2]), "?").split()[0]
        pytest.skip(
            f"kcat (librdkafka {librdkafka}) cannot talk to the embedded Tansu broker: "
            "it fails to parse Tansu's ApiVersions v3 answer (seen with Debian 12's "
            "librdkafka 2.0.2; librdkafka 2.16 works) "
            f"({probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'no output'})"
        )
    return kcat


def test_kcat_keyed_lines_read_back_like_ours(broker, make_settings, read_back):
    kcat = _kcat_or_skip(broker)
    s = make_settings(partitions=4)
    create_topics(s)
    produce_file([LOGIN], s)
    # kcat needs murmur2 to put a key where Kafka's Java client, produce and the worker do:
    # its default (consistent_random, CRC32) picks other partitions.
    cmd = [kcat, "-P", "-b", broker.bootstrap, "-t", s.logins_topic, "-K", "|"]
    cmd += ["-X", "partitioner=murmur2_random"]
    subprocess.run(cmd, input=b"u-1029|" + LOGIN + b"\n", check=True, timeout=20)
    records = read_back([s.logins_topic], expected=2)
    assert len(records) == 2
    ours, theirs = records
    assert (theirs.key, theirs.value, theirs.partition) == (ours.key, ours.value, ours.partition)
    assert theirs.key == b"u-1029"
