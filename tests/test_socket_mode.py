"""`zzik-bot serve --socket-mode`: the same handlers, reached over Slack's Socket Mode WebSocket."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from urllib.parse import urlparse

import asyncpg

from bot.__main__ import main
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, eventually
from tests.fakeslack import FakeSlack
from tests.test_replicas import ROOT, free_port, healthy


async def test_slash_commands_over_socket_mode(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    name = f"zzik_socket_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    port = free_port()
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_APP_TOKEN": "xapp-1-A0ZZIK-1-testapptoken",
        "SLACK_API_URL": fake_slack.url,
        "DATABASE_URL": urlparse(pg_dsn)._replace(path=f"/{name}").geturl(),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
    }
    log = tmp_path / "serve.log"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        "--socket-mode",
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=await asyncio.to_thread(log.open, "w"),
    )
    try:
        await healthy(port, proc)  # the HTTP side still serves /healthz
        await eventually(lambda: fake_slack.sockets, within=20)
        assert fake_slack.calls_to("apps.connections.open")
        form = {
            "command": "/oncall",
            "text": "help",
            "user_id": "U0ALICE",
            "channel_id": "C0GENERAL",
            "team_id": "T0ZZIK",
            "trigger_id": "trig.socket.1",
            "response_url": fake_slack.response_url(),
        }
        await fake_slack.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "payload": form,
                "accepts_response_payload": True,
                "retry_attempt": 0,
            }
        )
        [reply] = await eventually(lambda: fake_slack.socket_replies, within=10)
        assert reply["envelope_id"] == "env-1"
        assert reply["payload"]["response_type"] == "ephemeral" and "/oncall next" in reply["payload"]["text"]

        listing = {**form, "command": "/incident", "text": "list", "trigger_id": "trig.socket.2"}
        await fake_slack.socket_send(
            {
                "envelope_id": "env-2",
                "type": "slash_commands",
                "payload": listing,
                "accepts_response_payload": True,
                "retry_attempt": 0,
            }
        )
        answered = await eventually(lambda: fake_slack.calls_to("response_url"), within=10)
        assert answered[0]["text"] == "No open incidents. :tada:"
        assert fake_slack.socket_replies[-1]["envelope_id"] == "env-2"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)
        admin = await asyncpg.connect(pg_dsn)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    assert "xapp-1-A0ZZIK" not in log.read_text()


def test_socket_mode_needs_an_app_token(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["serve", "--socket-mode"]) == 2
    assert capsys.readouterr().err.strip() == "zzik-bot: SLACK_APP_TOKEN is not set (needed for --socket-mode)"
