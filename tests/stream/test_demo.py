"""``stream-guard demo``: the whole system runs, catches attacks, and leaves nothing behind.

The two integration tests run the command as a subprocess (``python -m stream_guard demo``)
and afterwards check by pid, process group and command line that neither the broker nor a
worker of that run is left, and that its temporary directory is gone.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from stream_guard.cli._common import load_rules_or_exit
from stream_guard.core.clock import parse_ts
from stream_guard.core.detector import Detector
from stream_guard.demo import AttackTracker, Demo, DemoOptions
from stream_guard.replay import replay
from stream_guard.scoring import score

_PID = re.compile(r"\(pid (\d+)\)|: pid (\d+),")
_BROKER = re.compile(r"broker (kafka://[\d.]+:\d+)")
_TMP = re.compile(r"worker logs and state in (\S+)")


def _demo(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="120")
    return subprocess.Popen(
        [sys.executable, "-m", "stream_guard", "demo", "--no-live", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _pids(out: str) -> set[int]:
    return {int(a or b) for a, b in _PID.findall(out)}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody reaped is not running either
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (the broker's address)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def _assert_nothing_left(out: str) -> None:
    pids = _pids(out)
    assert len(pids) >= 2, out  # the broker and at least one worker
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not all(_gone(p) for p in pids):
        time.sleep(0.1)
    assert [p for p in pids if not _gone(p)] == []
    assert [p for p in pids if not _group_gone(p)] == []  # nor anything they started
    broker = _BROKER.search(out)
    assert broker is not None, out
    address = broker.group(1).removeprefix("kafka://")
    assert _processes_naming(address) == []
    tmp = _TMP.search(out)
    assert tmp is not None, out
    assert not Path(tmp.group(1)).exists()


def _kill_leftovers(out: str) -> None:
    """After a failed test: make sure this run leaves nothing behind anyway (only then: the
    pids of a run that cleaned up after itself may belong to someone else by now)."""
    for pid in _pids(out):
        if not _gone(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)


@pytest.mark.integration
def test_demo_runs_catches_attacks_and_leaves_nothing(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    proc = _demo("--duration", "45", "--users", "200", "--keep-logs", str(logs))
    try:
        out, errors = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, errors = proc.communicate()
        _kill_leftovers(out)
        pytest.fail(f"the demo did not stop on its own:\n{out}\n{errors}")
    ok = False
    try:
        assert proc.returncode == 0, f"{out}\n{errors}"
        summary = re.search(
            r"([\d,]+) events produced.*?([\d,]+) processed, ([\d,]+) decisions", out
        )
        assert summary is not None, out
        produced, processed, decisions = (int(g.replace(",", "")) for g in summary.groups())
        assert produced > 1_000 and processed > 0 and decisions > 0
        assert "decisions by rule" in out
        kinds = re.search(r"attack kinds caught: (\d+) of 12", out)
        assert kinds is not None and int(kinds.group(1)) >= 3, out
        assert len(re.findall(r"^\[ *[\d.]+s\] caught \w+: ", out, re.M)) >= 3
        assert (logs / "worker-1.log").is_file() and (logs / "broker.log").is_file()
        _assert_nothing_left(out)
        ok = True
    finally:
        if not ok:
            _kill_leftovers(out)


@pytest.mark.integration
def test_ctrl_c_after_the_first_decisions_stops_cleanly() -> None:
    proc = _demo("--users", "200", "--workers", "2")
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    ok = False
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            seen.append(line)
            if re.search(r"\] caught \w+: ", line):  # the first decisions are in
                break
        assert any("] caught " in line for line in seen), "".join(seen)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        reader.join(5)
        while (line := lines.get_nowait() if not lines.empty() else None) is not None:
            seen.append(line)
        out = "".join(seen)
        assert proc.returncode == 0, out + (proc.stderr.read() if proc.stderr else "")
        assert "stopped: Ctrl-C" in out
        _assert_nothing_left(out)
        ok = True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if not ok:
            _kill_leftovers("".join(seen))


def test_the_tracker_counts_what_scoring_counts() -> None:
    """The live count of attacks caught is scoring.score's, one decision at a time."""
    demo = Demo(DemoOptions(users=200))
    traffic = demo._chunk(0, None)
    decisions: list[dict] = []
    replay(
        (orjson.dumps(e) for e in traffic.events),
        Detector(load_rules_or_exit(None)),
        lambda d: decisions.append(d.to_dict()),
    )
    tracker = AttackTracker()
    half = len(decisions) // 2
    for d in decisions[:half]:  # attacks may come to light before or after their decisions
        tracker.add_decision(d)
    for a in traffic.labels["attacks"]:
        tracker.add_attack(a)
    for d in decisions[half:]:
        tracker.add_decision(d)
    expected = score(decisions, traffic.labels)
    assert dict(tracker.caught_by_kind) == {k: n for k, n in expected.caught_by_kind.items() if n}
    assert tracker.caught == sum(expected.caught_by_kind.values()) > 0
    assert len(tracker.catches) == tracker.caught


def test_chunks_follow_each_other_in_event_time() -> None:
    """Each chunk, its users' history included, starts after the previous one ended."""
    demo = Demo(DemoOptions(users=40, days=2))
    after = None
    for k in range(3):
        traffic = demo._chunk(k, after)
        first, last = parse_ts(traffic.events[0]["ts"]), parse_ts(traffic.events[-1]["ts"])
        if after is not None:
            assert first > after
        after = last
