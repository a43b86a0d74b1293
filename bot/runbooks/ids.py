"""Names of the runbooks domain, each built and parsed here: action ids, step states, button values."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.errors import NotFound
from bot.slack.text import whole_number


class Action(StrEnum):
    DONE = "runbook_done"  # value: <run id>:<step index>
    SKIP = "runbook_skip"  # value: <run id>:<step index>
    SKIP_VIEW = "runbook_skip_reason"  # the skip-reason modal; private_metadata: <run id>:<step index>
    DRILL_START = "runbook_drill_start"  # + ":<slug>" (unique in the block); value: the runbook's slug
    DRILL_AGE = "runbook_drill_age"  # value: <run id>: opens the data-age modal
    DRILL_AGE_VIEW = "runbook_drill_age_view"  # the data-age modal; private_metadata: <run id>


class Job(StrEnum):
    OFFER_DRILL = "runbooks.offer_drill"  # maintenance ChecklistPosted: a monthly checklist's drill items
    DRILL_ASK = "runbooks.drill_ask"  # key <run id>: a finished drill asks for the restored data's age
    DRILL_RESULT = "runbooks.drill_result"  # key <run id>: the drill's result, here and in the monthly thread


def run_id(value: str | None) -> int:
    """A drill button's value or modal's metadata: the run's id."""
    found = whole_number(value or "")
    if found is None:
        raise NotFound("That button does not belong to a drill.")
    return found


class StepStatus(StrEnum):
    """runbook_steps.status (the CHECK constraint in 0005_runbooks_maintenance.sql)."""

    DONE = "done"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class RunStep:
    """One step of one run: a button's value, the skip modal's metadata."""

    run: int
    index: int

    def value(self) -> str:
        return f"{self.run}:{self.index}"

    @classmethod
    def parse(cls, value: str | None) -> RunStep:
        run, _, step = (value or "").partition(":")
        run_id, index = whole_number(run), whole_number(step, 10_000)
        if run_id is None or index is None:
            raise NotFound("That button does not belong to a runbook run.")
        return cls(run_id, index)
