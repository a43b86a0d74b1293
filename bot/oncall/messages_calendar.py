"""The words of the on-call calendar (`/oncall calendar`, the feed's events) and of `/oncall report` (pure)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.oncall.messages import ROLE_TITLES, when
from bot.oncall.shifts import Shift
from bot.slack.blocks import context, section
from bot.slack.text import escape, mention

if TYPE_CHECKING:
    from bot.oncall.report import Line, Report

CALENDAR_NO_PUBLIC_URL = (
    "The calendar links need the bot's public address (the `ZZIK_PUBLIC_URL` setting), and it is not set: "
    "ask whoever runs the bot to set it."
)
CALENDAR_DESCRIPTION = "Who is on call for ZZIK LIVE: the weekly rotation with its overrides (from the zzik-ops bot)."
ROTATE_HINT = "`/oncall calendar rotate` replaces both links (the old ones stop working at once)."


def calendar_links(personal: str, team: str) -> str:
    """The DM with a person's two feed links (shown once: only their hashes are kept)."""
    return "\n".join(
        [
            "*Your on-call calendar links*",
            f"• Your own shifts: {personal}",
            f"• The whole team (every shift, named): {team}",
            "Subscribe by URL: *Google Calendar* → Other calendars → + → From URL; *Outlook* → Add calendar → "
            "Subscribe from web. Overrides show as they are set; calendars fetch the feed again every few hours.",
            "Anyone with a link sees the rotation: keep them to yourself. " + ROTATE_HINT,
        ]
    )


def calendar_sent(*, rotated: bool) -> str:
    if rotated:
        return "New calendar links sent to you by DM; the old ones no longer work (re-subscribe with the new ones)."
    return "Your calendar links are in your DM with the bot: subscribe to them in Google Calendar or Outlook."


def calendar_already_sent(sent: datetime, team: ZoneInfo) -> str:
    return (
        f"Your calendar links were sent to you by DM on {when(sent, team)}; the bot keeps no copy it could show "
        f"again. Lost them? {ROTATE_HINT}"
    )


def calendar_not_sent(reason: str, *, revoked: bool) -> str:
    old = " Your old links were revoked all the same." if revoked else ""
    return (
        f"Your calendar links could not be sent to you by DM ({reason}), so none were issued.{old} Try again shortly."
    )


def calendar_summary(role: str, name: str) -> str:
    """An event's title (plain text): `On call: primary — Alice`."""
    return f"On call: {role} — {name}"


def calendar_event_text(shift: Shift, roles: dict[str, str]) -> str:
    """An event's description (plain text)."""
    lines = [f"Override #{shift.override_id} of the weekly rotation." if shift.override_id else "Weekly rotation."]
    if roles.get(shift.role):
        lines.append(f"{ROLE_TITLES.get(shift.role, shift.role)}: {roles[shift.role]}")
    lines.append("Who is on call now: /oncall in Slack.")
    return "\n".join(lines)


# -- /oncall report ---------------------------------------------------------------------------------------------


def report_not_begun(month: date) -> str:
    return f"{month:%B %Y} has not begun: the report covers a past month, or this one so far."


def report_title(report: Report) -> str:
    so_far = f" (so far, to {when(report.ends_at, report.zone)})" if report.so_far else ""
    return f"On-call report, {report.month:%B %Y}{so_far}"


def _hours(value: float) -> str:
    return f"{value:.1f} h"


def _working(report: Report) -> str:
    w = report.working
    return f"{w.days} {w.start:%H:%M}–{w.end:%H:%M} {report.zone.key}"


def _line(x: Line) -> str:
    role = "not on call" if x.role == "-" else x.role
    parts = [f"{role}: {_hours(x.hours)} on call, {_hours(x.out_of_hours)} out of hours"] if x.hours else [role]
    parts.append(f"{x.pages} page{'s' if x.pages != 1 else ''}")
    if x.incidents:
        parts.append("incidents " + ", ".join(f"INC-{n}" for n in sorted(set(x.incidents))))
    return " · ".join(parts)


def _who(user: str) -> str:
    if not user:
        return "_nobody_"
    return mention(user) if user[:1] in "UW" and "@" not in user else escape(user)


def report(report: Report, filename: str, upload_failed: str | None) -> tuple[str, list[dict[str, Any]]]:
    title = report_title(report)
    totals = " · ".join(f"{role} {_hours(report.role_hours(role))}" for role in ROLE_TITLES)
    people: dict[str, list[str]] = {}
    for x in report.lines:
        people.setdefault(x.user, []).append(_line(x))
    blocks: list[dict[str, Any]] = [
        section(
            f"*{title}*\nHours per role: {totals} (the month: {_hours(report.hours)}). "
            f"Working time: {escape(_working(report))}."
        )
    ]
    shown = list(people.items())[:44]
    for user, lines in shown:
        blocks.append(section(f"{_who(user)}\n" + "\n".join(f"• {line}" for line in lines)))
    if len(people) > len(shown):
        blocks.append(section(f"…and {len(people) - len(shown)} more in the CSV."))
    if not people:
        blocks.append(section("Nobody was on call and nothing was recorded in that month."))
    csv_note = (
        f"The CSV ({filename}) could not be uploaded ({upload_failed}); ask again in a minute."
        if upload_failed
        else f"The CSV ({filename}) is in your DM with the bot."
    )
    blocks.append(
        context(
            f"{csv_note} Pages: incident page DMs and alert pages. Incidents worked: commanded, acknowledged or "
            "resolved, counted under the role held when it was declared."
        )
    )
    return title, blocks
