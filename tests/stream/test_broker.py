"""The embedded broker starts, answers Kafka, stops, and leaves nothing behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from stream_guard.stream.broker import BrokerStartError, EmbeddedBroker, kafka_answers

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_starts_answers_and_stops_without_leaving_a_process():
    broker = EmbeddedBroker().start()
    pid, tmp = broker.pid, broker.log_path.parent
    try:
        assert broker.running and pid is not None
        assert broker.bootstrap == f"127.0.0.1:{broker.port}"
        assert broker.url == f"kafka://127.0.0.1:{broker.port}"
        assert kafka_answers("127.0.0.1", broker.port)
        assert os.getpgid(pid) == pid  # its own process group
        assert "memory://" in broker.log_tail()
    finally:
        broker.stop()
    assert _gone(pid)
    assert not tmp.exists()
    assert not broker.running
    assert not kafka_answers("127.0.0.1", broker.port, timeout=0.2)
    broker.stop()  # idempotent


def test_context_manager_stops_it():
    with EmbeddedBroker() as broker:
        pid = broker.pid
        assert broker.running
    assert _gone(pid)
    assert "stopped" in repr(broker)


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake-broker"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_a_broker_that_exits_is_reported_with_its_log(tmp_path: Path):
    fake = _script(tmp_path, "echo 'boom: cannot bind'\nexit 3\n")
    with pytest.raises(BrokerStartError) as info:
        EmbeddedBroker(binary=fake, port=1).start()
    assert "exited with status 3" in str(info.value)
    assert "boom: cannot bind" in str(info.value)


def test_a_broker_that_never_answers_is_killed(tmp_path: Path):
    pidfile = tmp_path / "pid"
    fake = _script(tmp_path, f"echo $$ > {pidfile}\necho 'starting…'\nexec sleep 30\n")
    broker = EmbeddedBroker(binary=fake, startup_timeout=0.3)
    with pytest.raises(BrokerStartError) as info:
        broker.start()
    assert "did not answer" in str(info.value) and "starting…" in str(info.value)
    assert _gone(int(pidfile.read_text()))
    assert not broker.running
