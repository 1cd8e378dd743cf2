"""The console's files: bundled in the package, nothing from elsewhere, no HTML built from data."""

from __future__ import annotations

import re

from stream_guard.api.app import CONSOLE_DIR


def test_the_console_is_self_contained():
    files = {p.name: p.read_text(encoding="utf-8") for p in CONSOLE_DIR.iterdir() if p.is_file()}
    assert {"index.html", "console.js", "console.css"} <= set(files)
    for name, text in files.items():
        # no CDN, no font service, no analytics: every URL is relative to this server
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", text), name
        assert "@import" not in text, name
    js = files["console.js"]
    # data reaches the page as text only
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    assert "sessionStorage" in js and "localStorage" not in js  # the token lives in this tab only


def test_the_console_is_served_with_its_files(api):
    for path, kind in (("/console/", "text/html"), ("/console/console.js", "javascript"), ("/console/console.css", "text/css")):
        res = api.get(path, None)
        assert res.status_code == 200 and kind in res.headers["content-type"], path
    assert api.client.get("/console", follow_redirects=False).status_code in (307, 308)
    assert api.get("/console/nope.js", None).status_code == 404
