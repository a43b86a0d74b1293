"""What the incident stories return, in words (bot/incidents/messages.py, records.py, forms.py): no bot, no
database; the config is the built-in one."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import opsconfig
from bot.incidents import forms, messages, records, refusals
from bot.incidents.enums import Severity, Status
from bot.incidents.models import ActionItem, Incident, Page
from bot.incidents.outcomes import (
    Acknowledged,
    ActionAdded,
    ActionClosed,
    AlreadyCommander,
    CommandAnswered,
    CommandAsked,
    CommanderChanged,
    CommandSettled,
    Joined,
    Reopened,
    Resolved,
    SetupUnderWay,
    SeverityChanged,
    StageChanged,
)

AT = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")


def incident(**values: object) -> Incident:
    base = {f.name: None for f in fields(Incident)} | {
        "id": 7,
        "number": 12,
        "title": "Checkout &lt;fails&gt;",
        "severity": Severity.P2,
        "status": Status.OPEN,
        "stage": "Investigation",
        "commander": "U0BOB",
        "reporter": "U0CAROL",
        "channel_id": "C9",
        "declared_at": AT,
        "last_update_at": AT,
    }
    return Incident(**(base | values))  # type: ignore[arg-type]


def page(user: str, delivered: bool, error: str | None = None) -> Page:
    return Page(
        1, f"7:declared:{user}", user, "primary", "P2 incident declared", 1, error, AT if delivered else None, AT
    )


def item(**values: object) -> ActionItem:
    base = {"id": 3, "text": "rotate the keys", "owner": "U0BOB", "created_by": "U0CAROL", "created_at": AT}
    return ActionItem(**(base | {"done_at": None} | values))  # type: ignore[arg-type]


def test_severity_changes_say_what_it_was_and_who_an_escalation_reached() -> None:
    now = incident(severity=Severity.P1)
    assert messages.answer(SeverityChanged(now, "P2"), ZONE) == "INC-12 is now P1 (was P2)."
    paged = SeverityChanged(now, "P2", [page("U0ALICE", True), page("U0MGR", False, "user_not_found")])
    assert messages.answer(paged, ZONE) == (
        "INC-12 is now P1 (was P2). Paged <@U0ALICE>. Could not reach <@U0MGR> (user_not_found)."
    )
    assert messages.answer(SeverityChanged(now, "P2", []), ZONE) == "INC-12 is now P1 (was P2)."


def test_resolving_tells_the_times_to_resolve_and_acknowledge() -> None:
    done = incident(status=Status.RESOLVED, resolved_at=AT + timedelta(hours=2, minutes=5))
    assert (
        messages.answer(Resolved(done), ZONE)
        == "INC-12 resolved after 2 h 05 min (time to acknowledge: never acknowledged)."
    )
    acked = replace(done, acknowledged_at=AT + timedelta(minutes=4))
    assert messages.answer(Resolved(acked), ZONE).endswith("(time to acknowledge: 4 min).")


def test_acknowledging_twice_says_who_did_it_first_in_the_team_zone() -> None:
    acked = incident(acknowledged_at=AT, acknowledged_by="U0ALICE")
    assert messages.answer(Acknowledged(acked), ZONE) == "You acknowledged INC-12."
    again = messages.answer(Acknowledged(acked, already=True), ZONE)
    assert again.startswith("INC-12 was already acknowledged by <@U0ALICE> at ") and "10:00" in again
    in_pagerduty = replace(acked, acknowledged_by=None)  # acknowledged in PagerDuty by someone Slack does not know
    assert "already acknowledged by someone in PagerDuty at " in messages.answer(Acknowledged(in_pagerduty, True), ZONE)


def test_the_other_answers() -> None:
    current = incident()
    said = [
        (StageChanged(current), "INC-12 moved to *Investigation*."),
        (Reopened(current), "INC-12 is reopened, back at *Investigation*; <@U0BOB> has command."),
        (Joined(current, []), "You are in <#C9>."),
        (Joined(current, ["<@U0X> not invited: not_in_channel"]), "<@U0X> not invited: not_in_channel"),
        (CommanderChanged(current), "<@U0BOB> is now the commander of INC-12."),
        (AlreadyCommander(current), "You are already the commander of INC-12."),
        (CommandSettled(current), "That request for command of INC-12 is already settled."),
        (SetupUnderWay(current), "The set-up of INC-12 is under way; give it a moment."),
    ]
    for outcome, words in said:
        assert messages.answer(outcome, ZONE) == words


def test_asking_for_command() -> None:
    current = incident()
    asked = CommandAsked(current, "U0BOB", "the commander, the on-call primary or a manager")
    assert messages.answer(asked, ZONE) == (
        "Only the commander, the on-call primary or a manager may hand over command, so <@U0BOB> is asked to "
        "hand it over to you; you will get a DM with the answer."
    )
    failed = replace(asked, error="channel_not_found")
    assert "could not be sent to <@U0BOB> (channel_not_found): ask them in <#C9>." in messages.answer(failed, ZONE)
    assert messages.answer(CommandAsked(current, "U0BOB", already=True), ZONE) == (
        "You already asked <@U0BOB> for command of INC-12; waiting for the answer."
    )


def test_answering_a_request_for_command() -> None:
    current = incident()
    handed = CommandAnswered(current, "U0DAN", handed_over=True)
    assert messages.answer(handed, ZONE) == "You handed command of INC-12 to <@U0DAN>."
    assert messages.command_verdict(handed, "U0BOB") == "<@U0BOB> handed command of INC-12."
    kept = CommandAnswered(current, "U0DAN", handed_over=False, told_error="ratelimited")
    assert messages.answer(kept, ZONE) == "You kept command of INC-12; <@U0DAN> could not be told (ratelimited)."


def test_action_items() -> None:
    current = incident()
    assert (
        messages.answer(ActionAdded(current, item(), None), ZONE) == "Action item #3 added to INC-12, owner <@U0BOB>."
    )
    unowned = item(owner=None, due_on=date(2027, 1, 5))
    assert messages.answer(ActionAdded(current, unowned, date(2027, 1, 5)), ZONE) == (
        "Action item #3 added to INC-12, due 2027-01-05 (name an owner to have them reminded)."
    )
    done = item(done_at=AT, done_by="U0BOB", text="fix &lt;it&gt;")
    assert messages.answer(ActionClosed(current, done), ZONE) == "Action item #3 of INC-12 is done: fix &lt;it&gt;"
    assert messages.answer(ActionClosed(current, done, already=True), ZONE).startswith(
        "Action item #3 was already done (<@U0BOB>, "
    )
    assert records.action_entry(unowned) == "action item #3: rotate the keys, due 2027-01-05"


def test_the_reporters_answer() -> None:
    current = incident()
    text, blocks = messages.declared(current, [page("U0ALICE", True)], [], shortened=False, pagerduty=None)
    assert text == "Declared *INC-12* (P2): <#C9>. Commander: <@U0BOB>. Paged <@U0ALICE>."
    assert blocks is None
    text, blocks = messages.declared(
        current, [], ["channel topic not set: ratelimited"], shortened=True, pagerduty="Paged in PagerDuty"
    )
    assert "The title was longer than 150 characters" in text and text.endswith("Paged in PagerDuty.")
    assert blocks is not None and "channel topic not set" in blocks[0]["text"]["text"]
    assert blocks[1]["elements"][0]["action_id"] == "incident_retry_setup"
    assert messages.set_up_again(current, [page("U0ALICE", True)], []) == (
        "INC-12 is fully set up: <#C9>. Paged <@U0ALICE>."
    )
    assert messages.set_up_again(current, [], ["a", "b"]) == "INC-12: Slack still refused: a; b"


def test_refusals_name_the_incident() -> None:
    current = incident(status=Status.RESOLVED)
    assert refusals.read_only(current).startswith("INC-12 is resolved, so it is read-only")
    assert refusals.already_severity(current) == "INC-12 is already P2."
    assert (
        refusals.not_a_stage("<!here>", ["Triage", "Fix"])
        == "`@here` is not a stage; the stages are: Triage, Fix."  # a broadcast is neutralised
    )
    assert refusals.no_action_item(4) == "There is no action item #4; `/incident actions` lists them."
    assert (
        refusals.no_action_item(4, current) == "There is no action item #4 of INC-12; `/incident actions` lists them."
    )
    assert refusals.no_action_item(4, listed=False) == "There is no action item #4."


def test_timeline_entries_are_recorded_raw() -> None:
    current = incident(commander="U0BOB", reporter="U0CAROL")
    assert records.declared_entry(current) == "declared P2: Checkout &lt;fails&gt; (commander U0BOB)"
    assert records.declared_entry(replace(current, commander="U0CAROL")) == "declared P2: Checkout &lt;fails&gt;"
    assert records.check_entry("Triage & fix", "Page <people>", ticked=False) == (
        "unticked Triage &amp; fix: Page &lt;people&gt;"
    )
    assert records.escalated_entry("secondary", "U0ALICE", "15 min", None) == (
        "escalated to secondary @U0ALICE (not acknowledged after 15 min)"
    )
    assert records.escalated_entry("manager", None, "30 min", None) == (
        "escalation to manager failed: nobody on call (retried)"
    )


def test_week_in_review() -> None:
    done = incident(status=Status.RESOLVED, resolved_at=AT + timedelta(minutes=30))
    lines = records.week_in_review(declared=[done], resolved=[done], still_open=[], open_actions=[("INC-12", item())])
    assert lines == [
        "*Incidents declared (1)*",
        "INC-12 P2 Checkout &lt;fails&gt; · resolved in 30 min",
        "*Incidents resolved (1)*",
        "INC-12 P2 Checkout &lt;fails&gt; · 30 min",
        "*Open action items (1)*",
        "INC-12 #3 rotate the keys · <@U0BOB>",
    ]
    assert records.week_in_review(declared=[], resolved=[], still_open=[], open_actions=[]) == []


@pytest.fixture(scope="module")
def config() -> opsconfig.OpsConfig:
    return opsconfig.load()


def test_the_announcement_offers_acknowledge_until_someone_does(config: opsconfig.OpsConfig) -> None:
    current = incident()
    _, blocks = messages.announcement(current, config.severity("P2"), ZONE, AT)
    [buttons] = [b for b in blocks if b["type"] == "actions"]
    assert buttons["block_id"] == "incident:7"
    assert [e["action_id"] for e in buttons["elements"]] == [
        "incident_join",
        "incident_acknowledge",
        "incident_take_command",
    ]
    acked = replace(current, acknowledged_at=AT, acknowledged_by="U0ALICE")
    _, blocks = messages.announcement(acked, config.severity("P2"), ZONE, AT)
    assert "incident_acknowledge" not in str(blocks)
    _, blocks = messages.announcement(
        replace(acked, status=Status.RESOLVED, resolved_at=AT), config.severity("P2"), ZONE, AT
    )
    assert not [b for b in blocks if b["type"] == "actions"] and ":large_green_circle:" in blocks[0]["text"]["text"]


def test_the_kickoff_checklist_values_name_stage_and_item(config: opsconfig.OpsConfig) -> None:
    ticks = {(0, 1): ("U0BOB", AT)}
    _, blocks = messages.kickoff(incident(), config.severity("P2"), config, ticks, ZONE)
    boxes = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"]
    assert boxes[0]["action_id"] == "incident_check:0"
    assert [o["value"] for o in boxes[0]["initial_options"]] == ["0:1"]
    assert len(blocks) <= 50


def test_the_declare_form_carries_its_origin(config: opsconfig.OpsConfig) -> None:
    plain = forms.declare_modal(config, "U0CAROL", "C1")
    assert plain["private_metadata"] == "C1" and forms.metadata("C1") == ("C1", None)
    assert [b["block_id"] for b in plain["blocks"]] == ["title", "severity", "description", "commander"]
    linked = forms.declare_modal(config, "U0CAROL", "C1", title="DB down", source="https://x/p1", severity="P1")
    assert forms.metadata(linked["private_metadata"]) == ("C1", "https://x/p1")
    assert linked["blocks"][0]["element"]["initial_value"] == "DB down"
    assert linked["blocks"][1]["element"]["initial_option"]["value"] == "P1"
    assert forms.metadata("{not json") == (None, None)
    assert forms.metadata("") == (None, None)
