"""Process settings from the environment (PRODUCT.md §1)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    database_url: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    zzik_config: Path | None = None
    log_format: Literal["json", "console"] | None = None
    zzik_data_dir: Path = Path("~/.zzik-bot")
    # Shared secret of the inbound webhooks (/hooks/*) and of the signed calls to the deploy pipeline.
    zzik_webhook_secret: SecretStr | None = None
    # How often each replica looks for due jobs.
    zzik_job_tick_seconds: float = Field(default=5.0, gt=0)
    # How long a command may work on its answer before the ack goes without it (the answer then follows
    # through response_url). Slack gives 3 s for the whole ack.
    zzik_ack_budget_seconds: float = Field(default=1.0, ge=0, le=2.0)
    # The base URL Slack and the pipeline reach this bot at (callback URLs are built from it).
    zzik_public_url: str | None = None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token", "slack_signing_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty")
        return value

    @property
    def data_dir(self) -> Path:
        return self.zzik_data_dir.expanduser()


class SettingsError(Exception):
    """Settings could not be loaded; the message names the variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = "is not set" if first["type"] == "missing" else first["msg"].lower()
        raise SettingsError(f"{name} {reason}") from None
