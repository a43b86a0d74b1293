"""The demo's workspace and ops config: four people with Slack-like ids the stand-in knows, the manual's channels,
a rotation that holds now (Alice primary, Bob secondary, Carol manager; Dave an engineer next in turn), everyone a
deployer and Carol an incident manager, so that every flow can be tried."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot import opsconfig


@dataclass(frozen=True)
class Person:
    id: str
    name: str  # Slack's handle: what `@name` in a command means
    role: str

    @property
    def title(self) -> str:
        return self.name.title()

    @property
    def pagerduty_id(self) -> str:
        """The PagerDuty user this person is (ops config `pagerduty.users`)."""
        return "P" + self.id.removeprefix("U0")


PEOPLE = (
    Person("U0ALICE", "alice", "on-call primary"),
    Person("U0BOB", "bob", "on-call secondary"),
    Person("U0CAROL", "carol", "on-call manager, incident manager"),
    Person("U0DAVE", "dave", "engineer"),
)


def config(page_url: str, now: datetime | None = None) -> opsconfig.OpsConfig:
    """The built-in manual with the demo's people in it; the pipeline is the page's stand-in (`page_url`)."""
    now = now or datetime.now(UTC)
    base = opsconfig.load().model_dump(mode="json")
    everyone = [p.id for p in PEOPLE]
    # Week 0 holds now: the handoff (Monday 10:00 UTC) of the week containing (now - 10 h) has passed.
    base["oncall"].update(
        timezone="UTC",
        handoff={"day": "monday", "time": "10:00"},
        start=(now - timedelta(hours=10)).date().isoformat(),
        engineers=["U0ALICE", "U0BOB", "U0DAVE"],
        managers=["U0CAROL"],
        contacts=[{"name": "Carol", "role": "On-call manager", "email": "carol@zzik.example"}],
    )
    base["permissions"] = {"deployers": everyone, "incident_managers": ["U0CAROL"]}
    base["deploy"]["webhook_url"] = page_url.rstrip("/") + "/pipeline/trigger"
    base["pagerduty"]["users"] = {p.pagerduty_id: p.id for p in PEOPLE}
    return opsconfig.OpsConfig.model_validate(base)
