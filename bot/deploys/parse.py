"""The /deploy and /rollback grammar."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from bot.errors import UsageError
from bot.slack.commands import HELP_WORDS, Help, Word, echo
from bot.slack.text import whole_number

VERSION = re.compile(r"^[A-Za-z0-9._/-]{1,64}$")
ALIASES = {"production": "prod", "stg": "staging"}
MAX_HISTORY = 50


@dataclass(frozen=True)
class Deploy:
    environment: str
    version: str
    force_reason: str | None


class Status(Word):
    """`/deploy status`: what runs where."""


@dataclass(frozen=True)
class History:
    environment: str | None
    limit: int


@dataclass(frozen=True)
class Unlock:
    environment: str
    reason: str


@dataclass(frozen=True)
class Rollback:
    environment: str
    reason: str | None


def environment(token: str, environments: list[str]) -> str:
    env = ALIASES.get(token.lower(), token.lower())
    if env not in environments:
        raise UsageError(f"`{echo(token)}` is not an environment: use {' or '.join(environments)}")
    return env


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text.replace("“", '"').replace("”", '"'))
    except ValueError:
        raise UsageError('a quote is not closed: `--force "the reason"`') from None


def parse_deploy(text: str, environments: list[str]) -> Help | Deploy | Status | History | Unlock:
    tokens = _split(text)
    if not tokens or tokens[0].lower() in HELP_WORDS:
        return Help()
    head = tokens[0].lower()
    if head == "status":
        if len(tokens) > 1:
            raise UsageError("`status` takes nothing after it: it shows every environment")
        return Status()
    if head == "history":
        env, limit = None, 10
        for token in tokens[1:]:
            if token.isdigit():
                limit = whole_number(token, MAX_HISTORY) or 0
                if not 1 <= limit <= MAX_HISTORY:
                    raise UsageError(f"show 1 to {MAX_HISTORY} deploys")
            else:
                env = environment(token, environments)
        return History(env, limit)
    if head == "unlock":
        if len(tokens) < 3:
            raise UsageError("unlocking needs the environment and a reason: `/deploy unlock prod &lt;reason&gt;`")
        return Unlock(environment(tokens[1], environments), " ".join(tokens[2:]))
    env = environment(tokens[0], environments)
    rest = tokens[1:]
    force = None
    if "--force" in rest:
        at = rest.index("--force")
        reason = " ".join(rest[at + 1 :]).strip()
        if not reason:
            raise UsageError('--force needs a reason: `--force "staging is down, hotfix for INC-12"`')
        force, rest = reason, rest[:at]
    if len(rest) != 1:
        raise UsageError("name one version: `/deploy staging v1.4.2`")
    if not VERSION.match(rest[0]):
        raise UsageError(f"`{echo(rest[0])}` is not a version: 1–64 of letters, digits, `.`, `_`, `-`, `/`")
    return Deploy(env, rest[0], force)


def parse_rollback(text: str, environments: list[str]) -> Help | Rollback:
    tokens = text.split(maxsplit=1)
    if not tokens or tokens[0].lower() in HELP_WORDS:
        return Help()
    reason = tokens[1].strip() if len(tokens) > 1 else None
    if reason and len(reason) > 500:
        raise UsageError("keep the reason to 500 characters")
    return Rollback(environment(tokens[0], environments), reason)
