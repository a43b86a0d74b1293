"""Slack's interaction payloads, validated with pydantic: the parts the bot reads, typed; the rest ignored.

Every input in our modals and messages uses the action id "value", so a view's state reads as
`view.value(block_id)`; a message's interactive state (radio buttons next to a button) likewise.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Option(_Lenient):
    value: str


class Input(_Lenient):
    """One input element's state: whichever of these its type carries."""

    value: str | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = []
    selected_user: str | None = None


class State(_Lenient):
    values: dict[str, dict[str, Input]] = {}

    def input(self, block_id: str, action_id: str = "value") -> Input:
        return self.values.get(block_id, {}).get(action_id) or Input()


class BlockAction(_Lenient):
    """The element clicked, as `actions[0]` of a block_actions payload."""

    action_id: str = ""
    block_id: str = ""
    value: str | None = None
    selected_option: Option | None = None
    selected_options: list[Option] = []

    @property
    def selected(self) -> list[str]:
        return [o.value for o in self.selected_options]


class View(_Lenient):
    id: str = ""
    callback_id: str = ""
    private_metadata: str = ""
    state: State = Field(default_factory=State)

    def text(self, block_id: str) -> str:
        return (self.state.input(block_id).value or "").strip()


def block_action(body: dict[str, Any]) -> BlockAction:
    actions = body.get("actions") or [{}]
    return BlockAction.model_validate(actions[0])


def message_state(body: dict[str, Any]) -> State:
    return State.model_validate(body.get("state") or {})


def view(body: dict[str, Any]) -> View:
    return View.model_validate(body.get("view") or {})
