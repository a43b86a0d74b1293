"""Who may do what: one table, action -> the roles that may, read by every flow.

Roles come from the ops config (`permissions.deployers`, `permissions.incident_managers`, the rotation's
`oncall.engineers` and `oncall.managers`) and from the thing acted on (an incident's commander, a deploy's
requester, the engineer an override replaces). Being on call counts only the rotation and accepted or
manager-set overrides (`bot.rota.lookup.who_is_on_call`), so nobody makes themselves on call alone.

A flow asks `require(services, Do.X, actor, subject)`; a refusal is `Refused`, which the Slack wrapper
answers ephemerally (the message names who may) and audits with outcome `refused`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.errors import Refused
from bot.rota.lookup import who_is_on_call
from bot.services import Services
from bot.slack.text import mention


class Role(StrEnum):
    ANYONE = "anyone"
    DEPLOYER = "deployer"  # permissions.deployers (user groups expanded); none configured: anyone
    MANAGER = "manager"  # permissions.incident_managers and the rotation's managers
    ON_CALL_PRIMARY = "on_call_primary"  # the rotation's primary now, with accepted overrides applied
    ON_CALL = "on_call"  # whoever is on call now (primary, secondary or manager), overrides applied
    ROTATION = "rotation"  # every member of the rotation (oncall.engineers and oncall.managers), on call now or not
    COMMANDER = "commander"  # the incident's current commander
    REPLACED = "replaced"  # the engineer whose shift an override takes
    REQUESTER = "requester"  # who asked for it: a deploy's requester, who set an override
    HOLDER = "holder"  # the one an override puts on call
    OWNER = "owner"  # an action item's owner


class Do(StrEnum):
    OVERRIDE_SET = "oncall.override.set"
    OVERRIDE_ANSWER = "oncall.override.answer"
    OVERRIDE_CANCEL = "oncall.override.cancel"
    ONCALL_CONTACTS = "oncall.contacts"
    INCIDENT_COMMANDER = "incident.commander"
    INCIDENT_HANDOVER_ANSWER = "incident.handover.answer"
    INCIDENT_RESOLVE = "incident.resolve"
    INCIDENT_REOPEN = "incident.reopen"
    INCIDENT_PUBLISH = "incident.publish"
    ACTION_DONE = "incident.action.done"
    PROD_DEPLOY = "deploy.prod.request"
    PROD_FORCE = "deploy.prod.force"
    PROD_CHECK = "deploy.prod.check"
    PROD_START = "deploy.prod.start"
    PROD_HEALTHY = "deploy.prod.healthy"
    PROD_MARK = "deploy.prod.mark"
    ROLLBACK = "deploy.rollback"
    ROLLBACK_MARK = "deploy.rollback.mark"
    DEPLOY_CANCEL = "deploy.cancel"
    DEPLOY_UNLOCK = "deploy.unlock"
    ALERT_ACKNOWLEDGE = "alert.acknowledge"
    ALERT_SILENCE = "alert.silence"
    ALERT_SNOOZE = "alert.snooze"
    INCIDENT_SNOOZE = "incident.snooze"
    COVER_ASK = "oncall.cover.ask"
    COVER_TAKE = "oncall.cover.take"
    ONCALL_REPORT = "oncall.report"


@dataclass(frozen=True)
class Rule:
    who: tuple[Role, ...]
    what: str  # completes "Only … may <what>."
    prod_only: bool = False  # other environments (the subject's) let anyone


R = Role
PROD = "prod"
POLICY: dict[Do, Rule] = {
    Do.OVERRIDE_SET: Rule((R.MANAGER, R.REPLACED), "set this override"),
    Do.OVERRIDE_ANSWER: Rule((R.REPLACED, R.MANAGER), "accept or decline this override request"),
    Do.OVERRIDE_CANCEL: Rule((R.HOLDER, R.REQUESTER, R.REPLACED, R.MANAGER), "cancel this override"),
    Do.ONCALL_CONTACTS: Rule((R.ROTATION, R.ON_CALL, R.MANAGER), "see the emergency contact list"),
    Do.INCIDENT_COMMANDER: Rule((R.COMMANDER, R.ON_CALL_PRIMARY, R.MANAGER), "hand over command"),
    Do.INCIDENT_HANDOVER_ANSWER: Rule((R.COMMANDER, R.MANAGER), "answer this request for command"),
    Do.INCIDENT_RESOLVE: Rule((R.COMMANDER, R.MANAGER), "resolve this incident"),
    Do.INCIDENT_REOPEN: Rule((R.COMMANDER, R.MANAGER), "reopen this incident"),
    Do.ACTION_DONE: Rule((R.OWNER, R.COMMANDER, R.MANAGER), "close this action item"),
    Do.INCIDENT_PUBLISH: Rule((R.COMMANDER, R.ON_CALL, R.MANAGER), "publish about this incident on the status page"),
    Do.PROD_DEPLOY: Rule((R.DEPLOYER,), "deploy to prod", prod_only=True),
    Do.PROD_FORCE: Rule((R.DEPLOYER,), "override the staging gate with --force", prod_only=True),
    Do.PROD_CHECK: Rule((R.DEPLOYER,), "tick a prod checklist", prod_only=True),
    Do.PROD_START: Rule((R.DEPLOYER,), "start a prod deploy", prod_only=True),
    Do.PROD_HEALTHY: Rule((R.DEPLOYER,), "end a prod watch as healthy", prod_only=True),
    Do.PROD_MARK: Rule((R.DEPLOYER,), "mark a prod deploy deployed or failed", prod_only=True),
    Do.ROLLBACK: Rule((R.DEPLOYER, R.ON_CALL_PRIMARY), "roll back"),
    Do.ROLLBACK_MARK: Rule((R.DEPLOYER, R.ON_CALL_PRIMARY), "mark a rollback done or failed"),
    Do.DEPLOY_CANCEL: Rule((R.REQUESTER, R.DEPLOYER), "cancel this deploy"),
    Do.DEPLOY_UNLOCK: Rule((R.DEPLOYER,), "unlock an environment"),
    # Whoever sees an alert first may own it or quiet it for a while; both are recorded and shown on it.
    Do.ALERT_ACKNOWLEDGE: Rule((R.ANYONE,), "acknowledge an alert"),
    Do.ALERT_SILENCE: Rule((R.ANYONE,), "silence or unsilence an alert"),
    # An acknowledgement that expires reminds, then escalates again; a snooze postpones that, recorded and shown.
    Do.ALERT_SNOOZE: Rule((R.ANYONE,), "snooze an acknowledged alert's reminder"),
    Do.INCIDENT_SNOOZE: Rule((R.COMMANDER, R.ON_CALL, R.MANAGER), "snooze this incident's acknowledgement reminder"),
    # Urgent cover: whoever is on call for the role (the subject's `replaced`) or a manager asks; the first
    # member of the rotation to press "I'll cover" gets the override at once, with no acceptance step.
    Do.COVER_ASK: Rule((R.REPLACED, R.MANAGER), "ask for urgent cover of this role"),
    Do.COVER_TAKE: Rule((R.ROTATION,), "take this cover"),
    # The monthly on-call report (hours, out-of-hours, pages, incidents: compensation figures).
    Do.ONCALL_REPORT: Rule((R.MANAGER,), "see the on-call report"),
}

# What the README's table says for each role (kept beside the table it explains).
ROLE_WORDS: dict[Role, str] = {
    R.ANYONE: "anyone",
    R.DEPLOYER: "the deployers",
    R.MANAGER: "a manager",
    R.ON_CALL_PRIMARY: "the on-call primary",
    R.ON_CALL: "whoever is on call",
    R.ROTATION: "a member of the rotation",
    R.COMMANDER: "the commander",
    R.REPLACED: "the engineer replaced",
    R.REQUESTER: "who asked for it",
    R.HOLDER: "the one it puts on call",
    R.OWNER: "its owner",
}


@dataclass(frozen=True)
class Subject:
    """What an action is about, as far as the policy needs to know."""

    commander: str | None = None
    requester: str | None = None
    holder: str | None = None
    owner: str | None = None
    replaced: frozenset[str] = field(default_factory=frozenset)
    environment: str | None = None  # a deploy's: the prod-only rules guard prod alone


async def deployers(services: Services) -> set[str] | None:
    """The deployers' user ids (user groups expanded); None when none are configured: anyone may."""
    configured = services.config.permissions.deployers
    if not configured:
        return None
    return await _people(services, configured)


async def managers(services: Services) -> set[str]:
    """Incident managers and the rotation's managers (emails resolved to user ids)."""
    return await _people(services, [*services.config.permissions.incident_managers, *services.config.oncall.managers])


async def _people(services: Services, entries: list[str]) -> set[str]:
    """Config members as user ids: user groups expanded, emails looked up (one unknown to Slack: no one)."""
    found: set[str] = set()
    for entry in entries:
        if entry.startswith("S") and "@" not in entry:
            found |= await services.users.group_members(entry)
        elif uid := await services.users.resolve(entry):
            found.add(uid)
    return found


async def on_call_primary(services: Services) -> str | None:
    return (await who_is_on_call(services, services.clock.now())).primary.user


async def _holders(services: Services, role: Role, subject: Subject) -> set[str] | None:
    """Who holds `role` for this subject; None means everyone does."""
    match role:
        case Role.ANYONE:
            return None
        case Role.DEPLOYER:
            return await deployers(services)
        case Role.MANAGER:
            return await managers(services)
        case Role.ON_CALL_PRIMARY:
            primary = await on_call_primary(services)
            return {primary} if primary else set()
        case Role.ON_CALL:
            return set((await who_is_on_call(services, services.clock.now())).chain())
        case Role.ROTATION:
            return await _people(services, [*services.config.oncall.engineers, *services.config.oncall.managers])
        case Role.COMMANDER:
            return {subject.commander} if subject.commander else set()
        case Role.REQUESTER:
            return {subject.requester} if subject.requester else set()
        case Role.HOLDER:
            return {subject.holder} if subject.holder else set()
        case Role.OWNER:
            return {subject.owner} if subject.owner else set()
        case Role.REPLACED:
            return set(subject.replaced)


async def allows(services: Services, action: Do, actor: str, subject: Subject = Subject()) -> bool:
    if POLICY[action].prod_only and subject.environment not in (None, PROD):
        return True
    for role in POLICY[action].who:
        holders = await _holders(services, role, subject)
        if holders is None or actor in holders:
            return True
    return False


async def who_may(services: Services, action: Do, subject: Subject = Subject()) -> str:
    """`the deployers (<@U1>, <!subteam^S2>) or the on-call primary (<@U3>)`, for a refusal."""
    parts = []
    for role in POLICY[action].who:
        if role == Role.DEPLOYER:
            configured = services.config.permissions.deployers
            names = [_name(d) for d in configured]
        else:
            names = [_name(u) for u in sorted(await _holders(services, role, subject) or set())]  # an email: as is
        parts.append(f"{ROLE_WORDS[role]} ({', '.join(names) or 'nobody at the moment'})")
    return " or ".join(parts)


async def require(services: Services, action: Do, actor: str, subject: Subject = Subject(), *, what: str = "") -> None:
    """Refused (naming who may) unless `actor` may do `action`."""
    if await allows(services, action, actor, subject):
        return
    raise Refused(f"Only {await who_may(services, action, subject)} may {what or POLICY[action].what}.", rule=action)


def checklist_rule(environment: str, rollback: bool) -> Do | None:
    """Who may tick a deploy's checklist: in prod the deployers (a rollback's verify list also the on-call
    primary, as for the rollback itself); elsewhere anyone (None)."""
    if environment != PROD:
        return None
    return Do.ROLLBACK if rollback else Do.PROD_CHECK


def table() -> list[tuple[str, str]]:
    """(action, who may) rows, as the README shows them."""
    return [(str(do), " or ".join(ROLE_WORDS[r] for r in rule.who)) for do, rule in POLICY.items()]


def _name(entry: str) -> str:
    """A configured member as Slack shows it: a group, a person, or (not yet looked up) the email itself."""
    if "@" in entry:
        return entry
    return f"<!subteam^{entry}>" if entry.startswith("S") else mention(entry)
