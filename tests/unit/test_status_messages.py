"""The status domain's words, Block Kit and page arithmetic from plain values (bot/status/messages.py,
uptime.py, page.py): no bot, no database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import opsconfig
from bot.incidents.models import Incident
from bot.status import messages, page, uptime
from bot.status.ids import Block, Impact, Public, View
from bot.status.models import Published, Update

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SEOUL = ZoneInfo("Asia/Seoul")
CONFIG = opsconfig.load()


def incident(**fields) -> Incident:
    values = dict(
        id=1,
        number=7,
        title="Checkout &amp; payments down",
        description=None,
        severity="P1",
        status="open",
        stage="Triage",
        commander="U0BOB",
        reporter="U0ALICE",
        origin_channel=None,
        channel_id="C0INC7",
        channel_name="inc-7",
        kickoff_ts=None,
        announcement_channel=None,
        announcement_ts=None,
        paged_at=None,
        setup_error=None,
        declared_at=NOW - timedelta(hours=2),
        acknowledged_at=None,
        acknowledged_by=None,
        last_update_at=NOW,
        resolved_at=None,
        resolved_by=None,
        summary=None,
    )
    values.update(fields)
    return Incident(**values)


def published(**fields) -> Published:
    values = dict(
        incident_id=1,
        number=7,
        severity="P1",
        public_id="k3v9q2m7xa",
        public_title="Checkout <unavailable>",
        status=Public.INVESTIGATING.value,
        components=["web"],
        published_at=NOW - timedelta(hours=1),
        updated_at=NOW,
        resolved_at=None,
        declared_at=NOW - timedelta(hours=2),
    )
    values.update(fields)
    return Published(**values)


UPDATE = Update(3, 1, NOW, "identified", "A bad deploy &amp; a full disk <@U0BOB|bob>", "U0BOB")


def test_the_first_publication_form_defaults_to_the_incident_and_carries_its_text() -> None:
    view = messages.publish_modal(incident(), CONFIG, "We are on it", "identified", "C0INC7")
    assert view["callback_id"] == View.PUBLISH and view["submit"]["text"] == "Publish"
    title, status, components = (b for b in view["blocks"] if b["type"] == "input")
    assert title["block_id"] == Block.TITLE and title["element"]["initial_value"] == "Checkout & payments down"
    assert status["element"]["initial_option"]["value"] == "identified"
    assert [o["value"] for o in status["element"]["options"]] == [p.value for p in Public]
    assert [o["value"] for o in components["element"]["options"]] == [c.id for c in CONFIG.components]
    assert json.loads(view["private_metadata"]) == {"incident": 1, "body": "We are on it", "channel": "C0INC7"}
    preview = next(b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "Identified" in str(b))
    assert preview == "*Checkout &amp; payments down* — Identified\nWe are on it"


def test_no_components_configured_means_no_components_field() -> None:
    config = CONFIG.model_copy(update={"components": []})
    view = messages.publish_modal(incident(), config, "x", "investigating", None)
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == [Block.TITLE, Block.STATUS]


def test_the_channel_notice_and_the_stakeholder_update_escape_the_public_title_once() -> None:
    notice = messages.published_notice(incident(), published(), UPDATE, ["Web Application"], "https://s.example/status")
    assert notice == (
        ":globe_with_meridians: Published to the <https://s.example/status|status page> by <@U0BOB>: "
        "*Checkout &lt;unavailable&gt;* — Identified (affects Web Application)\n>A bad deploy &amp; a full disk @bob"
    )
    post = messages.stakeholders_update(published(), UPDATE, [], "")
    assert (
        post == ":information_source: *Checkout &lt;unavailable&gt;* — Identified\nA bad deploy &amp; a full disk @bob"
    )


def test_stakeholders_hear_plain_language_without_internal_details() -> None:
    declared = messages.stakeholders_declared(incident(), CONFIG, SEOUL, "https://s.example/status")
    assert declared == (
        ":rotating_light: *We are handling a service down or critical feature broken* (P1) since 19:00 KST. "
        "The team is working on it; updates follow in this channel. "
        "Status page: <https://s.example/status|https://s.example/status>"
    )
    assert "Checkout" not in declared and "C0INC7" not in declared and "U0BOB" not in declared
    done = incident(resolved_at=NOW - timedelta(minutes=30))
    assert messages.stakeholders_resolved(done, None, CONFIG, "", done.resolved_at) == (
        ":white_check_mark: The service down or critical feature broken is resolved, after 1 h 30 min. "
        "Thank you for your patience."
    )
    assert messages.stakeholders_resolved(done, published(), CONFIG, "", done.resolved_at).startswith(
        ":white_check_mark: *Checkout &lt;unavailable&gt;* is resolved"
    )


def test_the_managers_reminder_says_how_long_and_where_to_post() -> None:
    text = messages.manager_reminder(incident(), NOW - timedelta(minutes=45), NOW, timedelta(minutes=30), SEOUL)
    assert text == (
        ":bell: *INC-7 (P1)* has had no stakeholder update for 45 min (since Wed 25 Nov 20:15 KST; the rule is one "
        "every 30 min). Post one in <#C0INC7>: `/incident public` followed by what users should know."
    )


def test_impacts_rank_from_operational_to_major() -> None:
    assert uptime.worst([]) == Impact.OPERATIONAL
    assert uptime.worst([Impact.DEGRADED, Impact.MAJOR, Impact.PARTIAL]) == Impact.MAJOR
    assert [uptime.impact(published(severity=s)) for s in ("P1", "P2", "P3", "P4")] == [
        Impact.MAJOR,
        Impact.PARTIAL,
        Impact.DEGRADED,
        Impact.DEGRADED,
    ]
    resolved = published(status=Public.RESOLVED.value)
    assert uptime.component_status("web", [published(severity="P3"), resolved]) == Impact.DEGRADED
    assert uptime.component_status("api", [published()]) == Impact.OPERATIONAL


def test_the_bar_counts_outages_once_and_degradations_not_at_all() -> None:
    zone = ZoneInfo("UTC")
    two_hours = published(declared_at=NOW - timedelta(hours=2), resolved_at=NOW - timedelta(hours=1))
    overlapping = published(incident_id=2, severity="P2", declared_at=NOW - timedelta(minutes=90), resolved_at=None)
    slow = published(incident_id=3, severity="P3", declared_at=NOW - timedelta(days=3), resolved_at=None)
    bar = uptime.bar("web", [two_hours, overlapping, slow], NOW, zone)
    assert len(bar.days) == uptime.DAYS and bar.days[-1].day == NOW.date()
    today = bar.days[-1]
    assert today.impact == Impact.MAJOR and today.down == timedelta(hours=2)  # 10:00 to now, the overlap once
    assert bar.days[-2].impact == Impact.DEGRADED and bar.days[-2].down == timedelta(0)
    assert bar.incident_days == 4 and bar.days[0].impact == Impact.OPERATIONAL
    window = NOW - uptime.window_start(NOW, zone)
    assert bar.uptime == pytest.approx(100 * (1 - timedelta(hours=2) / window))


def test_a_bar_day_in_words() -> None:
    quiet = uptime.Day(date(2026, 11, 20), Impact.OPERATIONAL, timedelta(0), ())
    assert page.day_text(quiet) == "Fri 20 Nov 2026: no incidents"
    bad = uptime.Day(date(2026, 11, 21), Impact.PARTIAL, timedelta(hours=1, minutes=5), ("Slow API", "Login"))
    assert page.day_text(bad) == "Sat 21 Nov 2026: partial outage, 1 h 5 min down (Slow API; Login)"
