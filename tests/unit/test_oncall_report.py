"""The on-call report's arithmetic (pure): a month's hours and a shift's hours are real hours, not wall-clock ones."""

from datetime import date
from zoneinfo import ZoneInfo

from bot.oncall.report import Report, month_bounds
from bot.oncall.shifts import Shift
from bot.opsconfig.sections import WorkingHours

BERLIN = ZoneInfo("Europe/Berlin")


def _report(month: date) -> Report:
    starts, ends = month_bounds(month, BERLIN)
    return Report(month, starts, ends, False, BERLIN, WorkingHours(), [], {})


def test_a_month_with_a_clock_change_has_its_real_hours() -> None:
    assert _report(date(2026, 3, 1)).hours == 743  # the clocks go forward on 29 March
    assert _report(date(2026, 10, 1)).hours == 745  # and back on 25 October
    assert _report(date(2026, 11, 1)).hours == 720


def test_a_shift_across_a_clock_change_has_its_real_hours() -> None:
    starts, ends = month_bounds(date(2026, 3, 1), BERLIN)
    assert Shift("rota-0-primary-0", "primary", "U0A", starts, ends, 0).hours == 743
