"""Every slash command the bot owns (manifest.yml lists exactly these; a test checks it), its usage and help
words, and the one-word requests every command's grammar shares (`Word`, `Help`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.slack.text import escape, first_word, shorten

HELP_WORDS = frozenset({"help", "-h", "--help", "?"})
ECHO_MOST = 40  # visible characters of a word shown back in "`…` is not a /x command"


@dataclass(frozen=True)
class Word:
    """A request that is one word (or none) and nothing after it; each command's grammar names its own. Each
    subclass is a frozen dataclass too, without a decorator of its own."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)


class Help(Word):
    """`help` (or `-h`, `--help`, `?`) after any command: its usage."""


@dataclass(frozen=True)
class Command:
    name: str
    description: str
    usage_hint: str
    usage: str
    # First words (lowercase; "" for none) after which the command only reads and changes nothing: such a
    # request needs no delivery claim, since answering it twice does no harm.
    reads: frozenset[str] = field(default=frozenset())


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command(
            "/incident",
            "Declare and run incidents",
            "[p1-p4 <title>] | list | update | severity | commander | stage | resolve | help",
            "*`/incident`* opens the Declare incident form\n"
            "`/incident p1 <title>` declares at once (p1–p4)\n"
            "`/incident list` open incidents\n"
            "In an incident channel: `update <text>` · `severity p2` · `commander @user` · `stage <name>` · "
            "`action <text> [@owner] [due YYYY-MM-DD]` · `action done <n>` · `actions` · `resolve [summary]` · "
            "`timeline` · `postmortem` · `reopen` (commander or manager) · "
            "`public [investigating|identified|monitoring|resolved] <text>` (status page)",
            reads=frozenset({"list", "timeline", "actions"}),
        ),
        Command(
            "/deploy",
            "Deploy to staging or production",
            "staging|prod <version> | status | history [env] | help",
            '*`/deploy staging <version>`* · `/deploy prod <version> [--force "reason"]` · `/deploy status` · '
            "`/deploy history [env] [n]` · `/deploy unlock <env> <reason>`",
            reads=frozenset({"status", "history"}),
        ),
        Command(
            "/rollback",
            "Roll an environment back to its last good version",
            "prod [reason] | help",
            "*`/rollback <env> [reason]`* shows the rollback criteria and the target version, then asks to confirm",
            reads=frozenset(),
        ),
        Command(
            "/runbook",
            "List and run runbooks step by step",
            "[name] | runs | drill <name> | drills | help",
            "*`/runbook`* lists runbooks · `/runbook <name>` starts one · `/runbook runs` shows runs in progress · "
            "`/runbook drill <name>` runs a recovery runbook as a timed drill (restore time against the RTO, the "
            "restored data's age against the RPO) · `/runbook drills` lists past drills",
            reads=frozenset({"", "list", "runs", "drills"}),
        ),
        Command(
            "/oncall",
            "Who is on call, the schedule, overrides",
            "[next | schedule [weeks] | at <when> | override … | overrides | contacts | cover … | calendar | report "
            "| help]",
            "*`/oncall`* who is on call now\n"
            "`/oncall next` the next rotation · `/oncall schedule [weeks]` (default 4, at most 26) · "
            "`/oncall at <YYYY-MM-DD [HH:MM]>`\n"
            "`/oncall override @user <primary|secondary|manager> <from> <to>` (dates or `YYYY-MM-DD HH:MM`, "
            "team time zone) · `/oncall overrides` · `/oncall override cancel <id>` · "
            "`/oncall contacts` the emergency contact list (the rotation, whoever is on call, incident managers)\n"
            "`/oncall calendar` your calendar feed links by DM (your shifts, the whole team) · "
            "`/oncall calendar rotate` replaces them · `/oncall report [YYYY-MM]` a month's hours, out-of-hours, "
            "pages and incidents per person, with a CSV (managers; default: last month)\n"
            "`/oncall cover [primary|secondary] [for <hours>|until <time>]` urgent cover now (default: your role, "
            "4 h; `until` in your time zone): the first to press *I'll cover* takes it · `/oncall cover cancel`",
            reads=frozenset({"", "next", "schedule", "at", "overrides", "contacts"}),
        ),
        Command(
            "/maintenance",
            "The maintenance checklists",
            "[post daily|weekly|monthly] | help",
            "*`/maintenance`* the current checklists and what is open · "
            "`/maintenance post <daily|weekly|monthly>` posts one now",
            reads=frozenset({""}),
        ),
        Command(
            "/slo",
            "SLOs with live values, error budgets and burn rates",
            "[report [YYYY-MM]] | help",
            "*`/slo`* every SLO now from Prometheus: value over its window, target, error budget left, burn rate "
            "over 1 h and 6 h, status · `/slo report [YYYY-MM]` one month (default: the last one)",
            reads=frozenset({"", "report"}),
        ),
        Command(
            "/alerts",
            "What fires now, by priority",
            "[history [n]] | help",
            "*`/alerts`* what fires now by priority, with age and owner · `/alerts history [n]` the last n alerts "
            "(default 20, at most 100)",
            reads=frozenset({"", "history"}),
        ),
        Command(
            "/backups",
            "Backups and heartbeats: last run and state",
            "[help]",
            "*`/backups`* each backup and heartbeat: its expected interval, last run (your time), age, size and "
            "state (fresh, late, failed, never, not watched). A job reports a run with "
            "`POST /hooks/heartbeat/<name>`",
            reads=frozenset({""}),
        ),
    )
}


def usage(name: str) -> str:
    """A command's usage as mrkdwn: its `<placeholders>` escaped, or Slack would read them as links."""
    command = COMMANDS.get(name)
    return escape(command.usage) if command else ""


def only_reads(name: str, text: str) -> bool:
    """True when `name text` only reads (help, lists, status): see `Command.reads`."""
    command = COMMANDS.get(name)
    words = text.split(maxsplit=1)
    first = words[0].lower() if words else ""
    return command is not None and (first in HELP_WORDS or first in command.reads)


def echo(text: str) -> str:
    """The first word of a command's text (safe mrkdwn), as an answer shows it back ("`…` is not a /x command"):
    whole if it is a link or a mention whose label has spaces, and a long one shortened with "…" outside any
    `<…>` sequence or entity, so what Slack shows is never half a link."""
    return shorten(first_word(text), ECHO_MOST)
