"""The agents' console end to end: headless Chromium (Debian's, driven by selenium and the
Debian chromedriver) against a real ``stream-guard api`` and a real Redis.

A wrong token is refused with a message; the right one shows the queue with its SLA
countdowns (a breached task highlighted); claiming shows the task's evidence, history, the
call script in the user's language and in another one; resolving as confirmed legitimate
shows the freeze lifted. The user id and the reasons contain markup, which must show as
text and never run. Without Chromium the test fails and says why, it does not skip.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import orjson
import pytest
from api_helpers import FREEZE_24H, TOKENS, callback, decision

from stream_guard.actions.effects import Effects

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,1600",
)
EVIL_USER = 'u-<img src=x onerror="window.pwned=1">'
EVIL_REASON = '<script>window.pwned=2</script>withdrawal far above usual'


@pytest.fixture(scope="module")
def browser():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: the console test needs Debian's Chromium "
                    "(apt-get install chromium chromium-driver; .ci/run installs them)", pytrace=False)
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


def _wait(driver, cond, what: str, timeout: float = 10.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: cond(d), message=what)


def _text(driver, id_: str) -> str:
    return driver.find_element("id", id_).text


def _seed(env, catalog):
    now = time.time()
    # a low-priority task two days old: past its 24 h SLA, highlighted in the queue
    env.clock.t = now - 2 * 86400
    d = decision(1, user="u-old", actions=[callback("low", "old one")])
    env.run(lambda store: Effects(store, catalog).apply(d))
    # the one the agent gets: critical, frozen, an alert sent, markup in the id and reason
    env.clock.t = now
    d = decision(2, user=EVIL_USER, actions=[callback("critical", EVIL_REASON), FREEZE_24H,
                                             {"kind": "alert", "template": "large_withdrawal"}])
    d["title"] = "Large withdrawal <b>relative</b>"
    d["evidence"] = {"amount_z": 7.5, "note": "<img src=x onerror=window.pwned=3>"}
    d["profile"] = {  # as UserProfile.brief gives it
        "account_age_days": 412.5, "countries": ["KR", "JP"], "devices_known": 2, "ips_known": 4,
        "last_login": {"at": "2026-11-23T12:04:00.000Z", "country": "KR", "device": "<b>phone</b>-7"},
        "mfa_enabled": False, "failed_login_streak": 3, "locale": "ko",
        "last_security_change": {"kind": "password", "at": "2026-11-24T00:01:00.000Z"},
        "withdrawals": {"count": 12, "max_krw": 5_000_000, "last_at": "2026-11-20T03:00:00.000Z"},
        "deposits": {"count": 0, "max_krw": 0, "last_at": None},
    }
    env.run(lambda store: Effects(store, catalog).apply(d))


def test_sign_in_claim_resolve_and_see_the_freeze_lifted(browser, server, env, catalog):
    from selenium.webdriver.common.by import By

    _seed(env, catalog)
    browser.get_log("performance")
    browser.get(server.url + "/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(server.url + "/console/")

    # a wrong token: refused, with a message, still on the sign-in form
    box = browser.find_element(By.ID, "token")
    box.send_keys("sg_agentpark1_" + "w" * 43)
    browser.find_element(By.ID, "signin-button").click()
    _wait(browser, lambda d: "not accepted" in _text(d, "signin-error"), "an error for a wrong token")
    assert browser.find_element(By.ID, "desk").is_displayed() is False

    # the right one: the queue, the critical task first, the old one past its SLA
    box.clear()
    box.send_keys(TOKENS["agent"].token)
    browser.find_element(By.ID, "signin-button").click()
    _wait(browser, lambda d: d.find_element(By.ID, "desk").is_displayed(), "the desk after sign-in")
    assert "agent-park (agent)" in _text(browser, "who-text")
    rows = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr") if
                 len(d.find_elements(By.CSS_SELECTOR, "#queue-rows tr")) == 2 else None, "two queued tasks")
    assert rows[0].get_attribute("data-task") == EVIL_USER + "~1"
    assert EVIL_USER + "~1" in rows[0].text and "critical" in rows[0].text and "due in 14m" in rows[0].text
    assert "breached" in rows[1].get_attribute("class") and "OVERDUE by 24h" in rows[1].text
    assert "past SLA 1" in _text(browser, "counts")

    # claim: the task, its evidence and history, the script in Korean, the freeze
    browser.find_element(By.ID, "claim").click()
    _wait(browser, lambda d: d.find_element(By.ID, "task-panel").is_displayed(), "the claimed task")
    assert _text(browser, "task-title") == f"Task {EVIL_USER}~1"
    assert EVIL_REASON in _text(browser, "task-meta")
    assert "Claimed by you" in _text(browser, "task-lease")
    assert "Withdrawals: FROZEN" in _text(browser, "freeze-summary")
    decisions = _text(browser, "decisions")
    assert "Large withdrawal <b>relative</b>" in decisions and "amount_z" in decisions and "7.5" in decisions
    assert "<img src=x onerror=window.pwned=3>" in decisions and "bc1qexampleaddress" in decisions
    user = _text(browser, "user-profile")
    assert "Account 412.5 days old · locale ko" in user and "Signed in from KR, JP (newest first)" in user
    assert "on <b>phone</b>-7" in user and "2FA OFF" in user and "3 failed sign-in(s) in a row" in user
    assert "Last security change: password" in user and "Withdrawals: 12, largest" in user and "Deposits: none" in user
    assert "large_withdrawal_relative" in _text(browser, "user-profile-at")
    assert "created" in _text(browser, "history") and "claimed" in _text(browser, "history")
    assert "[보안 알림]" in _text(browser, "alerts")
    assert _text(browser, "script-title") == catalog.scripts[("ko", "default")].title
    pressed = browser.find_element(By.CSS_SELECTOR, "#script-langs button[aria-pressed=true]")
    assert pressed.text == "ko"

    # the agent switches the script to English, and back
    browser.find_element(By.CSS_SELECTOR, "#script-langs button[data-lang=en]").click()
    _wait(browser, lambda d: _text(d, "script-title") == catalog.scripts[("en", "default")].title, "the English script")
    assert "0.85 BTC" in _text(browser, "script-steps")

    # resolve as confirmed legitimate, with a note: the freeze is lifted
    browser.find_element(By.CSS_SELECTOR, "input[name=outcome][value=confirmed_legitimate]").click()
    browser.find_element(By.ID, "note").send_keys("user confirmed the withdrawal by phone")
    browser.find_element(By.ID, "resolve").click()
    _wait(browser, lambda d: "Recorded: confirmed legitimate" in _text(d, "resolve-result"), "the outcome recorded")
    assert "Freezes lifted" in _text(browser, "resolve-result")
    _wait(browser, lambda d: "Withdrawals: allowed" in _text(d, "freeze-summary"), "the freeze lifted")
    assert "No active freeze" in _text(browser, "freeze-list")
    _wait(browser, lambda d: "state closed" in _text(d, "task-meta"), "the task closed")
    assert "resolved" in _text(browser, "history")
    assert browser.find_element(By.ID, "resolve").is_enabled() is False
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue-rows tr")) == 1, "the queue without it")

    # nothing ran from the data, nothing went wrong, nothing was fetched from elsewhere
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert browser.execute_script("return window.pwned") is None
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    # the one failure is the wrong token's sign-in, which Chromium logs as a failed load
    assert len(severe) == 1 and "/api/v1/me" in severe[0] and "401" in severe[0], severe
    urls = [m["message"]["params"]["request"]["url"]
            for m in (orjson.loads(e["message"]) for e in browser.get_log("performance"))
            if m["message"]["method"] == "Network.requestWillBeSent"]
    assert urls and all(u.startswith(server.url) for u in urls), [u for u in urls if not u.startswith(server.url)]
    assert not browser.find_elements(By.CSS_SELECTOR, "#decisions img, #task-meta script, #queue img")

    # the audit trail says who lifted it and why, as the API reads it
    import http.client
    from urllib.parse import quote

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", f"/api/v1/users/{quote(EVIL_USER, safe='')}/audit", headers=TOKENS["analyst"].headers)
    trail = orjson.loads(conn.getresponse().read())["entries"]
    conn.close()
    assert trail[-1]["action"] == "lift" and trail[-1]["by"] == "agent-park"
    assert "user confirmed the withdrawal by phone" in trail[-1]["reason"]


def test_keyboard_claim_and_a_token_revoked_mid_session(browser, server, env, catalog, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    env.clock.t = time.time()
    env.run(lambda store: Effects(store, catalog).apply(decision(1, user="u-key", locale="en-GB")))
    browser.get(server.url + "/console/")
    browser.execute_script("sessionStorage.clear()")
    browser.get(server.url + "/console/")
    box = browser.find_element(By.ID, "token")
    box.send_keys(TOKENS["agent"].token + Keys.ENTER)  # Enter signs in
    _wait(browser, lambda d: d.find_element(By.ID, "desk").is_displayed(), "the desk")
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#queue-rows tr"), "the queue")
    browser.find_element(By.TAG_NAME, "body").send_keys("n")  # N claims the next task
    _wait(browser, lambda d: _text(d, "task-title") == "Task u-key~1", "the task claimed by keyboard")
    assert browser.switch_to.active_element.get_attribute("id") == "task-title"  # focus moved to it
    assert _text(browser, "script-title") == catalog.scripts[("en", "default")].title  # en-GB → English

    # nothing to claim: said so, not silent
    browser.find_element(By.TAG_NAME, "body").send_keys("n")
    _wait(browser, lambda d: "Nothing is waiting" in _text(d, "status"), "a message that nothing waits")

    # the task is closed elsewhere meanwhile (another tab): the console's resolve fails, visibly
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("POST", "/api/v1/tasks/u-key~1/resolve", body=b'{"outcome": "confirmed_legitimate"}',
                 headers={**TOKENS["agent"].headers, "Content-Type": "application/json"})
    assert conn.getresponse().status == 200
    conn.close()
    browser.find_element(By.CSS_SELECTOR, "input[name=outcome][value=confirmed_fraud]").click()
    browser.find_element(By.ID, "resolve").click()
    _wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed(), "the error banner")
    assert "Could not record the outcome" in _text(browser, "error-text") and "[task-closed]" in _text(browser, "error-text")
    browser.find_element(By.ID, "error-close").click()
    assert not browser.find_element(By.ID, "error").is_displayed()

    # the token stops working (the server restarts without it): the console signs out and says why
    server.stop()
    from api_helpers import ApiServer, write_tokens_file

    others = {k: v for k, v in TOKENS.items() if k != "agent"}
    again = ApiServer(env.url, env.prefix, write_tokens_file(tmp_path / "fewer.yaml", others), log=tmp_path / "api2.log")
    again.port, again.url = server.port, server.url
    again.start()
    try:
        browser.find_element(By.ID, "refresh").click()
        _wait(browser, lambda d: d.find_element(By.ID, "signin").is_displayed(), "back at the sign-in form")
        assert "no longer accepted" in _text(browser, "signin-error")
        assert browser.execute_script("return sessionStorage.length") == 0
    finally:
        again.stop()
