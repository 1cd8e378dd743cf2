"""Liveness and readiness against a real redis-server that the test stops and starts again;
/openapi.json public and complete."""

from __future__ import annotations

from api_helpers import TOKENS, settings_for
from fastapi.testclient import TestClient

from stream_guard.actions.server import RedisServer, free_port
from stream_guard.api.app import api_routes, create_app


def _app(url: str, env, catalog):
    s = settings_for(env).model_copy(update={"redis_url": url})
    return create_app(s, [t.entry for t in TOKENS.values()], catalog=catalog)


def test_readiness_follows_a_redis_that_stops_and_comes_back(env, catalog):
    agent = TOKENS["agent"].headers
    with RedisServer() as server, TestClient(_app(server.url, env, catalog)) as client:
        ready = client.get("/health/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready" and ready.json()["latency_ms"] >= 0
        assert client.get("/api/v1/users/u-1/freezes", headers=agent).status_code == 200

        server.stop()
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert ready.json()["redis"].startswith("unreachable")
        assert client.get("/health/live").json() == {"status": "ok", "redis": None, "latency_ms": None}
        for path in ("/api/v1/users/u-1/freezes", "/api/v1/tasks"):
            res = client.get(path, headers=agent)
            assert res.status_code == 503, path
            assert res.json()["code"] == "redis-unreachable" and res.headers["retry-after"] == "5"
        # without a token it is still 401: nothing is answered before authentication
        assert client.get("/api/v1/tasks").status_code == 401

        server.start()  # the same port: the app reconnects by itself
        assert client.get("/health/ready").status_code == 200
        assert client.get("/api/v1/tasks", headers=agent).status_code == 200


def test_the_app_starts_with_no_redis_at_all(env, catalog):
    with TestClient(_app(f"redis://127.0.0.1:{free_port()}/0", env, catalog)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 503
        assert client.post("/api/v1/tasks/claim", headers=TOKENS["agent"].headers).json()["code"] == "redis-unreachable"


def test_openapi_is_public_and_lists_every_route_with_its_roles(api):
    res = api.get("/openapi.json", None)
    assert res.status_code == 200
    doc = res.json()
    assert doc["info"]["title"] == "Stream Guard API"
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for method, path, perm in api_routes():
        op = doc["paths"][path][method.lower()]
        if perm is None:
            assert "security" not in op and "x-roles" not in op, path
        else:
            assert op["security"] == [{"HTTPBearer": []}], path
            assert op["x-permission"] == perm and op["x-roles"], path
            assert "401" in op["responses"] and "403" in op["responses"], path
            assert op["summary"], path
    # the error body is documented
    assert set(doc["components"]["schemas"]["ErrorBody"]["properties"]) == {"code", "message", "errors"}
    assert doc["paths"]["/api/v1/tasks/{task_id}/resolve"]["post"]["requestBody"]["required"] is True


def test_answers_are_not_cached_and_carry_security_headers(api):
    res = api.get("/api/v1/me")
    assert res.headers["cache-control"] == "no-store"
    assert res.headers["x-content-type-options"] == "nosniff"
    page = api.get("/console/", None)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_metrics_count_requests_by_route_template_and_pass_promtool(api):
    import shutil
    import subprocess

    from prometheus_client.parser import text_string_to_metric_families

    agent = api.tokens["agent"].headers
    for user in ("u-1", "u-2", "<script>"):
        api.client.get(f"/api/v1/users/{user}/freezes", headers=agent)
    api.client.get("/api/v1/tasks")  # no token: 401, counted too
    api.client.get("/no/such/page", headers=agent)
    res = api.client.get("/metrics")  # public
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/plain")
    fams = {f.name: f.samples for f in text_string_to_metric_families(res.text)}
    req = {(s.labels["route"], s.labels["method"], s.labels["status"]): s.value
           for s in fams["stream_guard_http_requests"] if s.name.endswith("_total")}
    assert req[("/api/v1/users/{user_id}/freezes", "GET", "200")] == 3  # never the user id itself
    assert req[("/api/v1/tasks", "GET", "401")] == 1
    assert ("unmatched", "GET", "404") in req or ("unmatched", "GET", "401") in req
    assert not any("u-1" in k[0] or "script" in k[0] for k in req)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: apt-get install prometheus (.ci/run does)"
    check = subprocess.run([promtool, "check", "metrics"], input=res.content, capture_output=True, timeout=30)
    assert check.returncode == 0, (check.stdout + check.stderr).decode()
