"""The deploy announcement and the answers (bot/deploys/messages.py, answers.py): plain values in, no I/O."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import opsconfig
from bot.deploys import answers, messages
from bot.deploys.ids import Action, Kind, RollbackOffer, Status
from bot.deploys.models import Deploy

CONFIG = opsconfig.load()
ZONE = ZoneInfo("Asia/Seoul")
AT = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def deploy(**changes: object) -> Deploy:
    base = Deploy(
        id=7,
        environment="prod",
        version="v1.4.2",
        kind=Kind.DEPLOY,
        status=Status.PENDING,
        requested_by="U0DAVE",
        forced_reason=None,
        rollback_of=None,
        reason=None,
        channel="C0DEPLOY",
        message_ts="1.2",
        started_by=None,
        started_at=None,
        finished_at=None,
        finished_by=None,
        url=None,
        detail=None,
        validated_at=None,
        watch_until=None,
        watch_result=None,
        created_at=AT,
    )
    return replace(base, **changes)


def action_ids(blocks: list[dict]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def flat(blocks: list[dict]) -> str:
    return "\n".join(str(b) for b in blocks)


def test_a_pending_deploy_shows_its_checklist_and_start_and_cancel() -> None:
    text, blocks = messages.announcement(deploy(), CONFIG, {("pre", "tests"): ("U0BOB", AT)}, ZONE)
    assert text == "Deploy #7 of v1.4.2 to prod: pending"
    assert ":hourglass_flowing_sand: waiting for the checklist" in blocks[0]["text"]["text"]
    assert f"({1}/{len(CONFIG.deploy.pre_deploy_checklist)})" in flat(blocks)
    assert action_ids(blocks)[-2:] == [Action.START, Action.CANCEL]
    checkboxes = [b for b in blocks if b.get("block_id", "").startswith("deploy:7:pre")]
    assert checkboxes and checkboxes[0]["elements"][0]["initial_options"][0]["value"] == "tests"


def test_a_running_deploy_without_a_pipeline_shows_the_command_and_the_mark_buttons() -> None:
    config = CONFIG.model_copy(update={"deploy": CONFIG.deploy.model_copy(update={"webhook_url": None})})
    _, blocks = messages.announcement(deploy(status=Status.RUNNING), config, {}, ZONE)
    assert "Run it now" in flat(blocks)
    assert action_ids(blocks)[-2:] == [Action.MARK_DEPLOYED, Action.MARK_FAILED]
    _, unknown = messages.announcement(deploy(status=Status.RUNNING, outcome_unknown_at=AT), config, {}, ZONE)
    assert "Outcome unknown: check CI." in flat(unknown)


def test_a_succeeded_rollback_shows_the_verify_list_and_no_pre_list() -> None:
    rollback = deploy(kind=Kind.ROLLBACK, status=Status.SUCCEEDED, reason="users see 500s", finished_at=AT)
    text, blocks = messages.announcement(rollback, CONFIG, {}, ZONE)
    assert text.startswith("Rollback #7")
    assert "*Reason:* users see 500s" in blocks[0]["text"]["text"]
    assert any(b.get("block_id", "").startswith("deploy:7:verify") for b in blocks)
    assert not any(b.get("block_id", "").startswith("deploy:7:pre") for b in blocks)


def test_user_text_is_escaped_once() -> None:
    forced = deploy(version="v<1>", forced_reason="fix & go")
    _, blocks = messages.announcement(forced, CONFIG, {}, ZONE)
    head = blocks[0]["text"]["text"]
    assert "`v&lt;1&gt;`" in head and "fix &amp; go" in head and "&amp;amp;" not in head


def test_a_watch_window_closes_healthy_or_offers_the_rollback() -> None:
    watched = deploy(status=Status.SUCCEEDED, finished_at=AT, watch_until=AT + timedelta(minutes=30))
    _, blocks = messages.announcement(watched, CONFIG, {}, ZONE)
    assert "Watch window open until" in flat(blocks)
    text, reminder = messages.watch_reminder(watched, ZONE, "error rate 0.1%")
    assert text == "The watch of Deploy #7 of v1.4.2 to prod is over. Healthy?"
    assert action_ids(reminder) == [Action.HEALTHY, Action.ROLL_BACK] and "error rate 0.1%" in flat(reminder)


def test_the_rollback_offer_carries_what_was_offered() -> None:
    current = deploy(status=Status.SUCCEEDED, finished_at=AT)
    target = deploy(id=6, version="v1.4.1", status=Status.SUCCEEDED, finished_at=AT - timedelta(days=1))
    blocks = messages.rollback_offer("prod", current, target, CONFIG, messages.Prompt("users see 500s"))
    confirm = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e.get("action_id")][-1]
    assert RollbackOffer.parse(confirm["value"]) == RollbackOffer("prod", 7, "v1.4.1", "users see 500s")
    radio = blocks[1]["elements"][0]
    assert radio["initial_option"]["value"] == "other"  # the reason typed is preselected
    picked = messages.rollback_offer(
        "prod", current, target, CONFIG, messages.Prompt(criterion=CONFIG.rollback.criteria[0].id)
    )
    assert picked[1]["elements"][0]["initial_option"]["value"] == CONFIG.rollback.criteria[0].id


def test_the_start_anyway_question_lists_what_is_missing() -> None:
    text, blocks = messages.start_anyway(deploy(environment="staging"), ["Tests pass", "Changelog"])
    assert text == "2 checklist item(s) are not ticked: Tests pass; Changelog. Start anyway?"
    assert action_ids(blocks) == [Action.START_ANYWAY]


def test_answers() -> None:
    d = deploy()
    assert answers.marked(d, "succeeded", "replayed") == "Deploy #7 of v1.4.2 to prod was already marked succeeded."
    assert answers.marked(d, "succeeded", "changed") == "Deploy #7 of v1.4.2 to prod marked succeeded."
    assert answers.marked(None, "failed", "missing") == "That deploy is not running (?)."
    assert answers.say(answers.BY, what="cancelled", actor="U0BOB") == "cancelled by @U0BOB"
    assert answers.expiry_reason(Status.PENDING).startswith("the checklist was not completed")
    assert answers.not_validated("v<2>").startswith("`v&lt;2&gt;` is not validated on staging")
    assert "stays unlocked" in answers.say(
        answers.NOT_ANNOUNCED, d, channel="#zzik-deployments", error="channel_not_found"
    )


def test_the_watch_alarm_escapes_the_criterion_and_the_figure_once() -> None:
    text = messages.watch_breach(deploy(), [("Error rate > 10%", "error rate 20% > 10%")])
    assert text.endswith("*Error rate &gt; 10%*: error rate 20% &gt; 10%")
    assert ">" not in text.replace("&gt;", "") and "&amp;gt;" not in text
