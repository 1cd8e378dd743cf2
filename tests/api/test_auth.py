"""Every route's authentication and roles: 401 without a valid token, 403 outside the role.

The matrix below is the documented policy (docs/api.md), written out by hand; the first test
checks that it names every route the app has, so that a new route without an entry here —
and so without these checks — fails the suite.
"""

from __future__ import annotations

import pytest
from api_helpers import TOKENS

from stream_guard.api.app import api_routes
from stream_guard.api.auth import roles_with

ALL = {"agent", "analyst", "admin"}
WORK = {"agent", "admin"}

#: (method, path) → the roles allowed.
MATRIX: dict[tuple[str, str], set[str]] = {
    ("GET", "/api/v1/me"): ALL,
    ("GET", "/api/v1/tasks"): ALL,
    ("GET", "/api/v1/tasks/counts"): ALL,
    ("GET", "/api/v1/tasks/breaches"): ALL,
    ("GET", "/api/v1/tasks/escalations"): ALL,
    ("POST", "/api/v1/tasks/claim"): WORK,
    ("GET", "/api/v1/tasks/{task_id}"): ALL,
    ("GET", "/api/v1/tasks/{task_id}/script"): ALL,
    ("POST", "/api/v1/tasks/{task_id}/renew"): WORK,
    ("POST", "/api/v1/tasks/{task_id}/release"): WORK,
    ("POST", "/api/v1/tasks/{task_id}/resolve"): WORK,
    ("GET", "/api/v1/users/{user_id}/freezes"): ALL,
    ("POST", "/api/v1/users/{user_id}/freezes/lift"): {"admin"},
    ("GET", "/api/v1/users/{user_id}/audit"): ALL,
    ("GET", "/api/v1/users/{user_id}/alerts"): ALL,
    ("GET", "/api/v1/users/{user_id}/tasks"): ALL,
    ("GET", "/api/v1/stats"): {"analyst", "admin"},
}
#: Answered without a token.
PUBLIC = {("GET", "/health/live"), ("GET", "/health/ready"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/")}
MOUNTS = {"/console"}  # static files (the console page asks for a token itself)

#: A concrete request per route: the path filled in, a valid body.
SAMPLES = {"{task_id}": "u-1~1", "{user_id}": "u-1"}
BODIES = {
    "/api/v1/tasks/claim": {"languages": ["ko"]},
    "/api/v1/tasks/{task_id}/resolve": {"outcome": "unreachable", "note": "n"},
    "/api/v1/users/{user_id}/freezes/lift": {"reason": "checked"},
}
QUERIES = {"/api/v1/tasks/{task_id}/script": {"lang": "en"}}


def _request(method: str, path: str) -> tuple[str, dict]:
    url = path
    for k, v in SAMPLES.items():
        url = url.replace(k, v)
    kw: dict = {}
    if path in BODIES:
        kw["json"] = BODIES[path]
    if path in QUERIES:
        kw["params"] = QUERIES[path]
    return url, kw


def _routes(app) -> tuple[set[tuple[str, str]], set[str]]:
    """Every (method, path) the app serves, seen three ways: the routers' routes, the
    operations of /openapi.json (FastAPI's own view, whatever its version), and the routes
    and mounts made on the app itself."""
    from starlette.routing import Mount

    routes = {(m, p) for m, p, _ in api_routes()}
    for path, ops in app.openapi()["paths"].items():
        routes |= {(m.upper(), path) for m in ops}
    mounts = set()
    for r in app.routes:
        if isinstance(r, Mount):
            mounts.add(r.path)
        elif hasattr(r, "methods") and hasattr(r, "path_format"):
            routes |= {(m, r.path_format) for m in r.methods - {"HEAD"}}
    return routes, mounts


def test_the_matrix_names_every_route(api):
    routes, mounts = _routes(api.client.app)
    assert routes == set(MATRIX) | PUBLIC, (
        f"routes without an entry in MATRIX/PUBLIC: {sorted(routes - set(MATRIX) - PUBLIC)}; "
        f"entries without a route: {sorted(set(MATRIX) | PUBLIC - routes)}"
    )
    assert mounts == MOUNTS


def test_each_route_declares_the_permission_of_its_roles(api):
    seen = set()
    for method, path, perm in api_routes():
        seen.add((method, path))
        if (method, path) in PUBLIC:
            assert perm is None, path
        else:
            assert perm is not None and set(roles_with(perm)) == MATRIX[(method, path)], (method, path, perm)
    assert seen >= set(MATRIX)


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda x: x)
def test_route_refuses_missing_and_bad_tokens(api, method, path):
    url, kw = _request(method, path)
    agent = TOKENS["agent"].token
    wrong_secret = agent[: -4] + ("AAAA" if not agent.endswith("AAAA") else "BBBB")
    cases = {
        "no header": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic": {"Authorization": "Basic YWdlbnQ6cGFzcw=="},
        "not a token": {"Authorization": "Bearer hello"},
        "unknown key id": {"Authorization": "Bearer sg_nosuchkey1_" + "x" * 43},
        "wrong secret": {"Authorization": f"Bearer {wrong_secret}"},
        "token without scheme": {"Authorization": agent},
    }
    for what, headers in cases.items():
        res = api.call(method, url, None, headers=headers, **kw)
        assert res.status_code == 401, (what, res.status_code, res.text)
        assert res.headers["www-authenticate"].startswith("Bearer"), what
        assert res.json()["code"] == "unauthorized", what
        assert agent not in res.text
    # a known token sent the wrong way is also refused as invalid, not as missing
    res = api.call(method, url, None, headers={"Authorization": f"Bearer {wrong_secret}"}, **kw)
    assert 'error="invalid_token"' in res.headers["www-authenticate"]


@pytest.mark.parametrize(("method", "path"), sorted(MATRIX), ids=lambda x: x)
def test_route_refuses_roles_outside_its_own(api, method, path):
    url, kw = _request(method, path)
    allowed = MATRIX[(method, path)]
    for who in ("agent", "analyst", "admin"):
        res = api.call(method, url, who, **kw)
        if who in allowed:
            assert res.status_code not in (401, 403), (who, res.status_code, res.text)
        else:
            assert res.status_code == 403, (who, res.status_code, res.text)
            body = res.json()
            assert body["code"] == "forbidden" and TOKENS[who].entry.role in body["message"]


def test_a_bad_body_without_a_token_is_401_not_422(api):
    res = api.client.post("/api/v1/tasks/u-1~1/resolve", content=b"{not json", headers={"Content-Type": "application/json"})
    assert res.status_code == 401
    res = api.client.post("/api/v1/users/u-1/freezes/lift", json={"reason": ""})
    assert res.status_code == 401


def test_unknown_routes_under_api_are_401_without_a_token_and_404_with_one(api):
    assert api.get("/api/v1/nothing-here", None).status_code == 401
    assert api.get("/api/v2/tasks", None).status_code == 401
    res = api.get("/api/v1/nothing-here")
    assert res.status_code == 404 and res.json()["code"] == "not-found"
    # the interactive docs are not served (they would load scripts from a CDN)
    assert api.get("/docs").status_code == 404


def test_public_routes_need_no_token(api):
    assert api.get("/health/live", None).status_code == 200
    assert api.get("/health/ready", None).status_code == 200
    assert api.get("/openapi.json", None).status_code == 200
    res = api.client.get("/", follow_redirects=False)
    assert res.status_code == 307 and res.headers["location"] == "/console/"
    page = api.get("/console/", None)
    assert page.status_code == 200 and "Sign in" in page.text


def test_an_accepted_token_is_hashed_once_per_process(api, monkeypatch):
    from stream_guard.api import auth

    calls = []
    real = auth.verify_hash
    monkeypatch.setattr(auth, "verify_hash", lambda t, h: calls.append(1) or real(t, h))
    for _ in range(5):
        assert api.get("/api/v1/me", "analyst").status_code == 200
    assert len(calls) == 1
    # an unknown key id is refused without hashing at all
    api.call("GET", "/api/v1/me", None, headers={"Authorization": "Bearer sg_nosuchkey1_" + "x" * 43})
    assert len(calls) == 1


def test_me_says_who_and_what(api):
    me = api.get("/api/v1/me", "agent").json()
    assert me["subject"] == "agent-park" and me["role"] == "agent"
    assert me["languages"] == ["ko", "en"] and set(me["queue_languages"]) == {"ko", "en", "zh"}
    assert "tasks:work" in me["permissions"] and "freezes:lift" not in me["permissions"]
    assert api.get("/api/v1/me", "admin").json()["permissions"] == sorted(
        ["me", "tasks:read", "tasks:work", "users:read", "stats:read", "freezes:lift"])
