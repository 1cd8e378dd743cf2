"""The HTML report in headless Chromium: every chart drew, no script error, no request.

Chromium and its driver come from Debian (``apt-get install chromium chromium-driver``;
CI's ``.ci/run`` installs them); without them this test fails and says so, it does not skip.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from backtest_fixture import EVENTS, Case, make_case, run_case

from stream_guard.backtest import backtest_json, load_labels
from stream_guard.backtest.report import render_report

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1000",
)
#: A user id that is markup: the report must show it, never run it or fetch its image.
EVIL = 'u-<img src="http://198.51.100.9/x.png" onerror="window.pwned=1">'

case = pytest.fixture(make_case, name="case")


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not found: the report test needs Debian's Chromium "
            "(apt-get install chromium chromium-driver; .ci/run installs them)",
            pytrace=False,
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="sg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def report(case: Case, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    evil = {**EVENTS[4], "event_id": "t-evil", "user_id": EVIL, "ts": "2026-11-02T20:00:00+09:00"}
    with case.events.open("ab") as f:
        f.write(orjson.dumps(evil) + b"\n")
    doc = backtest_json(
        run_case(case), source=str(case.events), labels=load_labels(case.labels), baseline=run_case(case, case.baseline)
    )
    path = tmp_path / "report.html"
    path.write_text(render_report(doc), encoding="utf-8")
    return path, doc


_CHARTS = """
return Array.from(document.querySelectorAll('figure.chart')).map(function (f) {
  var svg = f.querySelector('svg'), box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  var marks = Array.from(f.querySelectorAll('.mark')).filter(function (m) {
    var b = m.getBBox(); return b.width > 0 && b.height > 0;
  });
  return {name: f.dataset.chart, width: box.width, height: box.height, marks: marks.length};
});
"""


def test_every_chart_drew_without_errors_or_requests(browser, report):
    path, doc = report
    browser.get_log("performance")  # drop what came before this page
    browser.get(path.as_uri())
    charts = {c["name"]: c for c in browser.execute_script(_CHARTS)}
    fired = [rid for rid, r in doc["rules"].items() if r["decisions"]]
    expected = {"per-day", "severity", "top-users", "overlap", "recall", "diff", "sensitivity-failed_burst",
                *(f"spark-{rid}" for rid in fired)}
    assert expected <= set(charts), sorted(expected - set(charts))
    for name in expected:
        c = charts[name]
        assert c["width"] > 0 and c["height"] > 0 and c["marks"] > 0, c
    # the per-day chart has a column segment per rule and day with decisions
    segments = sum(1 for r in doc["rules"].values() for n in r["per_day"].values() if n)
    assert charts["per-day"]["marks"] == segments

    assert browser.execute_script("return window.sgErrors") == []
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    assert browser.execute_script("return window.pwned") is None
    requests = [
        m["message"]["params"]
        for m in (orjson.loads(e["message"]) for e in browser.get_log("performance"))
        if m["message"]["method"] == "Network.requestWillBeSent"
    ]
    # the page asked for nothing but itself (chrome:// pages the browser opens for itself
    # are not the report's); and nothing at all went to the network
    ours = [r["request"]["url"] for r in requests if r.get("documentURL") == path.as_uri()]
    assert ours == [path.as_uri()], ours
    assert not [r["request"]["url"] for r in requests if not r["request"]["url"].startswith(("file:", "chrome:", "data:"))]


def test_report_names_every_rule_that_fired_and_shows_markup_as_text(browser, report):
    path, doc = report
    browser.get(path.as_uri())
    text = browser.find_element("tag name", "body").text
    for rid, r in doc["rules"].items():
        if r["decisions"]:
            assert rid in text
    assert EVIL in text  # shown, as text
    html = path.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)


def test_legend_hides_a_rule_in_the_per_day_chart(browser, report):
    path, _ = report
    browser.get(path.as_uri())
    visible = """return Array.from(document.querySelectorAll('#per-day rect[data-series="failed_burst"]'))
                 .filter(function (r) { return r.getBoundingClientRect().width > 0; }).length;"""
    assert browser.execute_script(visible) == 2
    browser.find_element("css selector", '.legend button[data-series="failed_burst"]').click()
    assert browser.execute_script(visible) == 0
