"""`zzik-bot demo` as a new user meets it: the real process started as the README says, its page driven in a real
browser (Debian's chromium, headless, through chromedriver, as tests/test_status_browser.py does).

One person declares `/incident p1 …` from the composer; the announcement shows in #zzik-incidents and the kickoff
in the new channel; the on-call primary acknowledges with the button, resolves and asks for the post-mortem; a
sample alert lands in #zzik-alerts. Screenshots are kept (the test prints where).
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.ports import free_port
from tests.processes import scratch_database, start_bot, stopped_after
from tests.test_status_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM, browser_or_skip

CHROME_ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000")
STEP = 20.0  # seconds a step may take to show up on the page (a loaded CI machine), polled, never slept


@dataclass
class DemoProcess:
    proc: asyncio.subprocess.Process
    url: str
    started_in: float  # seconds from the process's start to its page answering
    log: Path


@pytest.fixture
async def demo_process(pg_dsn: str, tmp_path: Path) -> AsyncIterator[DemoProcess]:
    """`python -m bot demo --port N` (what `zzik-bot demo` runs) on a scratch database, stopped afterwards."""
    port = free_port()
    log = tmp_path / "demo.log"
    async with scratch_database(pg_dsn) as dsn:
        environment = {**os.environ, "ZZIK_DEMO_DATABASE_URL": dsn, "ZZIK_DATA_DIR": str(tmp_path / "data")}
        for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_API_URL", "DATABASE_URL"):
            environment.pop(name, None)  # the demo needs none of Slack's settings
        began = time.monotonic()
        proc = await start_bot(["demo", "--port", str(port)], environment, log, stdout=True)
        url = f"http://127.0.0.1:{port}"
        async with stopped_after(proc, log, lines=60):
            await _answering(proc, url)
            yield DemoProcess(proc, url, time.monotonic() - began, log)


async def _answering(proc: asyncio.subprocess.Process, url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            assert proc.returncode is None, f"zzik-bot demo exited with {proc.returncode}"
            try:
                async with session.get(url + "/") as answer:
                    if answer.status == 200 and "ZZIK Ops Bot demo" in await answer.text():
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the demo's page did not answer")


def _driver() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROME_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    return driver


class Browser:
    """A person at the page: every step retried until it works or STEP passes (the page refreshes itself when
    the bot posts, so an element found a moment ago may be gone)."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def until(self, step: Callable[[], Any], what: str) -> Any:
        from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException

        deadline = time.monotonic() + STEP
        while True:
            try:
                result = step()
                if result:
                    return result
            except (NoSuchElementException, StaleElementReferenceException, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen in {STEP:.0f} s: {what}\n--- the page ---\n{self.text()}")
            time.sleep(0.2)

    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def messages(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.driver.find_element(By.CSS_SELECTOR, "div.messages").text)

    def sees(self, text: str) -> str:
        """The channel's messages (not the notes or the side panel), once they show `text`."""
        return self.until(lambda: text in self.messages() and self.messages(), repr(text))

    def open_channel(self, label_start: str) -> None:
        from selenium.webdriver.common.by import By

        def click() -> bool:
            link = self.driver.find_element(By.XPATH, f"//nav//a[starts-with(normalize-space(.), '{label_start}')]")
            link.click()
            return self.driver.find_element(By.CSS_SELECTOR, "h2.channel-title").text.startswith(label_start)

        self.until(click, f"the channel {label_start}")

    def act_as(self, user: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        def switch() -> bool:
            Select(self.driver.find_element(By.ID, "as-top")).select_by_value(user)
            self.driver.find_element(By.CSS_SELECTOR, "form.who button[type=submit]").click()
            return f"as={user}" in self.driver.current_url

        self.until(switch, f"acting as {user}")

    def type_command(self, user: str, command: str) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import Select

        def send() -> bool:
            Select(self.driver.find_element(By.ID, "as")).select_by_value(user)
            box = self.driver.find_element(By.ID, "composer")
            box.clear()
            box.send_keys(command)
            self.driver.find_element(By.CSS_SELECTOR, "form.composer button[type=submit]").click()
            return True

        self.until(send, f"sending {command}")

    def click_in_message(self, containing: str, label: str) -> None:
        from selenium.webdriver.common.by import By

        def click() -> bool:
            path = f"//article[contains(., '{containing}')]//button[normalize-space(.)='{label}']"
            self.driver.find_element(By.XPATH, path).click()
            return True

        self.until(click, f"the {label!r} button of the message with {containing!r}")

    def press(self, label: str) -> None:
        from selenium.webdriver.common.by import By

        self.until(
            lambda: self.driver.find_element(By.XPATH, f"//button[normalize-space(.)='{label}']").click() or True,
            f"the {label!r} button",
        )

    def screenshot(self, shot: Path) -> int:
        shot.parent.mkdir(parents=True, exist_ok=True)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1400, min(int(height) + 100, 6000))
        self.driver.save_screenshot(str(shot))
        self.driver.set_window_size(1400, 1000)
        return shot.stat().st_size


def a_new_user_tries_the_demo(url: str) -> dict[str, Any]:
    """The whole story in the browser (blocking: run in a thread)."""
    driver = _driver()
    seen: dict[str, Any] = {}
    try:
        me = Browser(driver)
        driver.get(url + "/")
        seen["title"] = driver.title
        # Dave declares a P1 from the composer in #zzik-incidents.
        me.open_channel("#zzik-incidents")
        me.type_command("U0DAVE", "/incident p1 Search is down")
        seen["announcement"] = me.sees("INC-1 · P1 · Search is down")
        seen["declared"] = me.sees("Only visible to you")
        # The kickoff in the incident's own channel.
        me.open_channel("#inc-1-")
        seen["kickoff"] = me.sees("Tick items as they are done")
        seen["kickoff_shot"] = me.screenshot(ARTIFACTS / "demo-kickoff.png")
        # Alice, the on-call primary, acknowledges with the button on the announcement.
        me.act_as("U0ALICE")
        me.open_channel("#zzik-incidents")
        me.click_in_message("INC-1 · P1 · Search is down", "Acknowledge")
        seen["acknowledged"] = me.sees("You acknowledged INC-1.")
        seen["edited"] = me.sees("(edited)")
        # She resolves it in its channel and asks for the post-mortem.
        me.open_channel("#inc-1-")
        me.type_command("U0ALICE", "/incident resolve Rebuilt the search index")
        seen["resolved"] = me.sees("INC-1 resolved")
        me.type_command("U0ALICE", "/incident postmortem")
        seen["postmortem"] = me.sees("Post-mortem: INC-1 Search is down")
        seen["incident_shot"] = me.screenshot(ARTIFACTS / "demo-incident.png")
        # A sample alert from Alertmanager lands in #zzik-alerts.
        me.press("Fire a sample alert")
        seen["alert"] = me.sees("P1 · HighErrorRate")
        seen["alerts_channel"] = driver.find_element("css selector", "h2.channel-title").text
        seen["screenshot_bytes"] = me.screenshot(ARTIFACTS / "demo.png")
        # A select with focus (and a value) does not stop the live refresh; only a text field typed into does.
        driver.execute_script("window.__shown = 1; document.getElementById('as').focus()")
        _fire_alert(url)
        seen["refreshed"] = me.until(
            lambda: driver.execute_script("return window.__shown === undefined"), "a refresh while a select has focus"
        )
        seen["xss"] = driver.execute_script("return window.__xss === undefined ? null : window.__xss")
        return seen
    finally:
        driver.quit()


def _fire_alert(url: str) -> None:
    """The side panel's sample alert, posted from outside the browser: something new for the page to show."""
    form = urllib.parse.urlencode({"as": "U0ALICE", "c": "C0ALERTS"}).encode()
    with urllib.request.urlopen(urllib.request.Request(url + "/sample/alert", data=form), timeout=20) as answer:
        assert answer.status == 200  # (the redirect followed)


async def test_a_new_user_runs_the_demo_and_handles_an_incident_in_the_browser(
    demo_process: DemoProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_or_skip()
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download a browser or a driver
    print(f"\nzzik-bot demo: the page answered {demo_process.started_in:.1f} s after the process started")
    seen = await asyncio.to_thread(a_new_user_tries_the_demo, demo_process.url)
    shots = ", ".join(str(ARTIFACTS / name) for name in ("demo.png", "demo-kickoff.png", "demo-incident.png"))
    print(f"demo screenshots: {shots}")

    assert seen["title"].endswith("· ZZIK Ops Bot demo")
    assert "Declared INC-1 (P1)" in seen["declared"]
    assert "Acknowledged: not yet" in seen["announcement"]
    assert "Commander: @alice" in seen["kickoff"]
    assert "You acknowledged INC-1." in seen["acknowledged"]
    assert "Post-mortem: INC-1 Search is down" in seen["postmortem"]
    assert seen["alerts_channel"] == "#zzik-alerts" and "on api-1 for 5 minutes" in seen["alert"]
    assert seen["xss"] is None and seen["refreshed"]
    assert min(seen["screenshot_bytes"], seen["kickoff_shot"], seen["incident_shot"]) > 10_000
    log = await asyncio.to_thread(demo_process.log.read_text)
    assert "ZZIK Ops Bot demo: open http://127.0.0.1:" in log  # the address, printed on start
    assert "Traceback" not in log
    assert "migration applied" not in log  # quiet: the bot's info lines (migrations, jobs) need --verbose
