"""Settings, the ops config (the manual as data), check-config, and secrets kept out of logs."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot import log, opsconfig
from bot.__main__ import main
from bot.settings import SettingsError, load_settings


def test_default_config_is_the_manual() -> None:
    config = opsconfig.load()
    assert config.channels.incidents == "#zzik-incidents" and config.channels.support == "#zzik-support"
    assert [s.level for s in config.severities] == ["P1", "P2", "P3", "P4"]
    assert config.severity("p2").ack_within == timedelta(minutes=30)
    assert config.severity("P4").ack_within == "next_business_day"
    assert config.severity("P1").all_hands
    assert [a.name for a in config.alerts][:2] == ["Service Down", "High Error Rate"]
    assert config.alerts[-1].response_time == timedelta(hours=48)
    assert len(config.deploy.pre_deploy_checklist) == 7
    assert [c.text for c in config.rollback.criteria] == [
        "Error rate > 10%",
        "Critical feature broken",
        "Performance degraded > 50%",
    ]
    assert [s.name for s in config.incidents.stages] == [
        "Detection",
        "Triage",
        "Communication",
        "Investigation",
        "Mitigation",
        "Resolution",
        "Post-mortem",
    ]
    assert {r.slug for r in config.runbooks} == {
        "high-cpu",
        "db-connection-errors",
        "slow-api",
        "memory-leak",
        "db-recovery",
        "app-recovery",
    }
    recovery = next(r for r in config.runbooks if r.slug == "db-recovery")
    assert recovery.steps[1].command == "psql -d zzik_live < backup.sql"
    assert len(config.maintenance.checklists["monthly"].items) == 6
    assert config.oncall.handoff.day == "monday" and config.oncall.handoff.time == time(10, 0)
    assert [g.group for g in config.slos][-1] == "Availability"


def test_override_is_section_by_section(tmp_path) -> None:
    path = tmp_path / "ops.yml"
    path.write_text(
        "oncall:\n  timezone: Asia/Seoul\n  handoff: {day: monday, time: 10:00}\n  start: 2026-11-23\n"
        "  engineers: [U0ALICE, U0BOB, carol@zzik.example]\n  managers: [U0MGR]\n  remind_before: 30m\n"
    )
    config = opsconfig.load(path)
    assert config.oncall.timezone == "Asia/Seoul" and config.oncall.engineers[2] == "carol@zzik.example"
    assert config.oncall.handoff.time == time(10, 0)  # unquoted 10:00 (YAML's base-60 600) still reads right
    assert config.channels.alerts == "#zzik-alerts"  # not in the file: the manual's default


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "oncall:\n  timezone: Mars/Olympus\n",
            "ops.yml:2: oncall.timezone: 'Mars/Olympus' is not an IANA",
        ),
        ("severities:\n  - level: P1\n", "ops.yml:2: severities.0.definition: Field required"),
        ("deploy:\n  watch_minutes: soon\n", "ops.yml:2: deploy.watch_minutes: Input should be a valid integer"),
        (
            "alerts:\n  - name: x\n    condition: y\n    priority: P1\n    response_time: later\n",
            "ops.yml:5: alerts.0.response_time",
        ),
        ("oncall: [1, 2\n", "ops.yml:2: not valid YAML"),
        ("nonsense: 1\n", "ops.yml:1: nonsense: unknown section"),
    ],
)
def test_config_errors_name_field_and_line(tmp_path, text: str, expected: str) -> None:
    path = tmp_path / "ops.yml"
    path.write_text(text)
    with pytest.raises(opsconfig.ConfigError) as err:
        opsconfig.load(path)
    assert any(p.replace(str(tmp_path) + "/", "").startswith(expected) for p in err.value.problems), err.value.problems


def test_check_config_cli(tmp_path, capsys) -> None:
    good = tmp_path / "good.yml"
    good.write_text("permissions:\n  deployers: [U0ALICE, S0DEPLOYERS]\n")
    assert main(["check-config", str(good)]) == 0
    assert "ok" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("permissions:\n  deployers: [alice]\n")
    assert main(["check-config", str(bad)]) == 1
    assert "bad.yml:2: permissions.deployers.0" in capsys.readouterr().err
    empty = tmp_path / "empty.yml"
    empty.write_text("")
    assert main(["check-config", str(empty)]) == 0
    assert "warning: permissions.deployers is empty" in capsys.readouterr().out


def test_missing_settings_stop_with_one_line_naming_the_variable(monkeypatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    with pytest.raises(SettingsError, match=r"^SLACK_BOT_TOKEN is not set$"):
        load_settings().require_slack()  # serve needs it; migrate and check-config do not
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SettingsError, match=r"^PORT "):
        load_settings()
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api")
    assert load_settings().slack_api_url == "http://127.0.0.1:9/api/"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "SLACK_SIGNING_SECRET": "x"},
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "zzik-bot: SLACK_BOT_TOKEN is not set"


def test_an_invalid_zzik_config_stops_serve_with_the_field_and_line(tmp_path, monkeypatch, capsys) -> None:
    bad = tmp_path / "ops.yml"
    bad.write_text("channels:\n  alerts: '#Alerts'\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret")
    monkeypatch.setenv("ZZIK_CONFIG", str(bad))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("zzik-bot: ZZIK_CONFIG is invalid:\n")
    assert f"{bad}:2: channels.alerts: '#Alerts' is not a channel name Slack accepts" in err


def test_secrets_never_reach_a_log_line(capsys) -> None:
    secret = "signing-secret-do-not-print"
    log.configure("json", secrets=[secret])
    try:
        logger = log.get("zzik.test")
        logger.info("calling slack", token="xoxb-123-456-abcdef", app_token="xapp-1-A1-2-zz", note=f"sig {secret}")
        logging.getLogger("slack_sdk.web").warning("Authorization: Bearer xoxp-99-88-secretvalue")
        try:
            raise RuntimeError(f"failed with {secret}")
        except RuntimeError:
            logger.exception("boom")
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    assert "calling slack" in err and "boom" in err
    for leaked in ("xoxb-123", "xapp-1-A1", "xoxp-99", secret):
        assert leaked not in err
    assert err.count("[redacted]") >= 5


def test_check_config_says_every_problem_at_once_in_words(tmp_path, capsys) -> None:
    bad = tmp_path / "ops.yml"
    bad.write_text(
        "nonsense: 1\n"
        "oncall:\n"
        "  engineers: [U0ALICE, alice, bob@zzik.example]\n"
        "  usergroup: oncall\n"
        "permissions:\n"
        "  deployers: [dave@zzik.example, S0DEPLOY, U0DAVE, not a person]\n"
        "  incident_managers: [mallory@zzik.example]\n"
        "runbooks:\n"
        "  - {slug: Bad Slug, name: x, steps: [{text: a}]}\n"
    )
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err.replace(str(tmp_path) + "/", "")
    sections = ", ".join(sorted(opsconfig.OpsConfig.model_fields))
    assert err.splitlines() == [
        f"ops.yml:1: nonsense: unknown section (sections: {sections})",
        "ops.yml:9: runbooks.0.slug: 'Bad Slug' is not a slug: up to 40 lowercase letters, digits or -, "
        "not starting with -",
        "ops.yml:3: oncall.engineers.1: 'alice' is not a Slack user id (like U0ALICE) or an email",
        "ops.yml:4: oncall.usergroup: 'oncall' is not a Slack user group id (like S0ONCALL)",
        "ops.yml:6: permissions.deployers.3: 'not a person' is not a Slack user id (like U0ALICE), an email or a "
        "user group id (like S0DEPLOY)",
    ]
    assert "^" not in err and "[A-Z" not in err  # no regular expression is shown to anyone


# -- issue 23, 3: a section in the file changes only the fields it names -----------------------------------------

# One field set in each section of the manual, with the value the config then holds.
ONE_FIELD = {
    "channels": ("alerts: '#ops-alerts'", "alerts", "#ops-alerts"),
    "alerting": ("digest_after: 9", "digest_after", 9),
    "prometheus": ("watch_window: 10m", "watch_window", timedelta(minutes=10)),
    "deploy": ("watch_minutes: 45", "watch_minutes", 45),
    "rollback": ("identify: [Check the deploy log]", "identify", ["Check the deploy log"]),
    "incidents": ("default_commander: reporter", "default_commander", "reporter"),
    "maintenance": ("channel: support", "channel", "support"),
    "oncall": ("timezone: Asia/Seoul", "timezone", "Asia/Seoul"),
    "permissions": ("deployers: [U0ALICE]", "deployers", ["U0ALICE"]),
    "stakeholders": ("remind_after: 45m", "remind_after", timedelta(minutes=45)),
    "pagerduty": ("source: zzik-live", "source", "zzik-live"),
    "recovery": ("rto: 2h", "rto", timedelta(hours=2)),
}


def test_every_section_made_of_fields_is_in_the_merge_table() -> None:
    sections = {
        name
        for name, field in opsconfig.OpsConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, opsconfig.Section)
    }
    assert sections == set(ONE_FIELD)


@pytest.mark.parametrize("section", sorted(ONE_FIELD))
def test_a_section_merges_field_by_field_over_the_built_in_one(tmp_path, section: str) -> None:
    line, field, value = ONE_FIELD[section]
    path = tmp_path / "ops.yml"
    path.write_text(f"{section}:\n  {line}\n")
    built_in = getattr(opsconfig.load(), section)
    mine = getattr(opsconfig.load(path), section)
    assert getattr(mine, field) == value != getattr(built_in, field)
    assert mine == built_in.model_copy(update={field: value})  # every other field is the manual's


def test_nested_mappings_merge_and_lists_replace(tmp_path) -> None:
    path = tmp_path / "ops.yml"
    path.write_text(
        "oncall:\n  handoff: {time: '09:30'}\n"
        "maintenance:\n  checklists:\n    daily:\n      items: [Check the dashboards]\n"
        "prometheus:\n  alert_rules:\n    ServiceDown: {expr: 'up{job=\"api\"} == 0'}\n"
        "rollback:\n  criteria:\n    - {id: error_rate, text: Error rate above 10%}\n"
    )
    built_in, mine = opsconfig.load(), opsconfig.load(path)
    assert mine.oncall.handoff.time == time(9, 30) and mine.oncall.handoff.day == built_in.oncall.handoff.day
    daily, built_in_daily = mine.maintenance.checklists["daily"], built_in.maintenance.checklists["daily"]
    assert daily.items == ["Check the dashboards"]  # a list is replaced whole
    assert (daily.schedule, daily.deadline) == (built_in_daily.schedule, built_in_daily.deadline)
    assert mine.maintenance.checklists["weekly"] == built_in.maintenance.checklists["weekly"]
    service_down = mine.prometheus.alert_rules["ServiceDown"]
    assert service_down.expr == 'up{job="api"} == 0' and service_down.for_ == timedelta(minutes=1)
    assert mine.prometheus.alert_rules["DiskSpace"] == built_in.prometheus.alert_rules["DiskSpace"]
    assert [c.id for c in mine.rollback.criteria] == ["error_rate"] and mine.rollback.verify == built_in.rollback.verify


def test_check_config_shows_the_effective_value_of_what_the_file_sets(tmp_path) -> None:
    path = tmp_path / "ops.yml"
    path.write_text(
        "incidents: {default_commander: reporter}\n"
        "deploy:\n  watch_minutes: 45\n"
        "oncall:\n  engineers: [U0ALICE, U0BOB]\n  remind_before: 1h30m\n  handoff: {time: '09:30'}\n"
        "stakeholders:\n  severities: [P1]\n"
    )
    result = cli("check-config", str(path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("effective values of what it sets (the rest is the built-in ZZIK LIVE manual):")
    assert lines[start - 1] == f"{path}: ok"
    assert lines[start + 1 :] == [
        "  incidents.default_commander: reporter",
        "  deploy.watch_minutes: 45",
        "  oncall.engineers: [U0ALICE, U0BOB]",
        "  oncall.remind_before: 1h30m",
        "  oncall.handoff.time: 09:30",
        "  stakeholders.severities: [P1]",
    ]


# -- issue 23, 4: check-config refuses what Slack and the rotation refuse ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("channels:\n  alerts: ''\n", "ops.yml:2: channels.alerts: '' is not a channel name: it is empty"),
        ("channels:\n  dev: '#'\n", "ops.yml:2: channels.dev: '#' is not a channel name: it is empty"),
        (
            "channels:\n  incidents: '#Incidents'\n",
            "ops.yml:2: channels.incidents: '#Incidents' is not a channel name Slack accepts: lowercase letters, "
            "digits, - and _ only (it has capital letters)",
        ),
        (
            "channels:\n  support: '#zzik support'\n",
            "ops.yml:2: channels.support: '#zzik support' is not a channel name Slack accepts: lowercase letters, "
            "digits, - and _ only (it has spaces)",
        ),
        (
            "stakeholders:\n  channel: '#zzik.status!'\n",
            "ops.yml:2: stakeholders.channel: '#zzik.status!' is not a channel name Slack accepts: lowercase "
            "letters, digits, - and _ only (it has '!', '.')",
        ),
        (
            "maintenance:\n  channel: Dev\n",
            "ops.yml:2: maintenance.channel: 'Dev' is not a channel name Slack accepts",
        ),
        (
            f"channels:\n  deployments: '#{'d' * 81}'\n",
            "ops.yml:2: channels.deployments: '#ddddddddddddddddddd'… is not a channel name: Slack takes at most 80",
        ),
        (
            "oncall:\n  engineers: [U0ALICE, U0BOB, U0ALICE]\n",
            "ops.yml:2: oncall.engineers: U0ALICE listed more than once: list each person once",
        ),
        (
            "oncall:\n  managers: [mgr@zzik.example, mgr@zzik.example]\n",
            "ops.yml:2: oncall.managers: mgr@zzik.example listed more than once",
        ),
    ],
)
def test_check_config_refuses_channel_names_slack_refuses_and_people_listed_twice(
    tmp_path, text: str, expected: str
) -> None:
    path = tmp_path / "ops.yml"
    path.write_text(text)
    result = cli("check-config", str(path))
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.replace(str(tmp_path) + "/", "").startswith(expected), line


def test_channel_names_slack_accepts_pass(tmp_path) -> None:
    path = tmp_path / "ops.yml"
    # With or without '#', digits, - and _, 80 characters, and letters of scripts without capitals.
    path.write_text(f"channels:\n  alerts: ops_alerts-2\n  dev: '#{'d' * 80}'\n  incidents: '#장애-대응'\n")
    config = opsconfig.load(path)
    assert (config.channels.alerts, config.channels.incidents) == ("ops_alerts-2", "#장애-대응")


# -- issue 23, 5: a config file that is not UTF-8 is one line, for every command that reads it ----------------------


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS`, a real process, with only the given environment."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
        env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", **env},
    )


def test_a_config_file_that_is_not_utf8_is_one_line_for_check_config_serve_and_rules(tmp_path) -> None:
    path = tmp_path / "ops.yml"
    path.write_bytes("oncall:\n  timezone: Asia/Seoul  # 서울\n".encode("euc-kr"))
    problem = f"{path}:2: not UTF-8 text (byte 0xbc): save the file as UTF-8"
    checked = cli("check-config", str(path))
    assert (checked.returncode, checked.stderr.splitlines()) == (1, [problem])
    rules = cli("rules", str(path))
    assert (rules.returncode, rules.stderr.splitlines()) == (1, [problem])
    rules = cli("rules", ZZIK_CONFIG=str(path))
    assert (rules.returncode, rules.stderr.splitlines()) == (1, [problem])
    served = cli("serve", ZZIK_CONFIG=str(path), SLACK_BOT_TOKEN="xoxb-1", SLACK_SIGNING_SECRET="s3cret")
    assert (served.returncode, served.stderr.splitlines()) == (2, ["zzik-bot: ZZIK_CONFIG is invalid:", problem])
