"""Fixtures of the API tests: the actions tests' real Redis and key prefixes, tokens per role,
and the app under a TestClient (or a real uvicorn server, for the browser test).

Tokens are hashed with a small scrypt cost (n=1024) so that the tests stay fast; the code
that checks them is the production one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "actions"))

from actions.conftest import catalog, env, redis_found  # noqa: F401  (the same Redis and prefixes)
from api_helpers import TOKENS, Api, ApiServer, make_app, write_tokens_file


@pytest.fixture
def api(env, catalog) -> Iterator[Api]:  # noqa: F811
    from fastapi.testclient import TestClient

    app = make_app(env, catalog)
    with TestClient(app) as client:
        yield Api(client, env, TOKENS)


@pytest.fixture
def server(env, tmp_path) -> Iterator[ApiServer]:  # noqa: F811
    """A real ``stream-guard api`` (uvicorn) on a free port, on the test's Redis and prefix."""
    s = ApiServer(env.url, env.prefix, write_tokens_file(tmp_path / "tokens.yaml"), log=tmp_path / "api.log").start()
    try:
        yield s
    finally:
        s.stop()
