"""Slack payload models: the fields the bot reads are typed; Slack's many others are ignored."""

from __future__ import annotations

from bot.slack import payloads


def test_block_action_of_checkboxes_and_buttons() -> None:
    body = {
        "actions": [
            {
                "action_id": "maintenance_check",
                "block_id": "maint:3",
                "type": "checkboxes",
                "selected_options": [{"text": {"type": "mrkdwn", "text": "x"}, "value": "0"}, {"value": "2"}],
                "action_ts": "1.2",
            }
        ]
    }
    action = payloads.block_action(body)
    assert (action.action_id, action.block_id, action.selected, action.value) == (
        "maintenance_check",
        "maint:3",
        ["0", "2"],
        None,
    )
    assert payloads.block_action({}).action_id == ""


def test_view_state_reads_inputs_by_block() -> None:
    body = {
        "view": {
            "id": "V1",
            "callback_id": "incident_declare",
            "private_metadata": "C1",
            "hash": "h",
            "state": {
                "values": {
                    "title": {"value": {"type": "plain_text_input", "value": "  DB down "}},
                    "severity": {"value": {"selected_option": {"value": "P1"}}},
                    "commander": {"value": {"selected_user": "U1"}},
                }
            },
        }
    }
    view = payloads.view(body)
    assert view.text("title") == "DB down" and view.text("missing") == ""
    assert view.state.input("severity").selected_option == payloads.Option(value="P1")
    assert view.state.input("commander").selected_user == "U1"
    assert payloads.message_state({"state": {"values": {}}}).input("rollback_reason").selected_option is None
