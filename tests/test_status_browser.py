"""The public status page in a real browser: Debian's chromium driven headless by chromedriver (selenium).

What a visitor sees is asserted (each component's status, the 90-day bars and their text alternatives, an
incident's public updates), an XSS title stays inert, long and Korean text stay inside the page, and a
screenshot is kept (the test prints where).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.clock import FrozenClock
from bot.fakeslack import FakeSlack
from tests.conftest import START, BotFactory, RunningBot, ask, config_with, eventually

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("ZZIK_TEST_ARTIFACTS") or Path(tempfile.gettempdir()) / "zzik-test-artifacts")
XSS_TITLE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> 로그인 장애'
LONG_WORD = "https://very-long.example/" + "a" * 300
KOREAN = "일부 사용자가 로그인할 수 없습니다. 원인을 확인했으며 복구 작업을 진행하고 있습니다."


def browser_or_skip() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {', '.join(missing)} (.ci/run installs chromium and chromium-driver)")
        pytest.skip(f"{', '.join(missing)} not installed (apt-get install chromium chromium-driver)")


async def publish(
    bot: RunningBot,
    fake: FakeSlack,
    number: int,
    text: str,
    *,
    title: str | None = None,
    status: str = "investigating",
    components: list[str] | None = None,
) -> None:
    channel = await bot.db.fetchval("SELECT channel_id FROM incidents WHERE number = $1", number)
    forms = len(fake.calls_to("views.open"))
    updates = await bot.db.fetchval("SELECT count(*) FROM status_updates")
    answers = len(fake.calls_to("response_url"))
    reply = await bot.slack.command("/incident", f"public {text}", user="U0CAROL", channel=channel)
    if title is None:  # a later update: previewed, then Publish pressed
        preview = reply.json if reply.text else (await eventually(lambda: fake.calls_to("response_url")[answers:]))[0]
        [button] = [
            e
            for b in preview["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "status_publish_update"
        ]
        await bot.slack.action(button["action_id"], button["value"], user="U0CAROL", channel=channel)
    else:
        view = (await eventually(lambda: fake.calls_to("views.open")[forms:]))[0]["view"]
        values = {
            "public_title": {"value": {"value": title}},
            "public_status": {"value": {"selected_option": {"value": status}}},
            "public_components": {"value": {"selected_options": [{"value": c} for c in components or []]}},
        }
        await bot.slack.view_submission(
            "status_publish", values, user="U0CAROL", view_id=f"VPUB{number}", private_metadata=view["private_metadata"]
        )
    await eventually(lambda: _more(bot, updates))


async def _more(bot: RunningBot, before: int) -> bool:
    return await bot.db.fetchval("SELECT count(*) FROM status_updates") > before


async def resolve(bot: RunningBot, fake: FakeSlack, number: int) -> None:
    channel = await bot.db.fetchval("SELECT channel_id FROM incidents WHERE number = $1", number)
    await ask(fake, bot, "/incident", "resolve", user="U0CAROL", channel=channel, ephemeral=False)


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: str, bg: str) -> float:
    def rgb(css: str) -> tuple[float, float, float]:
        r, g, b = (float(x) for x in re.findall(r"[\d.]+", css)[:3])
        return r, g, b

    light, dark = sorted((_luminance(rgb(fg)), _luminance(rgb(bg))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


DAYS_JS = """
return Array.from(arguments[0].querySelectorAll('li')).map(d => ({
  class: d.className, alt: d.textContent, title: d.title, width: d.offsetWidth, height: d.offsetHeight,
  visible: d.checkVisibility(), colour: getComputedStyle(d).backgroundColor}));
"""


def look_at_the_page(url: str, shot: Path) -> dict[str, Any]:
    """Drive chromium (blocking: run it in a thread so the bot keeps serving) and report what is visible."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    shot.parent.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(20)
        driver.get(url)
        seen: dict[str, Any] = {"title": driver.title}
        seen["h1"] = [h.text for h in driver.find_elements(By.TAG_NAME, "h1")]
        seen["h2"] = [h.text for h in driver.find_elements(By.TAG_NAME, "h2")]
        seen["banner"] = driver.find_element(By.ID, "overall").text
        seen["components"] = {}
        for item in driver.find_elements(By.CSS_SELECTOR, "li.component"):
            status = item.find_element(By.CSS_SELECTOR, ".status")
            bars = item.find_element(By.CSS_SELECTOR, "ol.bars")
            # One round trip for the 90 days (their box, classes and text alternatives), not 90 x 5.
            days = driver.execute_script(DAYS_JS, bars)
            seen["components"][item.find_element(By.TAG_NAME, "h3").text] = {
                "status": status.text if status.is_displayed() else None,
                "status_contrast": contrast(
                    status.value_of_css_property("color"),
                    driver.execute_script("return getComputedStyle(document.body).backgroundColor"),
                ),
                "days": len(days),
                "visible_days": sum(1 for d in days if d["visible"] and d["width"] > 0 and d["height"] > 0),
                "classes": [d["class"] for d in days],
                "alt": [d["alt"] for d in days],
                "tooltips": [d["title"] for d in days],
                "bar_colour": days[-1]["colour"],
                "bars_label": bars.get_attribute("aria-label"),
                "uptime": item.find_element(By.CSS_SELECTOR, ".uptime").text,
            }
        seen["incidents"] = {}
        for article in driver.find_elements(By.CSS_SELECTOR, "article.incident"):
            updates = article.find_elements(By.CSS_SELECTOR, ".updates li")
            seen["incidents"][article.find_element(By.TAG_NAME, "h3").text] = {
                "section": article.find_element(By.XPATH, "ancestor::section").get_attribute("id"),
                "meta": article.find_element(By.CSS_SELECTOR, ".meta").text,
                "updates": [u.text for u in updates if u.is_displayed()],
                "fits": driver.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", article),
            }
        seen["xss"] = driver.execute_script("return window.__xss === undefined ? null : window.__xss")
        seen["scripts"] = len(driver.find_elements(By.TAG_NAME, "script"))
        seen["imgs"] = len(driver.find_elements(By.TAG_NAME, "img"))
        seen["page_fits"] = driver.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        banner = driver.find_element(By.ID, "overall")
        seen["banner_contrast"] = contrast(
            banner.value_of_css_property("color"), banner.value_of_css_property("background-color")
        )
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(int(height) + 100, 8000))
        driver.save_screenshot(str(shot))
        seen["screenshot_bytes"] = shot.stat().st_size
        return seen
    finally:
        driver.quit()


async def test_the_status_page_in_a_real_browser(
    make_bot: BotFactory, fake_slack: FakeSlack, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_or_skip()
    monkeypatch.setenv("SE_OFFLINE", "true")  # selenium-manager must never download a browser or a driver
    bot = await make_bot(config_with(permissions={"deployers": [], "incident_managers": ["U0CAROL"]}))

    # 20 days ago: a 2-hour database outage (a red day on the bar; too old for the incident list).
    clock.set(START - timedelta(days=20))
    await ask(fake_slack, bot, "/incident", "p1 Primary database down", user="U0CAROL")
    await publish(
        bot, fake_slack, 1, "Writes fail", title="Database outage", status="identified", components=["database"]
    )
    clock.advance(timedelta(hours=2))
    await resolve(bot, fake_slack, 1)
    # 3 days ago: 45 minutes of slow API responses (recent).
    clock.set(START - timedelta(days=3))
    await ask(fake_slack, bot, "/incident", "p2 Search latency", user="U0CAROL")
    await publish(bot, fake_slack, 2, "Searches are slow", title="Slow API responses", components=["api"])
    clock.advance(timedelta(minutes=45))
    await resolve(bot, fake_slack, 2)
    # Now: a P1 on the web app, with a hostile public title, Korean and over-long text, two updates.
    clock.set(START)
    await ask(fake_slack, bot, "/incident", "p1 Login broken", user="U0CAROL")
    await publish(bot, fake_slack, 3, KOREAN, title=XSS_TITLE, status="investigating", components=["web"])
    clock.advance(timedelta(minutes=20))
    await publish(bot, fake_slack, 3, f"identified A bad deploy & a full disk. Details: {LONG_WORD}")

    shot = ARTIFACTS / "status-page.png"
    seen = await asyncio.to_thread(look_at_the_page, f"{bot.url}/status", shot)
    print(f"\nstatus page screenshot: {shot}")

    assert seen["title"] == "ZZIK LIVE status" and seen["h1"] == ["ZZIK LIVE status"]
    assert seen["h2"] == ["Components", "Current incidents", "Recent incidents"]
    assert seen["banner"].endswith("Major outage") and seen["banner_contrast"] >= 4.5
    web, api, db = (seen["components"][n] for n in ("Web Application", "API Services", "Database"))
    assert api["status"] == db["status"] == "✓ Operational"
    assert web["status"] == "✕ Major outage"
    for component in (web, api, db):
        assert component["days"] == component["visible_days"] == 90
        assert component["status_contrast"] >= 4.5
        assert "each day of the last 90 days" in component["bars_label"]
    # The bars come from the incident history: which component, which day, for how long.
    assert db["classes"].count("day day-major") == 1 and db["classes"][69] == "day day-major"
    assert db["alt"][69].endswith(": major outage, 2 h down (Database outage)") and db["alt"][69] == db["tooltips"][69]
    assert db["alt"][0].endswith(": no incidents")
    assert db["uptime"].startswith("99.91% uptime over 90 days · 1 day with incidents")
    assert api["classes"][86] == "day day-partial" and "45 min down (Slow API responses)" in api["alt"][86]
    assert web["classes"][-1] == "day day-major" and web["bar_colour"] != db["bar_colour"]
    # Incidents: the current one with its public updates (newest first); the recent one; the old one not listed.
    assert set(seen["incidents"]) == {XSS_TITLE, "Slow API responses"}
    current = seen["incidents"][XSS_TITLE]
    assert current["section"] == "current" and "Affects: Web Application" in current["meta"]
    assert current["updates"][0].startswith("Identified ·")
    assert current["updates"][0].endswith(f"A bad deploy & a full disk. Details: {LONG_WORD}")
    assert current["updates"][1].startswith("Investigating ·") and current["updates"][1].endswith(KOREAN)
    assert current["fits"] and seen["page_fits"]  # the 300-character word wraps instead of widening the page
    recent = seen["incidents"]["Slow API responses"]
    assert recent["section"] == "recent" and recent["updates"][0].startswith("Resolved ·")
    # The hostile title is text: no script ran, no element was injected.
    assert seen["xss"] is None and seen["scripts"] == 0 and seen["imgs"] == 0
    assert seen["screenshot_bytes"] > 10_000
