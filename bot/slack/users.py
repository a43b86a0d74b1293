"""Slack users: emails to ids (users.lookupByEmail), time zones (users.info), cached per process."""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_sdk.errors import SlackApiError

from bot.slack.client import SlackClient
from bot.slack.text import user_id as parse_user_id

INFO_TTL = 3600.0
GROUP_TTL = 300.0


class Directory:
    def __init__(self, slack: SlackClient) -> None:
        self.slack = slack
        self._ids: dict[str, str] = {}
        self._info: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._groups: dict[str, tuple[float, set[str]]] = {}

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
                if exc.response.get("error") == "users_not_found":
                    return None
                raise
            self._ids[key] = response["user"]["id"]
        return self._ids[key]

    async def info(self, user: str) -> dict[str, Any] | None:
        """users.info for an id; None when Slack says there is no such user."""
        cached = self._info.get(user)
        if cached and time.monotonic() - cached[0] < INFO_TTL:
            return cached[1]
        try:
            data: dict[str, Any] | None = (await self.slack.users_info(user=user))["user"]
        except SlackApiError as exc:
            if exc.response.get("error") not in ("user_not_found", "users_not_found"):
                raise
            data = None
        self._info[user] = (time.monotonic(), data)
        return data

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
