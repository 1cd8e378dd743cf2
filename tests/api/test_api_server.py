"""``stream-guard api`` for real: uvicorn in a child process, plain HTTP from here."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import quote, urlsplit

from api_helpers import FREEZE_24H, TOKENS, callback, decision

from stream_guard.actions.effects import Effects


def _http(server, method: str, path: str, who: str | None = "agent", body: dict | None = None) -> tuple[int, dict, dict]:
    u = urlsplit(server.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if who:
        headers.update(TOKENS[who].headers)
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    res = conn.getresponse()
    data = res.read()
    conn.close()
    return res.status, dict(res.getheaders()), json.loads(data) if data else {}


def test_claim_and_resolve_over_http_with_percent_signs_in_the_user_id(server, env, catalog):
    env.clock.t = time.time()
    user = "u-100%/{x}"
    env.run(lambda store: Effects(store, catalog).apply(decision(1, user=user, actions=[callback(), FREEZE_24H])))

    status, headers, body = _http(server, "GET", "/api/v1/tasks", None)
    assert body["code"] == "unauthorized"
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert "server" not in {k.lower() for k in headers}  # uvicorn's Server header is off

    status, _, st = _http(server, "GET", f"/api/v1/users/{quote(user, safe='')}/freezes")
    assert status == 200 and st["user_id"] == user and st["withdrawals_frozen"] is True

    status, _, view = _http(server, "POST", "/api/v1/tasks/claim", body={"languages": ["ko"]})
    assert status == 200 and view["task"]["user_id"] == user and view["yours"] is True
    task = quote(view["task"]["task_id"], safe="")
    status, _, out = _http(server, "POST", f"/api/v1/tasks/{task}/resolve", body={"outcome": "confirmed_legitimate", "note": "ok"})
    assert status == 200, out
    assert out["freezes"]["withdrawals_frozen"] is False

    status, _, trail = _http(server, "GET", f"/api/v1/users/{quote(user, safe='')}/audit", "analyst")
    assert [e["action"] for e in trail["entries"]] == ["freeze", "lift"] and trail["entries"][1]["by"] == "agent-park"
    status, _, ready = _http(server, "GET", "/health/ready", None)
    assert status == 200 and ready["status"] == "ready"


def test_the_server_log_never_holds_a_token(server, env):
    for who in ("agent", "admin"):
        _http(server, "GET", "/api/v1/me", who)
    _http(server, "GET", "/api/v1/me", None)
    server.stop()
    log = server.log_path.read_text()
    assert '"GET /api/v1/me HTTP/1.1" 200' in log  # the access log is on (--log-level info)
    for t in TOKENS.values():
        assert t.token not in log and t.token.rsplit("_", 1)[1] not in log
