"""The emergency contact list of the manual's on-call kit, as the ops config holds it (`oncall.contacts`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_CONTACTS = 40


class EmergencyContact(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100)
    role: str = Field(min_length=1, max_length=100)  # e.g. "CTO", "Database vendor support", "Hosting provider"
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ().-]{2,29}$")
    email: str | None = Field(default=None, pattern=r"^[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+$", max_length=200)

    @model_validator(mode="after")
    def _reachable(self) -> EmergencyContact:
        if self.phone is None and self.email is None:
            raise ValueError(f"{self.name}: a contact needs a phone, an email or both")
        return self

    @property
    def dial(self) -> str | None:
        """The phone number as a tel: URI wants it (digits and a leading +)."""
        if self.phone is None:
            return None
        return ("+" if self.phone.startswith("+") else "") + "".join(c for c in self.phone if c.isdigit())
