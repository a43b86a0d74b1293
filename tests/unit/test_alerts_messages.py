"""Alert messages (bot/alerts/messages.py): plain values in, Block Kit out; webhook text escaped once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts import messages
from bot.alerts.ids import Acknowledged, Action, Source, Status
from bot.alerts.models import Alert

ZONE = ZoneInfo("UTC")
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=7)


def alert(**changes: object) -> Alert:
    base = Alert(
        id=5,
        source=Source.ALERTMANAGER,
        fingerprint="f1",
        starts_at=START,
        alertname="DiskSpace",
        labels={"alertname": "DiskSpace", "instance": "db-1"},
        annotations={"summary": "12% free on /data <fast>"},
        generator_url=None,
        values_text=None,
        group_key="g",
        status=Status.FIRING,
        ends_at=None,
        priority="P1",
        response_time=timedelta(minutes=5),
        rule=None,
        runbook=None,
        runbook_url=None,
        channel="#zzik-alerts",
        digest_id=None,
        message_channel="C0ALERTS",
        message_ts="1700000000.000100",
        root_id=None,
        previous_id=None,
        episode=1,
        flapping=False,
        primary_user="U0ALICE",
        acknowledged_at=None,
        acknowledged_by=None,
        silence_id=None,
        silenced_until=None,
        silenced_by=None,
        deploy_id=None,
        incident_id=None,
        version=1,
        sent_version=0,
        send_error=None,
        created_at=START,
    )
    return replace(base, **changes)


def buttons(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_a_firing_p1_names_the_primary_and_offers_its_buttons() -> None:
    ctx = messages.Context(now=NOW, zone=ZONE, can_silence=True)
    text, blocks = messages.alert_message(alert(), ctx)
    assert text == "P1 DiskSpace: 12% free on /data &lt;fast&gt; <@U0ALICE>"
    assert ":red_circle: *P1 · DiskSpace* — 12% free on /data &lt;fast&gt;" in blocks[0]["text"]["text"]
    assert "Firing since 09:00 UTC (7m) · respond within 5m" in blocks[0]["text"]["text"]
    assert "`instance=db-1`" in blocks[0]["text"]["text"]
    assert ":pager: <@U0ALICE> (on-call primary)" in blocks[1]["elements"][0]["text"]
    assert buttons(blocks) == [
        Action.ACKNOWLEDGE,
        Action.DECLARE,
        f"{Action.SILENCE}:1h",
        f"{Action.SILENCE}:4h",
    ]


def test_an_acknowledged_or_resolved_alert_stops_naming_the_primary() -> None:
    ctx = messages.Context(now=NOW, zone=ZONE)
    text, blocks = messages.alert_message(alert(acknowledged_at=NOW, acknowledged_by="U0BOB"), ctx)
    assert "<@U0ALICE>" not in text and ":eyes: Acknowledged by <@U0BOB> after 7m" in str(blocks)
    assert Action.ACKNOWLEDGE not in buttons(blocks)
    text, blocks = messages.alert_message(alert(status=Status.RESOLVED, ends_at=NOW), ctx)
    assert text.startswith("Resolved: P1 DiskSpace") and "*Resolved* after 7m" in blocks[0]["text"]["text"]
    assert buttons(blocks) == []


def test_a_p3_does_not_page_and_a_silenced_alert_offers_unsilence() -> None:
    ctx = messages.Context(now=NOW, zone=ZONE, can_silence=True)
    silenced = alert(priority="P3", silence_id="s1", silenced_until=NOW + timedelta(hours=1), silenced_by="U0BOB")
    text, blocks = messages.alert_message(silenced, ctx)
    assert "<@U0ALICE>" not in text and ":mute: Silenced until" in str(blocks)
    assert buttons(blocks)[-1] == Action.UNSILENCE


def test_a_storm_is_one_digest_with_acknowledge_all() -> None:
    from bot.alerts.store import Digest

    digest = Digest(
        id=3,
        group_key="g",
        group_labels={"alertname": "PodCrashLooping"},
        channel="#zzik-alerts",
        message_channel=None,
        message_ts=None,
        opened_at=START,
        closed_at=None,
        acknowledged_at=None,
        acknowledged_by=None,
        version=1,
        sent_version=0,
    )
    pods = [alert(id=i, alertname="PodCrashLooping", annotations={"summary": f"pod-{i}"}) for i in range(1, 4)]
    _, blocks = messages.digest_message(digest, pods, NOW, ZONE)
    ack = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [e["action_id"] for e in ack] == [Action.ACKNOWLEDGE]
    assert Acknowledged.parse(ack[0]["value"]) == Acknowledged(digest=3)


def test_listing_history_and_answers() -> None:
    assert messages.listing([], NOW) == "Nothing is firing."
    listed = messages.listing([alert()], NOW)
    assert "*P1* DiskSpace — 12% free on /data &lt;fast&gt; · for 7m · owner <@U0ALICE> (unacknowledged)" in listed
    assert messages.history([], ZONE) == "No alerts yet."
    assert messages.duration(timedelta(hours=2, minutes=5)) == "2h 5m"
    assert messages.acknowledged(alert(), NOW) == "You acknowledged DiskSpace (P1) after 7m."
    assert messages.already_acknowledged(None) == "Already acknowledged by <@?>."
    assert messages.permalink(alert()) == "https://slack.com/archives/C0ALERTS/p1700000000000100"
    assert messages.permalink(alert(message_ts=None)) is None
    assert messages.escalation_note("5m", "secondary", "U0BOB", None).startswith(":arrow_up:")
    assert messages.escalation_note("5m", "secondary", None, "nobody").endswith("could not be paged: nobody")
    assert (
        messages.rollback_note(alert(values_text="A=0.12"))
        == "Alert DiskSpace: 12% free on /data <fast> · values A=0.12"
    )
