"""`/incident public [investigating|identified|monitoring|resolved] <text>`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import Invalid
from bot.slack.text import escape
from bot.status.ids import Public

MAX_TEXT = 1000
USAGE = (
    "`/incident public <text>` publishes an update on the status page (the first one asks for the public title, "
    "status and affected components); `/incident public <investigating|identified|monitoring|resolved> <text>` "
    "also changes the public status."
)


@dataclass(frozen=True)
class PublicUpdate:
    status: str | None  # None: keep the current public status
    text: str  # Slack-encoded


def parse(rest: str) -> PublicUpdate:
    rest = rest.strip()
    head, _, tail = rest.partition(" ")
    status = Public.parse(head.lower())
    if status is not None:
        rest = tail.strip()
    if not rest:
        raise Invalid("the public update text is missing.\n" + escape(USAGE))
    if len(rest) > MAX_TEXT:
        raise Invalid(f"the public update is {len(rest)} characters; keep it to {MAX_TEXT}.")
    return PublicUpdate(status, rest)
