"""The manual's incident process, driven with Slack-encoded commands: who commands, long titles, answers that
always reach someone."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import yaml

from bot import opsconfig
from bot.__main__ import main
from bot.deploys import messages as deploy_messages
from bot.deploys.models import Deploy
from bot.fakeslack import FakeSlack, check_blocks, flatten
from bot.incidents import messages as incident_messages
from bot.incidents.ids import Shortcut
from bot.incidents.models import Incident
from bot.slack.text import length
from tests.conftest import ROTA, BotFactory, RunningBot, ask, config_with, eventually, set_up_is_over
from tests.test_manifest import MANIFEST


def rota_config(**incidents: object) -> opsconfig.OpsConfig:
    return config_with(oncall=ROTA, incidents={**opsconfig.load().incidents.model_dump(mode="json"), **incidents})


async def incident(bot: RunningBot, number: int = 1) -> dict:
    return dict(await bot.db.fetchrow("SELECT * FROM incidents WHERE number = $1", number))


async def test_the_on_call_primary_commands_unless_config_says_reporter(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(rota_config())
    said = await ask(fake_slack, bot, "/incident", "p3 Thumbnails missing", user="U0CAROL")
    row = await incident(bot)
    assert (row["reporter"], row["commander"]) == ("U0CAROL", "U0ALICE")  # alice is primary this week
    assert "Commander: <@U0ALICE>." in said
    declared = await bot.db.fetchval("SELECT text FROM incident_events WHERE kind = 'declared'")
    assert "(commander U0ALICE)" in declared
    modal = (await _modal(bot, fake_slack))["blocks"][-1]
    assert modal["label"]["text"] == "Commander (the on-call primary, if left empty)"
    assert "initial_user" not in modal["element"]

    other = await make_bot(rota_config(default_commander="reporter"))
    await ask(fake_slack, other, "/incident", "p3 Avatars missing", user="U0CAROL")
    row = await incident(other, 2)
    assert (row["reporter"], row["commander"]) == ("U0CAROL", "U0CAROL")


async def _modal(bot: RunningBot, fake: FakeSlack) -> dict:
    before = len(fake.calls_to("views.open"))
    await bot.slack.command("/incident", "")
    calls = await eventually(lambda: fake.calls_to("views.open")[before:])
    return calls[0]["view"]


async def test_an_over_long_title_is_declared_shortened_with_the_full_text_kept(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    words = "Checkout & payments fail for <@U0BOB|bob> and every EU customer since the deploy "
    typed = "p4 " + words * 5  # about 400 characters as Slack sends them
    said = await ask(fake_slack, bot, "/incident", typed, user="U0CAROL")
    row = await incident(bot)
    assert row["title"].endswith("…") and length(row["title"]) <= 150
    assert "<@U0BOB|bob>" in row["title"] and "&amp;amp;" not in row["title"]
    assert row["description"] == " ".join(typed[3:].split()).replace("&", "&amp;")
    assert "shortened" in said and "full text is the incident's description" in said
    await eventually(lambda: fake_slack.calls_to("conversations.create"))
    assert len(fake_slack.calls_to("conversations.create")[0]["name"]) <= 80


async def test_an_expired_response_url_falls_back_to_ephemeral_then_dm(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    bot = await make_bot(zzik_ack_budget_seconds=0)  # no answer fits in the ack: every one goes through response_url
    await ask(fake_slack, bot, "/incident", "p3 Search is slow")
    fake_slack.fail("response_url", status=404, error="expired_url")
    await bot.slack.command("/incident", "list")
    ephemeral = await eventually(lambda: fake_slack.calls_to("chat.postEphemeral"))
    assert ephemeral[0]["user"] == "U0ALICE" and "INC-1" in str(ephemeral[0])
    row = await eventually(
        lambda: bot.db.fetchrow(
            "SELECT outcome, detail FROM audit_log WHERE action = '/incident' AND detail->>'text' = 'list'"
        )
    )
    assert row["outcome"] == "answer_fallback" and "expired_url" in row["detail"]

    fake_slack.fail("response_url", status=404, error="used_url")
    fake_slack.fail("chat.postEphemeral", error="channel_not_found", times=2)
    await bot.slack.command("/incident", "list", channel="C0GONE")
    dm = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"])
    assert "INC-1" in dm[0]["text"]
    dm_counted = 'zzik_answer_fallbacks_total{kind="command",name="/incident",route="dm"} 1.0'
    metrics = await eventually(lambda: dm_counted in bot.services.metrics.render().decode() and bot.services.metrics)
    assert 'route="ephemeral"} 1.0' in metrics.render().decode()


LONG_ITEM = ("Check the replication lag on every replica in both regions and note the worst figure " * 2)[:88]


async def test_long_checklists_are_split_never_dropped_and_named_by_check_config(
    make_bot: BotFactory, fake_slack: FakeSlack, tmp_path, capsys
) -> None:
    base = opsconfig.load().incidents.model_dump(mode="json")
    items = [f"Step {n}" for n in range(1, 11)] + [LONG_ITEM]
    base["stages"][3]["items"] = items
    config = config_with(incidents=base)
    assert any("incidents.stages[3].items[10] is 88 characters" in w for w in config.warnings())
    path = tmp_path / "ops.yml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", by_alias=True)), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    assert "incidents.stages[3].items[10] is 88 characters" in capsys.readouterr().out

    bot = await make_bot(config)
    await ask(fake_slack, bot, "/incident", "p3 Replica lag")
    kickoff = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if "kickoff" in c["text"]])
    parts = [b for b in kickoff[0]["blocks"] if b.get("block_id", "").startswith("stage:3")]
    assert [b["block_id"] for b in parts] == ["stage:3", "stage:3:part2"]
    assert [len(b["elements"][0]["options"]) for b in parts] == [10, 1]
    shown = parts[1]["elements"][0]["options"][0]["text"]["text"]
    assert shown.endswith("…") and len(shown) <= 75
    assert not fake_slack.refused
    # Ticking the 11th item (in the second part) keeps the first part's ticks.
    await bot.slack.checkboxes("incident_check:3", "stage:3", ["3:0", "3:1"], channel="C00000001")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 2 FROM incident_checks"))
    await bot.slack.checkboxes("incident_check:3", "stage:3:part2", ["3:10"], channel="C00000001")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 3 FROM incident_checks"))
    assert sorted(r["item"] for r in await bot.db.fetch("SELECT item FROM incident_checks")) == [0, 1, 10]


async def test_a_long_p1_post_mortem_is_split_over_messages(bot: RunningBot, fake_slack: FakeSlack) -> None:
    await ask(fake_slack, bot, "/incident", "p1 Everything is down")
    for n in range(60):
        update = f"update {n:02d} " + ("we know more & more " * 100)[:1990]
        await bot.slack.command("/incident", update, channel="C00000001")
    await eventually(
        lambda: bot.db.fetchval("SELECT count(*) = 60 FROM incident_events WHERE kind = 'update'"), within=30
    )
    fake_slack.clear()
    await bot.slack.command("/incident", "postmortem", channel="C00000001")

    def all_parts() -> list[dict]:  # read afresh on every poll: the parts arrive one after another
        posts = [c for c in fake_slack.calls_to("chat.postMessage") if "Post-mortem" in c["text"]]
        done = len(posts) >= 2 and posts[-1]["text"].endswith(f"(part {len(posts)} of {len(posts)})")
        return posts if done else []

    posts = await eventually(all_parts)
    assert not fake_slack.refused and all(len(p["blocks"]) <= 50 for p in posts)
    everything = "\n".join(flatten(p) for p in posts)
    assert all(
        f"update {n:02d}" not in everything and f"{n:02d} we know more &amp; more" in everything for n in range(60)
    )


async def test_a_deleted_announcement_is_posted_again_and_said_in_its_thread(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Search is slow")
    first = await eventually(lambda: bot.db.fetchval("SELECT announcement_ts FROM incidents"))
    await eventually(set_up_is_over(bot))  # the next edit of the announcement is the stage change's
    # Not the kickoff's: the announcement's, which the bot edits by the id Slack answered its post with.
    fake_slack.fail("chat.update", error="message_not_found", channel=fake_slack.channel_id("#zzik-incidents"))
    await bot.slack.command("/incident", "stage triage", channel="C00000001")
    again = await eventually(
        lambda: bot.db.fetchval("SELECT announcement_ts FROM incidents WHERE announcement_ts <> $1", first)
    )
    note = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c.get("thread_ts") == again])
    assert "could not be updated (`message_not_found`)" in note[0]["text"]
    reposted = [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "#zzik-incidents"]
    assert "*Stage:* Triage" in flatten(reposted[-2 if reposted[-1].get("thread_ts") else -1])
    fake_slack.clear()
    await bot.slack.command("/incident", "stage investigation", channel="C00000001")
    updates = await eventually(lambda: fake_slack.calls_to("chat.update"))
    assert any(u["ts"] == again for u in updates)  # the new one is the one kept up to date


async def test_action_items_have_owners_due_dates_reminders_and_can_be_closed(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    await ask(fake_slack, bot, "/incident", "p3 Search is slow")
    ch = "C00000001"
    said = await ask(
        fake_slack,
        bot,
        "/incident",
        "action Add an index on orders & refunds <@U0BOB|bob> due 2026-12-01",
        channel=ch,
        ephemeral=False,
    )
    assert said == "Action item #1 added to INC-1, owner <@U0BOB>, due 2026-12-01."
    await ask(fake_slack, bot, "/incident", "action Write the runbook", channel=ch, ephemeral=False)
    refused = await ask(fake_slack, bot, "/incident", "action 2026-12-01 due someday", channel=ch)
    assert "`someday` is not a date" in refused
    row = await bot.db.fetchrow("SELECT text, owner, due_on::text FROM incident_actions WHERE id = 1")
    assert tuple(row) == ("Add an index on orders &amp; refunds", "U0BOB", "2026-12-01")

    # The listing has a Done button per open item.
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.command("/incident", "actions", channel=ch)
    [listing] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    buttons = [b["accessory"] for b in listing["blocks"] if "accessory" in b]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("incident_action_done", "1"),
        ("incident_action_done", "2"),
    ]

    # Due: the owner gets a DM at 09:00 in the team's zone, with a Done button.
    clock.set(datetime(2026, 12, 1, 9, 0, 1, tzinfo=UTC))
    await bot.tick()
    dm = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0BOB"])
    assert dm[0]["text"].startswith(
        ":alarm_clock: Action item #1 of INC-1 is due today: Add an index on orders &amp; refunds"
    )

    # Only the owner, the commander or a manager closes it; a second close changes nothing.
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("incident_action_done", "1", user="U0CAROL", channel="D0CAROL")
    [refusal] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert refusal["text"].startswith("Only its owner (<@U0BOB>) or the commander (<@U0ALICE>)")
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("incident_action_done", "1", user="U0BOB", channel="D0BOB")
    [done] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert done["text"] == "Action item #1 of INC-1 is done: Add an index on orders &amp; refunds"
    again = await ask(fake_slack, bot, "/incident", "action done #1", channel=ch, ephemeral=False)
    assert again.startswith("Action item #1 was already done (<@U0BOB>,")
    said = await ask(fake_slack, bot, "/incident", "action done 2", channel=ch, ephemeral=False)
    assert said == "Action item #2 of INC-1 is done: Write the runbook"
    assert await bot.db.fetchval("SELECT count(*) FROM incident_actions WHERE done_at IS NOT NULL") == 2

    # The handoff summary lists only open items.
    await ask(fake_slack, bot, "/incident", "action Follow up with the vendor", channel=ch, ephemeral=False)
    lines = []
    for section in bot.services.handoff_summary:
        lines += await section(bot.services, clock.now() - timedelta(days=7), clock.now())
    text = "\n".join(lines)
    assert "*Open action items (1)*" in text and "Follow up with the vendor" in text and "index" not in text


PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]


async def test_the_kickoff_shows_recent_prod_deploys_with_a_way_back(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    said = await ask(fake_slack, bot, "/deploy", 'prod v7.1 --force "hotfix for the login bug"', user="U0BOB")
    assert "is announced" in said, said
    await bot.slack.checkboxes("deploy_check:pre", "deploy:1:pre", PRE, user="U0BOB", channel="#zzik-deployments")
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 7 FROM deploy_checks"))
    await bot.slack.action("deploy_start", "1", user="U0BOB")
    await eventually(lambda: bot.db.fetchval("SELECT status = 'running' FROM deploys WHERE id = 1"))
    await bot.slack.action("deploy_mark_deployed", "1", user="U0BOB")
    await eventually(lambda: bot.db.fetchval("SELECT status = 'succeeded' FROM deploys WHERE id = 1"))
    clock.advance(timedelta(hours=2))

    await ask(fake_slack, bot, "/incident", "p2 Logins fail")
    kickoff = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if "kickoff" in c["text"]])
    text = flatten(kickoff[0])
    assert "*Recent changes:* prod deploys in the 24 h before the declaration" in text
    assert "`v7.1` by <@U0BOB>, finished" in text
    announced = "\n".join(fake_slack.texts() + fake_slack.texts("chat.update"))
    # Alerts that start in the window are tied to the deploy (tests/test_alerts.py), so the announcement says so.
    assert "Watch window open until" in announced and "alerts that start in it are linked to this deploy" in announced
    [back] = [b for b in kickoff[0]["blocks"] if b.get("block_id") == "recent_changes"]
    assert (back["elements"][0]["action_id"], back["elements"][0]["value"]) == ("rollback_offer", "prod")
    await eventually(set_up_is_over(bot))  # the declaration's own late answer is in before we count
    before = len(fake_slack.calls_to("response_url"))
    await bot.slack.action("rollback_offer", "prod", user="U0BOB", channel="C00000001")
    [answer] = await eventually(lambda: fake_slack.calls_to("response_url")[before:])
    assert "v7.1" in flatten(answer)  # the rollback offer (or why there is nothing to go back to)

    clock.advance(timedelta(days=2))
    await ask(fake_slack, bot, "/incident", "p3 Later one")
    later = await eventually(
        lambda: [c for c in fake_slack.calls_to("chat.postMessage") if "INC-2 kickoff" in c["text"]]
    )
    assert "*Recent changes:* prod deploys in the 24 h before the declaration\n_none_" in flatten(later[0])


async def test_declare_from_a_message_shortcut_prefills_the_form_and_links_the_message(
    bot: RunningBot, fake_slack: FakeSlack
) -> None:
    shortcuts = {s["callback_id"] for s in MANIFEST["features"]["shortcuts"]}
    assert shortcuts == {s.value for s in Shortcut}
    message = {
        "type": "message",
        "user": "U0CAROL",
        "ts": "1700000123.000100",
        "text": "Checkout says &lt;error 500&gt; for <@U0BOB|bob> &amp; others\nsince 10:02, see <https://x.example/log|log>",
    }
    payload = {
        "type": "message_action",
        "callback_id": "incident_declare_from_message",
        "trigger_id": "trig.shortcut.1",
        "response_url": fake_slack.response_url("shortcut"),
        "team": {"id": "T0ZZIK", "domain": "zzik"},
        "channel": {"id": "C0SUPPORT", "name": "zzik-support"},
        "user": {"id": "U0DAVE", "name": "dave"},
        "message_ts": message["ts"],
        "message": message,
    }
    assert (await bot.slack.interactive(payload)).status == 200
    [opened] = await eventually(lambda: fake_slack.calls_to("views.open"))
    view = opened["view"]
    blocks = {b["block_id"]: b for b in view["blocks"]}
    assert blocks["title"]["element"]["initial_value"] == "Checkout says <error 500> for bob & others"
    assert blocks["description"]["element"]["initial_value"].endswith("since 10:02, see log")
    link = "https://zzik.slack.com/archives/C0SUPPORT/p1700000123.000100"
    assert json.loads(view["private_metadata"]) == {"origin": "C0SUPPORT", "source": link}

    values = {
        "title": {"value": {"type": "plain_text_input", "value": blocks["title"]["element"]["initial_value"]}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P2"}}},
        "description": {"value": {"type": "plain_text_input", "value": "from support"}},
    }
    reply = await bot.slack.view_submission(
        "incident_declare", values, user="U0DAVE", private_metadata=view["private_metadata"]
    )
    assert reply.status == 200
    row = await eventually(lambda: bot.db.fetchrow("SELECT * FROM incidents WHERE channel_id IS NOT NULL"))
    assert (
        row["title"] == "Checkout says &lt;error 500&gt; for bob &amp; others" and row["origin_channel"] == "C0SUPPORT"
    )
    await eventually(lambda: bot.db.fetchval("SELECT count(*) FROM incident_events WHERE kind = 'source'"))
    said = await ask(fake_slack, bot, "/incident", "timeline", channel=row["channel_id"])
    assert f"declared from <{link}|the reported message>" in said


async def test_oncall_says_what_each_role_means_from_the_config(make_bot: BotFactory, fake_slack: FakeSlack) -> None:
    oncall = {**ROTA, "roles": {"primary": "First responder & incident commander", "secondary": "Backup"}}
    bot = await make_bot(config_with(oncall=oncall))
    reply = await bot.slack.command("/oncall", "")
    body = reply.json if reply.text else (await eventually(lambda: fake_slack.calls_to("response_url")))[0]
    text = flatten(body)
    assert "What each role means: *Primary:* First responder &amp; incident commander · *Secondary:* Backup" in text


async def test_a_long_maintenance_checklist_fits_one_message_and_says_what_did_not(
    make_bot: BotFactory, fake_slack: FakeSlack
) -> None:
    maintenance = opsconfig.load().maintenance.model_dump(mode="json")
    maintenance["checklists"]["daily"]["items"] = [f"Task {n} & check" for n in range(1, 61)]
    bot = await make_bot(config_with(maintenance=maintenance))
    await bot.slack.command("/maintenance", "post daily")
    posts = await eventually(lambda: [c for c in fake_slack.calls_to("chat.postMessage") if c.get("blocks")])
    blocks = posts[0]["blocks"]
    assert len(blocks) <= 50 and not fake_slack.refused
    boxes = [o for b in blocks if b["type"] == "actions" for e in b["elements"] for o in e.get("options", [])]
    assert len(boxes) == 60  # every task can be ticked
    assert "more open tasks (tick them above; no room for their buttons): " in flatten(posts[0])
    assert "Task 60 &amp; check" in flatten(posts[0])


def test_check_config_names_a_kickoff_slack_cannot_take() -> None:
    incidents = opsconfig.load().incidents.model_dump(mode="json")
    incidents["stages"] = [{"name": f"Stage {n}", "items": [f"Item {i}" for i in range(25)]} for n in range(12)]
    config = config_with(incidents=incidents)
    assert any("make a kickoff of 52 blocks" in w for w in config.warnings())


async def test_a_form_declaration_whose_answer_fails_is_still_told_what_was_done(
    bot: RunningBot, fake_slack: FakeSlack, clock
) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found", channel="U0ALICE")  # the reporter's DM
    values = {
        "title": {"value": {"type": "plain_text_input", "value": "Cart broken"}},
        "severity": {"value": {"type": "static_select", "selected_option": {"value": "P3"}}},
    }
    assert (await bot.slack.view_submission("incident_declare", values)).status == 200
    await eventually(lambda: bot.db.fetchval("SELECT count(*) = 1 FROM incidents WHERE channel_id IS NOT NULL"))

    async def told() -> list[dict]:
        clock.advance(timedelta(minutes=1))
        await bot.tick()
        return [c for c in fake_slack.calls_to("chat.postMessage") if c["channel"] == "U0ALICE"][1:]

    dm = await eventually(told, within=15)
    assert dm[0]["text"].startswith("Declared *INC-1* (P3)")
    everything = "\n".join(fake_slack.texts())
    assert "Something went wrong" not in everything


def _deploy(**values: object) -> Deploy:
    blank = {f.name: None for f in fields(Deploy)}
    return Deploy(**{**blank, "environment": "prod", "kind": "deploy", "status": "succeeded", **values})


def test_texts_name_the_configured_channel_and_zone_and_long_criteria_become_a_menu() -> None:
    rollback = opsconfig.load().rollback.model_dump(mode="json")
    rollback["criteria"] = [{"id": f"c{n}", "text": f"Criterion {n} & more"} for n in range(10)]
    oncall = {**ROTA, "timezone": "Asia/Seoul"}
    channels = {**opsconfig.load().channels.model_dump(mode="json"), "incidents": "#ops-incidents"}
    config = config_with(rollback=rollback, oncall=oncall, channels=channels)
    at = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    current = _deploy(id=2, version="v2", requested_by="U0BOB", finished_at=at, created_at=at)
    target = _deploy(id=1, version="v1", requested_by="U0BOB", finished_at=at, created_at=at)
    blocks = deploy_messages.rollback_offer("prod", current, target, config, deploy_messages.Prompt("users see 500s"))
    assert not check_blocks(blocks, 50)
    [menu] = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "rollback_reason"]
    assert menu["type"] == "static_select" and len(menu["options"]) == 11  # 10 criteria and "Other"
    text = flatten({"blocks": blocks})
    assert "UTC" not in text and "12:00 KST" in text

    incident = Incident(
        **{f.name: None for f in fields(Incident)}
        | {"number": 1, "title": "DB down", "severity": "P1", "channel_id": "C1", "declared_at": at}
    )
    page = incident_messages.page_text(incident, config.severity("P1"), "All hands", config.channels.incidents)
    assert "#ops-incidents" in page and "#zzik-incidents" not in page
