"""The Home tab's Block Kit from plain values (bot/home/messages.py): no bot, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import opsconfig
from bot.deploys.models import Deploy
from bot.home.messages import MAX_BLOCKS, MAX_LINES, Home, home_view
from bot.home.models import MyAction, MyIncident, OpenChecklist
from bot.rota.lookup import OnCall, Shift
from bot.slack.blocks import TEXT_LIMIT
from tests.unit.test_deploys_messages import deploy as deploy_value

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # Wednesday 04:00 in Berlin
BERLIN = ZoneInfo("Europe/Berlin")


def on_call(primary: str | None, until: datetime | None = None) -> OnCall:
    return OnCall(
        NOW,
        Shift("primary", primary, until),
        Shift("secondary", "U0BOB", until, override_id=7),
        Shift("manager", None, None),
    )


def deploy(n: int, **fields) -> Deploy:
    running = dict(id=n, version=f"v1.{n}", status="running", channel=None, message_ts=None, started_by="U0DAVE")
    return deploy_value(**(running | {"started_at": NOW - timedelta(minutes=5), "created_at": NOW} | fields))


def home(**fields) -> Home:
    values = dict(
        user="U0ALICE",
        now=NOW,
        team=BERLIN,
        viewer=None,
        on_call=on_call("U0ALICE", NOW + timedelta(days=5)),
        next_on_call=on_call("U0CAROL"),
        next_handoff=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
        incidents=[],
        actions=[],
        deploys=[],
        watches=[],
        checklists=[],
        runbooks=[],
        status_url=None,
    )
    values.update(fields)
    return Home(**values)


def texts(view: dict) -> list[str]:
    out = []
    for block in view["blocks"]:
        if block["type"] in ("section", "header"):
            out.append(block["text"]["text"])
        elif block["type"] == "context":
            out += [e["text"] for e in block["elements"]]
    return out


def section(view: dict, title: str) -> str:
    return next(t for t in texts(view) if t.startswith(f"*{title}*"))


def test_an_empty_home_says_so_in_each_section_in_the_team_zone() -> None:
    view = home_view(home())
    assert view["type"] == "home" and texts(view)[0] == "ZZIK Ops"
    assert texts(view)[1] == "Updated Wed 25 Nov 04:00 CET · opens fresh each time you come here"
    assert section(view, "On call now").splitlines()[1:] == [
        "*Primary:* <@U0ALICE> until Mon 30 Nov 2026 04:00 CET",
        "*Secondary:* <@U0BOB> until Mon 30 Nov 2026 04:00 CET _(override #7)_",
        "*Manager:* _nobody_",
    ]
    assert section(view, "Next, from Mon 30 Nov 10:00 CET").splitlines()[1] == "*Primary:* <@U0CAROL>"
    assert section(view, "Your open incidents").endswith("_none: you command or reported no open incident_")
    assert section(view, "Maintenance checklists with open items").endswith("_all done_")
    assert section(view, "Runbooks").endswith("_none configured_")
    assert not any("status page" in t for t in texts(view))  # no public URL: no link


def test_incidents_actions_deploys_and_checklists_are_one_line_each() -> None:
    view = home_view(
        home(
            incidents=[MyIncident(3, "P1", "DB *down*", "Triage", "C0INC3", NOW, "commander")],
            actions=[MyAction(12, 4, "Write the post-mortem", None)],
            deploys=[deploy(5)],
            watches=[deploy(6, status="succeeded", watch_until=NOW + timedelta(minutes=30)), deploy(7)],
            checklists=[OpenChecklist("daily", NOW, NOW + timedelta(hours=8), "C0DEV", "1.2", ["a", "b"])],
            runbooks=[opsconfig.load().runbooks[0]],
            status_url="https://status.zzik.example/",
        )
    )
    assert section(view, "Your open incidents").splitlines()[1] == (
        "*INC-3* P1 · DB *down* · Triage · you are commander · <#C0INC3>"
    )
    assert section(view, "Your open action items").splitlines()[1] == "#12 Write the post-mortem · INC-4"
    assert section(view, "Deploys in progress").splitlines()[1] == "Deploy #5 of v1.5 to prod · running since 03:55 CET"
    # Only a deploy with a watch window is listed under it.
    assert section(view, "Watch windows open").splitlines()[1:] == ["Deploy #6 of v1.6 to prod · watch until 04:30 CET"]
    assert section(view, "Maintenance checklists with open items").splitlines()[1] == (
        "*Daily* (posted Wed 25 Nov 04:00 CET, due Wed 25 Nov 12:00 CET): a; b"
    )
    runbook = opsconfig.load().runbooks[0]
    assert section(view, "Runbooks").splitlines()[1].startswith(f"`/runbook {runbook.slug}` ")
    assert texts(view)[-1] == "<https://status.zzik.example/|Public status page>"


def test_long_lists_are_cut_with_a_count_and_stay_within_slacks_limits() -> None:
    many = [MyAction(i, i, "x" * 400, f"C{i:08d}") for i in range(40)]
    view = home_view(home(actions=many))
    lines = section(view, "Your open action items").splitlines()[1:]
    assert len(lines) <= MAX_LINES + 1 and lines[-1].startswith("_…and ") and lines[-1].endswith(" more_")
    shown = len(lines) - 1
    assert lines[-1] == f"_…and {40 - shown} more_"
    assert all(len(t) <= TEXT_LIMIT for t in texts(view))
    assert len(view["blocks"]) <= MAX_BLOCKS
    assert all(len(line) < 400 for line in lines)  # each text shortened on its own line, never cut across


def test_user_text_is_escaped_once() -> None:
    view = home_view(home(checklists=[OpenChecklist("weekly", NOW, NOW, None, None, ["<b> & <!channel>"])]))
    line = section(view, "Maintenance checklists with open items").splitlines()[1]
    assert line.endswith("&lt;b&gt; &amp; &lt;!channel&gt;")
    assert "<!channel>" not in json.dumps(view)
