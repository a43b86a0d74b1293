"""`zzik-bot serve --socket-mode`: the same handlers, reached over Slack's Socket Mode WebSocket."""

from __future__ import annotations

from bot.__main__ import main
from bot.fakeslack import FakeSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, eventually
from tests.processes import scratch_database, serve


async def test_slash_commands_over_socket_mode(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    log = tmp_path / "serve.log"
    async with (
        scratch_database(pg_dsn) as dsn,
        # The most a read may take and still answer in the ack (2 s): the list must land there even when the
        # machine is loaded.
        serve(
            dsn,
            fake_slack,
            log,
            "--socket-mode",
            SLACK_APP_TOKEN="xapp-1-A0ZZIK-1-testapptoken",
            ZZIK_ACK_BUDGET_SECONDS="2.0",
        ),
    ):
        await eventually(lambda: fake_slack.sockets, within=20)  # the HTTP side is healthy; the socket is up
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
        answered = await eventually(lambda: len(fake_slack.socket_replies) == 2 and fake_slack.socket_replies[-1])
        assert answered["envelope_id"] == "env-2"
        assert answered["payload"]["text"] == "No open incidents. :tada:"  # ready at once: in the ack
    assert "xapp-1-A0ZZIK" not in log.read_text()


def test_socket_mode_needs_an_app_token(monkeypatch, capsys) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["serve", "--socket-mode"]) == 2
    assert capsys.readouterr().err.strip() == "zzik-bot: SLACK_APP_TOKEN is not set (needed for --socket-mode)"
