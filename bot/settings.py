"""Process settings from the environment (PRODUCT.md §1). An empty variable counts as unset."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # env_ignore_empty: `VAR=` (what compose writes for `${VAR:-}`) is the same as no VAR at all.
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", env_ignore_empty=True)

    # Only `serve` needs Slack's secrets (require_slack); `migrate` and `check-config` run without them.
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    # Serve over Socket Mode too, as `serve --socket-mode` does: for deploy files, which set variables, not flags.
    zzik_socket_mode: bool = False
    slack_api_url: str = "https://slack.com/api/"
    database_url: str | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=0, le=65535)
    zzik_config: Path | None = None
    log_format: Literal["json", "console"] | None = None
    # Unset: ~/.zzik-bot, or /var/lib/zzik-bot for root (see data_dir).
    zzik_data_dir: Path | None = None
    # Shared secret of the inbound webhooks (/hooks/*) and of the signed calls to the deploy pipeline.
    zzik_webhook_secret: SecretStr | None = None
    # How often each replica looks for due jobs.
    zzik_job_tick_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL connections each replica may hold: requests, job runs (which get all but 4 of them, at most 16)
    # and the audit writer share them.
    zzik_db_pool_size: int = Field(default=20, ge=4, le=200)
    # How long a command may work on its answer before the ack goes without it (the answer then follows
    # through response_url). Slack gives 3 s for the whole ack.
    zzik_ack_budget_seconds: float = Field(default=1.0, ge=0, le=2.0)
    # The base URL Slack and the pipeline reach this bot at (callback URLs are built from it).
    zzik_public_url: str | None = None
    # Alertmanager's address (e.g. http://alertmanager:9093): Silence/Unsilence on alerts use its API v2.
    zzik_alertmanager_url: str | None = None
    # The Slack client's retry backoff factor: the n-th retry after a failed connection or a 5xx waits about
    # this * 2**n seconds (slack_sdk's exponential backoff with jitter).
    zzik_slack_retry_backoff_seconds: float = Field(default=0.5, ge=0, le=10)
    # Slack takes about one message per second per channel; alert messages keep to this pace.
    zzik_alert_pace_seconds: float = Field(default=1.0, ge=0)
    # PagerDuty Events API v2 integration key; unset: paging is Slack DMs only.
    zzik_pagerduty_routing_key: SecretStr | None = None
    zzik_pagerduty_events_url: str = "https://events.pagerduty.com/v2/enqueue"
    # The v3 webhook subscription's signing secret (POST /hooks/pagerduty); unset: the route answers 401.
    zzik_pagerduty_webhook_secret: SecretStr | None = None

    @field_validator("zzik_pagerduty_events_url")
    @classmethod
    def _events_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("slack_bot_token", "slack_signing_secret")
    @classmethod
    def _not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        """Mistakes in the URL are configuration errors, said at once (never with the password)."""
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("postgresql", "postgres"):
            got = f"{parts.scheme}://" if parts.scheme and "://" in value else "no postgresql:// prefix"
            raise ValueError(f"must be a postgresql://user:password@host:port/database URL (got {got})")
        try:
            port = parts.port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("has a port that is not a number from 1 to 65535")
        return value

    @property
    def data_dir(self) -> Path:
        if self.zzik_data_dir is not None:
            return self.zzik_data_dir.expanduser()
        # root's home is private; the embedded server's own account could not reach a folder in it.
        return Path("/var/lib/zzik-bot") if os.geteuid() == 0 else Path("~/.zzik-bot").expanduser()

    def require_slack(self) -> None:
        """`serve` answers Slack: both secrets must be set."""
        missing = [n for n in ("slack_bot_token", "slack_signing_secret") if getattr(self, n) is None]
        if missing:
            raise SettingsError("; ".join(f"{n.upper()} is not set" for n in missing))


class SettingsError(Exception):
    """Settings could not be loaded; the message, one line, names each bad variable."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            reason = "is not set" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
            problems.append(f"{name} {reason[:1].lower()}{reason[1:]}")
        raise SettingsError("; ".join(problems)) from None
