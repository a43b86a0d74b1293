"""manifest.yml agrees with the code: the same commands, and a scope for every Web API method called."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

from bot.slack.commands import COMMANDS
from tests.conftest import RunningBot

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = yaml.safe_load((ROOT / "manifest.yml").read_text())

# Web API method (as slack_sdk names it) -> the bot scope it needs (None: no scope needed).
SCOPES: dict[str, str | None] = {
    "auth_test": None,
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "conversations_create": "channels:manage",
    "conversations_invite": "channels:manage",
    "conversations_setTopic": "channels:manage",
    "conversations_join": "channels:join",
    "conversations_list": "channels:read",
    "conversations_open": "im:write",
    "files_upload_v2": "files:write",
    "pins_add": "pins:write",
    "reactions_get": "reactions:read",
    "users_info": "users:read",
    "users_lookupByEmail": "users:read.email",
    "usergroups_users_list": "usergroups:read",
    "usergroups_users_update": "usergroups:write",
    "views_open": None,
    "views_update": None,
    "views_push": None,
    "views_publish": None,
}
_METHOD = re.compile(r"^(auth|chat|conversations|files|pins|users|usergroups|views|reactions|bookmarks)_[A-Za-z_0-9]+$")


def methods_called_in_code() -> set[str]:
    found = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and _METHOD.match(node.attr):
                found.add(node.attr)
    return found


def test_manifest_commands_match_the_code(bot: RunningBot) -> None:
    manifest_commands = {c["command"]: c for c in MANIFEST["features"]["slash_commands"]}
    assert set(manifest_commands) == set(COMMANDS)
    for name, command in manifest_commands.items():
        assert command["should_escape"] is True, name
        assert command["url"].endswith("/slack/events"), name
        assert command["usage_hint"] == COMMANDS[name].usage_hint, name
    registered = bot.services.commands
    assert registered == set(COMMANDS), registered ^ set(COMMANDS)  # every command handled, none unlisted
    assert MANIFEST["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert MANIFEST["settings"]["event_subscriptions"]["request_url"].endswith("/slack/events")


def test_every_web_api_method_in_the_code_has_a_scope() -> None:
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    called = methods_called_in_code()
    assert "chat_postMessage" in called
    unknown = called - set(SCOPES)
    assert not unknown, f"add these methods to SCOPES: {unknown}"
    needed = {SCOPES[m] for m in called if SCOPES[m]} | {"commands", "app_mentions:read"}
    assert needed <= scopes, needed - scopes
    # And no more than the code needs (chat:write.public lets it post to channels it was not invited to).
    assert scopes - needed <= {"chat:write.public"}, scopes - needed
