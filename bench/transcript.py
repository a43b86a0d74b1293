"""A transcript of the bot's behaviour for a fixed scenario: what it answered and every call it made, to compare the
same inputs before and after a change (issue 24: "a review compares answers and Slack calls for the same inputs").

The bot runs in this process on a scratch PostgreSQL schema (TEST_DATABASE_URL, else DATABASE_URL; dropped at the
end), with the suite's fakes over real HTTP: Slack (bot/fakeslack.py), PagerDuty (tests/fakepagerduty.py, its v3
webhooks subscribed) and the CI pipeline (tests/fakepipeline.py), and a frozen clock. Each step sends correctly
signed requests (Slack's wire format, tests/slackreq.py) or webhooks, waits until the bot has finished what they
started (no handler, job run or delivery in flight, nothing due), and notes: the HTTP answer (status and body),
every Web API call and response_url post the fake Slack received, the events PagerDuty took and the webhooks it
delivered, and the pipeline's triggers.

What legitimately differs between runs is normalised: message timestamps become the message they name (its channel
and the start of its text), view ids and ports are masked, and the calls of one step are sorted (work done side by
side has no order). One race is the bot's own: PagerDuty is paged side by side with the set-up, so the answer and the
announcement say "Paged in PagerDuty" or "PagerDuty page queued" (then edited to "Paged"); both read "Paged in
PagerDuty (or queued)" and the edit that changes only that is left out. The requests' response_url and trigger ids
are named after the step (`s07-1`). Two runs of the same code give the same transcript.

Steps not covered: what needs Prometheus (`/slo` values, the deploy watch's measurements; `/slo` without Prometheus
is covered) and time passing (escalations, reminders): the clock stays frozen but for one advance before the alert
resolves.

    python bench/transcript.py --out FILE     # run the scenario, write the transcript
    python bench/transcript.py --diff A B     # a readable diff; exit status 1 when they differ
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import json
import os
import re
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from bot import migrate  # noqa: E402
from bot.app import build  # noqa: E402
from bot.clock import FrozenClock  # noqa: E402
from bot.db import Database  # noqa: E402
from bot.fakeslack import FakeSlack  # noqa: E402
from tests.conftest import ROTA, SIGNING_SECRET, START, config_with, test_settings  # noqa: E402
from tests.fakepagerduty import KEY, FakePagerDuty, user  # noqa: E402
from tests.fakepipeline import FakePipeline  # noqa: E402
from tests.slackreq import Reply, SlackRequests  # noqa: E402
from tests.test_alerts import grafana as grafana_body  # noqa: E402

WEBHOOK_SECRET = "test-webhook-secret-77"  # test_settings' zzik_webhook_secret
PD_SECRET = "pd-webhook-secret-transcript"
ALICE_PD = user("PALICE1", "Alice Example")
INC = "C00000001"  # the first incident's channel in the fake Slack
SETTLE_WITHIN = 60.0  # seconds a step's work may take before the step is noted as still going
PEOPLE = (
    ("U0ALICE", "alice", "Asia/Seoul"),
    ("U0BOB", "bob", "Europe/Berlin"),
    ("U0CAROL", "carol", "America/New_York"),
    ("U0DAVE", "dave", "UTC"),
    ("U0MGR", "mallory", "Asia/Seoul"),
)
PRE = ["tests", "security_scan", "benchmarks", "migrations", "rollback_plan", "changelog", "team_notified"]


# -- the fakes, made deterministic -------------------------------------------------------------------------------


class Slack(FakeSlack):
    """The fake Slack, noting which message each `ts` it gave names, and the edits that change nothing once
    normalised (for the normalisation)."""

    def __init__(self) -> None:
        super().__init__()
        self.origin: dict[str, str] = {}
        self.shown: dict[str, tuple[str, str]] = {}  # ts -> the message as it stands: (as sent, normalised)
        self.no_ops: set[int] = set()  # id() of the edits that change only what the normalisation hides

    def _note(self, ts: str, channel: Any, args: dict[str, Any]) -> None:
        text = " ".join(str(args.get("text") or "").replace("<", "").replace(">", "").split())[:40]
        self.origin[ts] = f"{channel}:{text}"

    @staticmethod
    def _content(args: dict[str, Any]) -> tuple[str, str]:
        message = {"text": args.get("text"), "blocks": args.get("blocks")}
        return _key(message), _key(normalise(message, {}))

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        out = super().m_chat_postMessage(args)
        self._note(out["ts"], out["channel"], args)
        self.shown[out["ts"]] = self._content(args)
        return out

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        # The call is the last one recorded: FakeSlack._api appends it and calls this without awaiting between.
        content, ts = self._content(args), str(args.get("ts"))
        shown = self.shown.get(ts)
        if shown is not None and shown[0] != content[0] and shown[1] == content[1]:
            self.no_ops.add(id(self.calls[-1]))  # (an edit that repeats the message as it was stays: a real call)
        self.shown[ts] = content
        return super().m_chat_update(args)

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        out = super().m_chat_postEphemeral(args)
        self._note(out["message_ts"], f"ephemeral {args.get('channel')}/{args.get('user')}", args)
        return out


class Requests(SlackRequests):
    """Signed Slack requests whose response_url and trigger ids are named after the step (not a global counter)."""

    def __init__(self, bot_url: str, response_url: str) -> None:
        super().__init__(bot_url, SIGNING_SECRET, response_url)
        self.step = "start"
        self.serial = 0

    def _next(self) -> str:
        """`s07-2`: the step's number and the request's within it (a URL path segment, unlike the step's name)."""
        self.serial += 1
        return f"{self.step}-{self.serial}"

    def next_response_url(self) -> str:
        return f"{self.response_url}-{self._next()}"

    async def cmd(self, command: str, text: str = "", *, user: str = "U0ALICE", channel: str = "C0GENERAL") -> Reply:
        return await self.command(command, text, user=user, channel=channel, trigger_id=f"trig.{self._next()}")

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        user: str = "U0ALICE",
        channel: str = "C0GENERAL",
        state: dict[str, Any] | None = None,
    ) -> Reply:
        element = {"action_id": action_id, "block_id": "b", "type": "button", "value": value}
        payload = self.block_actions(
            element, user=user, channel=channel, trigger_id=f"trig.{self._next()}", state=state
        )
        payload["actions"][0]["action_ts"] = "1700000000.000000"
        return await self.interactive(payload)

    async def boxes(self, action_id: str, block_id: str, values: list[str], *, user: str, channel: str) -> Reply:
        element = {
            "action_id": action_id,
            "block_id": block_id,
            "type": "checkboxes",
            "selected_options": [{"value": v} for v in values],
        }
        payload = self.block_actions(element, user=user, channel=channel, trigger_id=f"trig.{self._next()}")
        payload["actions"][0]["action_ts"] = "1700000000.000000"
        return await self.interactive(payload)

    async def submit(self, callback_id: str, values: dict[str, Any], *, user: str, private_metadata: str) -> Reply:
        return await self.view_submission(
            callback_id,
            values,
            user=user,
            private_metadata=private_metadata,
            view_id="V0SUBMIT",
            trigger_id=f"trig.{self._next()}",
        )


# -- the run ------------------------------------------------------------------------------------------------------


class Run:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.schema = f"transcript_{uuid.uuid4().hex[:12]}"
        self.clock = FrozenClock(START)
        self.slack = Slack()
        self.pagerduty = FakePagerDuty({KEY})
        self.pipeline = FakePipeline(WEBHOOK_SECRET)
        self.steps: list[dict[str, Any]] = []
        self.app: Any = None
        self.monitor: asyncpg.Connection | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""
        self.requests: Requests
        self.baseline: set[asyncio.Task] = set()

    # -- set-up and tear-down

    async def start(self) -> None:
        for uid, name, tz in PEOPLE:
            self.slack.add_user(uid, name, tz=tz, email=f"{name}@zzik.example")
        await self.slack.start()
        await self.pagerduty.start()
        await self.pipeline.start()
        conn = await asyncpg.connect(self.dsn)
        await conn.execute(f'CREATE SCHEMA "{self.schema}"')
        await conn.close()
        db = Database(self.dsn, schema=self.schema, min_size=1, max_size=5)  # as the suite's make_bot
        await migrate.migrate(db)
        self.monitor = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        deploy = config_with(oncall=ROTA).deploy.model_dump(mode="json")
        deploy["webhook_url"] = self.pipeline.url
        config = config_with(
            oncall=ROTA,
            deploy=deploy,
            permissions={"deployers": ["U0DAVE"], "incident_managers": ["U0DAVE"]},
            pagerduty={"severities": ["P1", "P2"], "users": {"PALICE1": "U0ALICE"}},
        )
        settings = test_settings(
            self.dsn,
            self.slack,
            zzik_pagerduty_routing_key=KEY,
            zzik_pagerduty_events_url=self.pagerduty.url,
            zzik_pagerduty_webhook_secret=PD_SECRET,
            zzik_public_url="https://status.zzik.example",
            zzik_alert_pace_seconds=0.02,
            zzik_ack_budget_seconds=2.0,  # the most allowed: an answer lands in the ack even on a loaded machine
        )
        self.app = build(settings, config, db=db, clock=self.clock, replica_id="r1")
        self.app.services.slack.timeout = 5
        await self.app.start(run_scheduler=False)
        self.runner = web.AppRunner(self.app.web, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        self.requests = Requests(self.url, self.slack.response_url("r"))
        self.pagerduty.subscribe(f"{self.url}/hooks/pagerduty", [PD_SECRET])
        self.baseline = {t for t in asyncio.all_tasks() if not t.done()}

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.app is not None:
            await self.app.stop()
        await self.pagerduty.stop()
        await self.pipeline.stop()
        await self.slack.stop()
        if self.monitor is not None:
            await self.monitor.close()
        conn = await asyncpg.connect(self.dsn)
        await conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')
        await conn.close()

    # -- waiting for a step's work to end

    def busy(self) -> list[str]:
        """The tasks started since the baseline that still run: handlers past their ack, job runs, deliveries,
        requests in flight. Idle keep-alive connections of the servers (RequestHandler.start) are not work."""
        me = asyncio.current_task()
        names = []
        for task in asyncio.all_tasks():
            if task is me or task.done() or task in self.baseline:
                continue
            code = getattr(task.get_coro(), "__qualname__", "")
            if code in ("RequestHandler.start", "BaseConnector._cleanup_closed"):
                continue
            names.append(code or repr(task))
        return names

    async def due(self) -> int:
        """Job runs running, or pending and due; on the script's own connection (the bot's pool is the bot's)."""
        assert self.monitor is not None
        return await self.monitor.fetchval(
            "SELECT count(*) FROM job_runs WHERE status = 'running' OR (status = 'pending' AND due_at <= $1)",
            self.clock.now(),
        )

    async def settle(self) -> list[str]:
        """Wait (polling, never a fixed sleep) until no task the step started runs and no job run is due, running
        due jobs as a scheduler tick would. Notes when work was still going at the deadline."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_WITHIN
        while loop.time() < deadline:
            if self.busy():
                await asyncio.sleep(0.01)
                continue
            if await self.app.services.jobs.tick() or self.busy():
                continue
            if not await self.due():
                return []
            await asyncio.sleep(0.05)
        return [f"still going after {SETTLE_WITHIN:.0f} s: tasks {sorted(self.busy())}, job runs {await self.due()}"]

    # -- a step

    async def step(self, name: str, action: Callable[[], Awaitable[Any]]) -> Any:
        self.requests.step = f"s{len(self.steps) + 1:02d}"
        self.requests.serial = 0
        marks = (
            len(self.slack.calls),
            len(self.pagerduty.received),
            len(self.pagerduty.deliveries),
            len(self.pipeline.received),
        )
        record: dict[str, Any] = {"step": name}
        result = None
        try:
            result = await action()
            record["answers"] = [_answer(r) for r in (result if isinstance(result, list) else [result])]
        except Exception as exc:
            record["failed"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        notes = await self.settle()
        if notes:
            record["notes"] = notes
        calls = self.slack.calls[marks[0] :]
        record["slack"] = sorted(
            (
                {"method": c.method, "args": {k: v for k, v in c.args.items() if k != "token"}}
                for c in calls
                if c.method != "response_url" and id(c) not in self.slack.no_ops
            ),
            key=_key,
        )
        record["response_url"] = sorted((c.args for c in calls if c.method == "response_url"), key=_key)
        record["pagerduty_events"] = sorted(self.pagerduty.received[marks[1] :], key=_key)
        record["pagerduty_webhooks"] = sorted(
            (
                {
                    "event_type": body["event"]["event_type"],
                    "agent": (body["event"].get("agent") or {}).get("id"),
                    "bot_answered": status,
                }
                for body, status in self.pagerduty.deliveries[marks[2] :]
            ),
            key=_key,
        )
        record["pipeline_triggers"] = sorted(self.pipeline.received[marks[3] :], key=_key)
        self.steps.append(record)
        return result

    # -- helpers the scenario uses

    async def hook(self, path: str, body: Any, headers: dict[str, str] | None = None) -> Reply:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        async with aiohttp.ClientSession() as s, s.post(self.url + path, data=data, headers=all_headers) as r:
            return Reply(r.status, await r.text())

    async def alert_hook(self, path: str, body: Any) -> Reply:
        return await self.hook(path, body, {"Authorization": f"Bearer {WEBHOOK_SECRET}"})

    async def pipeline_report(self, deploy_id: int, status: str) -> Reply:
        code, body = await self.pipeline.report(self.url, deploy_id, status, url="https://ci.example/run/1")
        return Reply(code, json.dumps(body))

    def last_call(self, method: str, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        found = [c for c in self.slack.calls_to(method) if where(c)]
        if not found:
            raise LookupError(f"no {method} call found")
        return found[-1]

    def last_button(self, method: str, action_id: str) -> dict[str, Any]:
        """The button `action_id` in the last message (of `method`) that has one: what the person clicks."""
        for call in reversed(self.slack.calls_to(method)):
            found = _buttons(call.get("blocks"), action_id)
            if found:
                return found[0]
        raise LookupError(f"no {method} message with a {action_id} button")

    async def last_id(self, table: str) -> int:
        return await self.app.services.db.fetchval(f"SELECT max(id) FROM {table}")


def _answer(reply: Any) -> Any:
    if isinstance(reply, Reply):
        try:
            body: Any = json.loads(reply.text) if reply.text else ""
        except ValueError:
            body = reply.text
        return {"status": reply.status, "body": body}
    return reply


def _key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def _buttons(blocks: Any, action_id: str) -> list[dict[str, Any]]:
    if not isinstance(blocks, list):
        return []
    return [
        e
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "actions"
        for e in b.get("elements") or []
        if e.get("action_id") == action_id
    ]


# -- the scenario ---------------------------------------------------------------------------------------------------


def alertmanager(status: str, run: Run) -> dict[str, Any]:
    """An Alertmanager (v4) delivery of one critical alert (bench/harness.py's shape), times from the frozen clock."""
    starts = START + timedelta(minutes=-1)
    alert = {
        "status": status,
        "labels": {"alertname": "ServiceDown", "instance": "checkout-1", "severity": "critical"},
        "annotations": {"summary": "Checkout unreachable"},
        "startsAt": starts.isoformat(),
        "endsAt": run.clock.now().isoformat() if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid/graph",
        "fingerprint": "0f1e2d3c4b5a6978",
    }
    return {
        "version": "4",
        "groupKey": '{}:{alertname="ServiceDown",instance="checkout-1"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "zzik",
        "groupLabels": {"alertname": "ServiceDown", "instance": "checkout-1"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": [alert],
    }


def grafana(run: Run) -> dict[str, Any]:
    """Grafana's unified alerting webhook body (the suite's own, tests/test_alerts.py), firing."""
    return grafana_body("firing", run.clock.now(), name="SlowResponse")


async def ship(run: Run, version: str, reason: str) -> None:
    """A forced prod deploy all the way: request, pre-deploy checklist, start, the pipeline's success callback."""
    r = run.requests
    await run.step(
        f"deploy {version}: /deploy prod", lambda: r.cmd("/deploy", f'prod {version} --force "{reason}"', user="U0DAVE")
    )
    deploy_id = await run.last_id("deploys")
    await run.step(
        f"deploy {version}: pre-deploy checklist ticked",
        lambda: r.boxes("deploy_check:pre", f"deploy:{deploy_id}:pre", PRE, user="U0DAVE", channel="C0DEPLOYS"),
    )
    await run.step(f"deploy {version}: Start", lambda: r.click("deploy_start", str(deploy_id), user="U0DAVE"))
    await run.step(f"deploy {version}: pipeline reports succeeded", lambda: run.pipeline_report(deploy_id, "succeeded"))


async def scenario(run: Run) -> None:
    r = run.requests

    # An incident from declaration to resolution, reopened and resolved again.
    await run.step(
        "incident: /incident p1 Database outage", lambda: r.cmd("/incident", "p1 Database outage", user="U0CAROL")
    )
    await run.step("incident: Acknowledge", lambda: r.click("incident_acknowledge", "1", user="U0BOB", channel=INC))
    await run.step("incident: /incident severity p2", lambda: r.cmd("/incident", "severity p2", channel=INC))
    await run.step(
        "incident: /incident action",
        lambda: r.cmd("/incident", "action Add an index on orders <@U0BOB|bob> due 2026-12-01", channel=INC),
    )
    await run.step(
        "incident: /incident public (first: the form)", lambda: r.cmd("/incident", "public Logins fail", channel=INC)
    )

    async def publish() -> Reply:
        view = run.last_call("views.open", lambda c: c["view"].get("callback_id") == "status_publish")["view"]
        values = {
            "public_title": {"value": {"value": "Sign-in problems"}},
            "public_status": {"value": {"selected_option": {"value": "identified"}}},
            "public_components": {"value": {"selected_options": [{"value": "web"}, {"value": "database"}]}},
        }
        return await r.submit("status_publish", values, user="U0ALICE", private_metadata=view["private_metadata"])

    await run.step("incident: public form submitted", publish)
    await run.step("incident: /incident resolve", lambda: r.cmd("/incident", "resolve Failover done", channel=INC))
    await run.step("incident: /incident reopen", lambda: r.cmd("/incident", "reopen", channel=INC))
    await run.step(
        "incident: /incident resolve again", lambda: r.cmd("/incident", "resolve Fixed for good", channel=INC)
    )

    # Two prod deploys, then a rollback of the second.
    await ship(run, "v1.0", "baseline")
    await ship(run, "v1.1", "hotfix")
    await run.step("rollback: /rollback prod", lambda: r.cmd("/rollback", "prod error rate spiking", user="U0DAVE"))

    async def confirm() -> Reply:
        button = run.last_button("response_url", "rollback_confirm")
        state = {
            "values": {
                "rollback_reason": {
                    "rollback_reason": {"type": "radio_buttons", "selected_option": {"value": "error_rate"}}
                }
            }
        }
        return await r.click("rollback_confirm", button["value"], user="U0DAVE", channel="C0OPS", state=state)

    await run.step("rollback: Roll back confirmed", confirm)

    async def rolled_back() -> Reply:
        return await run.pipeline_report(await run.last_id("deploys"), "succeeded")

    await run.step("rollback: pipeline reports succeeded", rolled_back)

    # An Alertmanager alert: firing, acknowledged, resolved; a Grafana alert.
    await run.step(
        "alert: Alertmanager firing", lambda: run.alert_hook("/hooks/alertmanager", alertmanager("firing", run))
    )

    async def acknowledge_alert() -> Reply:
        button = run.last_button("chat.postMessage", "alert_acknowledge")
        return await r.click("alert_acknowledge", button["value"], user="U0BOB", channel="C0ALERTS")

    await run.step("alert: Acknowledge", acknowledge_alert)
    run.clock.advance(timedelta(minutes=5))
    await run.step(
        "alert: Alertmanager resolved", lambda: run.alert_hook("/hooks/alertmanager", alertmanager("resolved", run))
    )
    await run.step("alert: Grafana firing", lambda: run.alert_hook("/hooks/grafana", grafana(run)))

    # PagerDuty acknowledges an incident (a second one, open).
    await run.step("pagerduty: /incident p2 Search is slow", lambda: r.cmd("/incident", "p2 Search is slow"))

    async def acknowledged_in_pagerduty() -> Reply:
        key = "INC-2"
        run.pagerduty.incidents[key]["status"] = "acknowledged"
        # PagerDuty's clock, not the bot's frozen one: its echo of the trigger carried the real time, and an event
        # older than the last one known is stale.
        body = run.pagerduty.event(key, "incident.acknowledged", agent=ALICE_PD)
        body["event"]["id"] = "01TRANSCRIPTACK0000000000"
        status = await run.pagerduty.deliver(body)
        return Reply(status, "")

    await run.step("pagerduty: webhook incident.acknowledged", acknowledged_in_pagerduty)

    # On call, runbooks, maintenance, SLOs, App Home.
    await run.step("oncall: /oncall", lambda: r.cmd("/oncall"))
    await run.step(
        "oncall: /oncall override", lambda: r.cmd("/oncall", "override <@U0DAVE|dave> primary now 2026-11-26 18:00")
    )
    await run.step(
        "runbook: /runbook db-recovery", lambda: r.cmd("/runbook", "db-recovery", user="U0BOB", channel="C0OPS")
    )

    async def runbook_done() -> Reply:
        button = run.last_button("chat.postMessage", "runbook_done")
        return await r.click("runbook_done", button["value"], user="U0BOB", channel="C0OPS")

    await run.step("runbook: step done", runbook_done)
    await run.step("maintenance: /maintenance post daily", lambda: r.cmd("/maintenance", "post daily", user="U0DAVE"))
    await run.step("slo: /slo (no Prometheus configured)", lambda: r.cmd("/slo", user="U0BOB"))
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "DU0ALICE", "tab": "home", "event_ts": "1.2"}
    await run.step("home: app_home_opened", lambda: r.event(event, event_id="Ev0TRANSCRIPT1"))


# -- normalising --------------------------------------------------------------------------------------------------

# How the PagerDuty page stands when the set-up answers (and the announcement says): PagerDuty is paged side by
# side with the set-up, so either is right, and "queued" is followed by an edit to "Paged" (a no-op once normalised).
_PAGING_RACE = re.compile(r"PagerDuty page queued|Paged in PagerDuty")
_TS = re.compile(r"(?<![\d.])1700000000\.(\d{6})(?!\d)")
_PERMALINK_TS = re.compile(r"/p1700000000(\d{6})(?!\d)")
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_VIEW_ID = re.compile(r"\bV\d{8}\b")


def normalise(value: Any, origin: dict[str, str]) -> Any:
    """Message timestamps as the message they name, local ports and view ids masked; recursively."""
    if isinstance(value, dict):
        return {k: normalise(v, origin) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v, origin) for v in value]
    if isinstance(value, str):
        value = _TS.sub(lambda m: f"<ts {origin.get(m[0], '?')}>", value)
        value = _PERMALINK_TS.sub(lambda m: f"/p<ts {origin.get('1700000000.' + m[1], '?')}>", value)
        value = _PORT.sub("127.0.0.1:PORT", value)
        value = _PAGING_RACE.sub("Paged in PagerDuty (or queued)", value)
        return _VIEW_ID.sub("V<id>", value)
    return value


def resort(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sort each step's lists again once normalised (a ts that sorted by its number now sorts by its label)."""
    out = []
    for step in steps:
        step = dict(step)
        for key in ("slack", "response_url", "pagerduty_events", "pagerduty_webhooks", "pipeline_triggers"):
            step[key] = sorted(step.get(key, []), key=_key)
        out.append(step)
    return out


async def transcript() -> dict[str, Any]:
    dsn = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not dsn:
        raise SystemExit("set TEST_DATABASE_URL (or DATABASE_URL): a PostgreSQL the script may add a schema to")
    run = Run(dsn)
    try:
        await run.start()
        await scenario(run)
    finally:
        await run.stop()
    steps = resort(normalise(run.steps, run.slack.origin))
    print(f"edits left out (only the paging race changed): {len(run.slack.no_ops)}", file=sys.stderr)
    return {"scenario": "bench/transcript.py", "steps": steps}


# -- comparing ----------------------------------------------------------------------------------------------------


def leaves(prefix: str, value: Any) -> list[str]:
    """One line per leaf, `path = value`: a change then names exactly what changed where."""
    if isinstance(value, dict) and value:
        return [line for k in value for line in leaves(f"{prefix}.{k}", value[k])]
    if isinstance(value, list) and value:
        return [line for i, v in enumerate(value) for line in leaves(f"{prefix}[{i}]", v)]
    return [f"{prefix} = {json.dumps(value, ensure_ascii=False)}"]


def compare_items(key: str, old: list[Any], new: list[Any]) -> list[str]:
    """The items only one side has, in full; items changed in place, leaf by leaf (matched by position among the
    differing items, so an added call does not shift every later one)."""
    out: list[str] = []
    matcher = difflib.SequenceMatcher(a=[_key(x) for x in old], b=[_key(x) for x in new], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        for k in range(paired):
            left, right = leaves("", old[i1 + k]), leaves("", new[j1 + k])
            where = f"{key}[{i1 + k}]" if i1 == j1 else f"{key}[{i1 + k}] (B: [{j1 + k}])"
            out += [f"  ~ {where} changed:"]
            out += [f"    {line}" for line in difflib.unified_diff(left, right, n=0, lineterm="")][2:]
        for k in range(i1 + paired, i2):
            out += [f"  - {line}" for line in leaves(f"{key}[{k}]", old[k])]
        for k in range(j1 + paired, j2):
            out += [f"  + {line}" for line in leaves(f"{key}[{k}]", new[k])]
    return out


def compare(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    """What differs, step by step (steps matched by name)."""
    out: list[str] = []
    a, b = left.get("steps", []), right.get("steps", [])
    matcher = difflib.SequenceMatcher(a=[s["step"] for s in a], b=[s["step"] for s in b], autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            out += [f"== only in A: {s['step']}" for s in a[i1:i2]]
            out += [f"== only in B: {s['step']}" for s in b[j1:j2]]
            continue
        for old, new in zip(a[i1:i2], b[j1:j2], strict=True):
            lines: list[str] = []
            for key in sorted(set(old) | set(new) - {"step"}):
                before, after = old.get(key), new.get(key)
                if before == after:
                    continue
                if isinstance(before, list) and isinstance(after, list):
                    lines += compare_items(key, before, after)
                else:
                    lines += [f"  - {line}" for line in leaves(key, before)]
                    lines += [f"  + {line}" for line in leaves(key, after)]
            if lines:
                out += [f"== {old['step']}", *lines]
    return out


def diff(a: Path, b: Path) -> int:
    left, right = json.loads(a.read_text()), json.loads(b.read_text())
    if left == right:
        print(f"{a} and {b}: identical ({len(left.get('steps', []))} steps)")
        return 0
    print(f"--- A: {a}\n+++ B: {b}")
    print("\n".join(compare(left, right)))
    return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path, help="run the scenario and write its transcript here")
    group.add_argument("--diff", nargs=2, type=Path, metavar=("A", "B"), help="compare two transcripts")
    args = parser.parse_args()
    if args.diff:
        return diff(*args.diff)
    import bot

    print(f"bot from {Path(bot.__file__).parent}", file=sys.stderr)
    data = asyncio.run(transcript())
    args.out.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    odd = [s["step"] for s in data["steps"] if "failed" in s or "notes" in s]
    print(f"{len(data['steps'])} steps written to {args.out}; failed or with notes: {odd or 'none'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
