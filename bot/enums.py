"""Names a user, a payload or a form may give, as enums (shared, pure: no domain, no I/O).

`Choice` is a StrEnum that says which of its members a value names, else None: the one way to turn text into a
member, instead of `try: X(value) except ValueError` or `value in {x.value for x in X}` in each domain."""

from __future__ import annotations

from enum import StrEnum
from typing import Self


class Choice(StrEnum):
    @classmethod
    def parse(cls, value: object) -> Self | None:
        """The member whose value `value` is exactly ("resolved"), else None (no case folding, no trimming: the
        caller says what it accepts)."""
        if not isinstance(value, str):
            return None
        try:
            return cls(value)
        except ValueError:
            return None

    @classmethod
    def values(cls) -> list[str]:
        """The values in declared order (for a usage line or a select's options)."""
        return [member.value for member in cls]
