"""Slack users: emails to ids (users.lookupByEmail), profiles (users.info), cached per process.

A profile (time zone, name) is asked once per user and TTL: concurrent askers share one users.info call, and
the `user_change` event Slack sends when someone edits their profile replaces the cached copy at once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from bot.slack.client import SlackClient
from bot.slack.failures import SlackErrorCode, code
from bot.slack.text import user_id as parse_user_id

INFO_TTL = 3600.0
GROUP_TTL = 300.0


class Directory:
    def __init__(self, slack: SlackClient) -> None:
        self.slack = slack
        self._ids: dict[str, str] = {}
        self._info: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._groups: dict[str, tuple[float, set[str]]] = {}
        self._asking: dict[str, asyncio.Future[dict[str, Any] | None]] = {}

    async def resolve(self, member: str) -> str | None:
        """A rotation member (user id or email) as a user id; None if Slack knows no such email."""
        uid = parse_user_id(member)
        if uid:
            return uid
        key = member.strip().lower()
        if key not in self._ids:
            try:
                response = await self.slack.users_lookupByEmail(email=key)
            except SlackApiError as exc:
                if code(exc) == SlackErrorCode.USERS_NOT_FOUND:
                    return None
                raise
            self._ids[key] = response["user"]["id"]
        return self._ids[key]

    async def info(self, user: str) -> dict[str, Any] | None:
        """users.info for an id; None when Slack says there is no such user."""
        cached = self._info.get(user)
        if cached and time.monotonic() - cached[0] < INFO_TTL:
            return cached[1]
        asking = self._asking.get(user)
        if asking is not None:
            return await asyncio.shield(asking)
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._asking[user] = future
        try:
            data = await self._ask(user)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting for it
            raise
        else:
            future.set_result(data)
            self._info[user] = (time.monotonic(), data)
            return data
        finally:
            self._asking.pop(user, None)

    async def _ask(self, user: str) -> dict[str, Any] | None:
        try:
            return (await self.slack.users_info(user=user))["user"]
        except SlackApiError as exc:
            if code(exc) not in (SlackErrorCode.USER_NOT_FOUND, SlackErrorCode.USERS_NOT_FOUND):
                raise
            return None

    def changed(self, profile: dict[str, Any]) -> None:
        """A user's profile as a `user_change` event carries it (the same shape users.info returns)."""
        if profile.get("id"):
            self._info[str(profile["id"])] = (time.monotonic(), profile)

    async def name(self, user: str) -> str | None:
        """The name Slack shows for a user (display name, else real name, else handle); None if unknown."""
        info = await self.info(user)
        return shown_name(info) if info else None

    async def zone(self, user: str) -> ZoneInfo | None:
        info = await self.info(user)
        try:
            return ZoneInfo(info["tz"]) if info and info.get("tz") else None
        except (ZoneInfoNotFoundError, ValueError):
            return None

    async def group_members(self, group: str) -> set[str]:
        """Members of a user group (usergroups.users.list), cached five minutes; the last known on failure."""
        cached = self._groups.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_TTL:
            return cached[1]
        try:
            members = set((await self.slack.usergroups_users_list(usergroup=group))["users"])
        except SlackApiError:
            if cached:
                return cached[1]
            raise
        self._groups[group] = (time.monotonic(), members)
        return members


def shown_name(profile: dict[str, Any]) -> str | None:
    """What Slack shows for a user in a mention: the display name if set, else the real name, else the handle."""
    details = profile.get("profile") or {}
    for name in (details.get("display_name"), details.get("real_name"), profile.get("real_name"), profile.get("name")):
        if isinstance(name, str) and name.strip():
            return name.strip()
    return None
