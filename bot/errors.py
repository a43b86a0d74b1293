"""Errors a user can cause, and the ones that are nobody's fault."""


class UsageError(Exception):
    """Bad input from a user: answered with one ephemeral message and the command's usage."""

    def __init__(self, message: str, *, usage: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.show_usage = usage


class Refused(UsageError):
    """The user may not do this; the message says who may. No usage is shown."""

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message, usage=False)
        self.rule = rule  # the policy action that refused, for the audit row


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached right now."""


class DatabaseMisconfigured(Exception):
    """The database answers but refuses the configured database name, role or password: no retry helps."""
