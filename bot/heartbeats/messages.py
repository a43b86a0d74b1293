"""The words of the heartbeats domain: /backups, the alerts it raises, the daily backup item (pure). Config and
webhook text is raw: escaped once here (alert annotations are escaped by the alerts domain's messages)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.heartbeats.ids import State
from bot.heartbeats.models import Run
from bot.heartbeats.watch import Row, Standing
from bot.opsconfig import Backup
from bot.slack.blocks import when
from bot.slack.text import escape, truncate

ICON = {
    State.FRESH: ":large_green_circle:",
    State.LATE: ":red_circle:",
    State.FAILED: ":red_circle:",
    State.NEVER: ":white_circle:",
    State.NOT_WATCHED: ":heavy_minus_sign:",
}
NO_BACKUPS = "No backups or heartbeats are configured (`backups:` and `heartbeats:` in the ops config)."


def duration(delta: timedelta) -> str:
    """6h, 1d 2h, 45m, 30s: the larger units only."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    shown = " ".join(p for p in parts if p)
    if days:
        shown = " ".join(p for p in parts[:2] if p)
    return shown or f"{secs}s"


def size(size_bytes: int | None) -> str | None:
    """1.2 GiB, 350 MiB, 512 B."""
    if size_bytes is None:
        return None
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return None  # not reached


def title(row: Row) -> str:
    return f"{row.type} backup" if isinstance(row, Backup) else row.type


def expected(row: Row) -> str:
    every = row.every
    if every is None:
        return f"{escape(row.frequency)}: not watched" if row.frequency else "not watched"
    allowance = row.allowance or every
    return f"every {duration(every)} (+{duration(allowance - every)} grace)"


def _run(run: Run, zone: ZoneInfo, now: datetime) -> str:
    shown = f"{when(run.at, zone)}, {duration(now - run.at)} ago"
    if run.size_bytes is not None:
        shown += f" · {size(run.size_bytes)}"
    return shown


def line(s: Standing, zone: ZoneInfo, now: datetime) -> str:
    row = s.row
    head = f"{ICON[s.state]} *{escape(title(row))}* (`{row.name}`) · {expected(row)}"
    if s.last_run is None:
        head += " · no run recorded"
    else:
        head += " · last run " + _run(s.last_run, zone, now)
        if s.last_success is not None and s.last_success.id != s.last_run.id:
            head += f" · last success {when(s.last_success.at, zone)}"
    state = f"*{s.state}*"
    if s.state == State.FAILED and s.last_run is not None and s.last_run.message:
        state += f": {escape(truncate(s.last_run.message, 200))}"
    elif s.state == State.LATE and s.due_at is not None:
        state += f" (late since {when(s.due_at, zone)})"
    elif s.state == State.NEVER:
        state += " (watched from its first run)"
    return f"{head} · {state}"


def overview(standings: Sequence[Standing], zone: ZoneInfo, now: datetime) -> str:
    if not standings:
        return NO_BACKUPS
    lines = ["*Backups and heartbeats*"] + [line(s, zone, now) for s in standings]
    lines.append(f"_Times in {zone.key}. " + escape("A job reports each run to POST /hooks/heartbeat/<name>._"))
    return "\n".join(lines)


# -- the alerts it raises (raw text: the alerts domain escapes it) -----------------------------------------------


def alertname(row: Row, failed: bool) -> str:
    kind = "Backup" if isinstance(row, Backup) else "Heartbeat"
    return f"{kind}{'Failed' if failed else 'Late'}"


def late_summary(row: Row, last_success: datetime, zone: ZoneInfo) -> str:
    every = duration(row.every) if row.every else "?"
    return f"{title(row)} is late: last success {when(last_success, zone)} (expected every {every})"


def failed_summary(row: Row, run: Run) -> str:
    return f"{title(row)} failed" + (f": {truncate(run.message, 200)}" if run.message else "")


def failed_description(run: Run, zone: ZoneInfo) -> str:
    shown = f"Reported failed at {when(run.at, zone)}"
    return shown + (f" ({size(run.size_bytes)})" if run.size_bytes is not None else "") + "."


# -- the daily checklist's backup item ---------------------------------------------------------------------------


def fresh_note(standings: Sequence[Standing], zone: ZoneInfo) -> str:
    """What the ticked item says (raw; an option's description holds 75 characters, cut with "…")."""
    parts = []
    for s in standings:
        run = s.last_success
        if run is None:
            continue
        part = f"{s.row.type} {run.at.astimezone(zone):%H:%M}"  # the tick's own time shows the zone
        parts.append(part + (f", {size(run.size_bytes)}" if run.size_bytes is not None else ""))
    return " · ".join(parts)


def late_words(standings: Sequence[Standing], zone: ZoneInfo, now: datetime) -> str:
    return "; ".join(_late(s, zone, now) for s in standings)


def _late(s: Standing, zone: ZoneInfo, now: datetime) -> str:
    name = f"*{escape(title(s.row))}*"
    if s.state == State.FAILED and s.last_run is not None:
        return f"{name} failed at {when(s.last_run.at, zone)}" + (
            f" ({escape(truncate(s.last_run.message, 200))})" if s.last_run.message else ""
        )
    if s.last_success is None:
        return f"{name} has never reported"
    return f"{name} is late: last success {when(s.last_success.at, zone)}, {duration(now - s.last_success.at)} ago"


def not_verified(item: str, late: str) -> str:
    return f":warning: *{escape(item)}*: not ticked, {late}. I tick it once every backup is fresh today."


def verified_later(item: str, note: str) -> str:
    return f":white_check_mark: *{escape(item)}*: every backup is fresh now ({escape(note)}); ticked."


# -- answers to the webhook --------------------------------------------------------------------------------------


def unknown(name: str, known: Sequence[str]) -> str:
    return f"name: no heartbeat {truncate(name, 60)!r} (configured: {', '.join(known) or 'none'})"
