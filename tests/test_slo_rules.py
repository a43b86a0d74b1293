"""`zzik-bot rules`: the manual's alert table and SLO burn rates as a rules file promtool checks and tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.prom import binary

HERE = Path(__file__).resolve().parent


def rules(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # No Slack or database settings at all: the command needs only the config.
    clean = {"PATH": os.environ["PATH"], **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", "rules", *args], capture_output=True, text=True, env=clean, timeout=60
    )


def test_rules_from_the_built_in_config_pass_promtool_check_and_unit_tests(tmp_path: Path) -> None:
    promtool = binary("promtool")
    made = rules()
    assert made.returncode == 0, made.stderr
    generated = tmp_path / "zzik-rules.yml"
    generated.write_text(made.stdout)
    checked = subprocess.run([promtool, "check", "rules", str(generated)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 16 rules found" in checked.stdout

    groups = {g["name"]: g["rules"] for g in yaml.safe_load(made.stdout)["groups"]}
    table = {r["alert"]: r["labels"] for r in groups["zzik-manual-alert-table"]}
    assert table == {
        "ServiceDown": {"priority": "P1", "severity": "critical"},
        "HighErrorRate": {"priority": "P1", "severity": "critical"},
        "SlowResponse": {"priority": "P2", "severity": "warning"},
        "DatabaseConnectionPool": {"priority": "P2", "severity": "warning"},
        "DiskSpace": {"priority": "P2", "severity": "warning"},
        "CertificateExpiry": {"priority": "P3", "severity": "info"},
        "HighCPUUsage": {"priority": "P2", "severity": "warning"},
        "HighMemoryUsage": {"priority": "P2", "severity": "warning"},
    }
    runbooks = {r["alert"]: r["annotations"].get("runbook") for r in groups["zzik-manual-alert-table"]}
    assert runbooks["HighCPUUsage"] == "high-cpu" and runbooks["HighMemoryUsage"] == "memory-leak"
    assert runbooks["DatabaseConnectionPool"] == "db-connection-errors" and runbooks["ServiceDown"] is None
    pool = next(r for r in groups["zzik-manual-alert-table"] if r["alert"] == "DatabaseConnectionPool")
    assert pool["expr"] == 'sum by (instance) (db_client_connections_usage{state="used"}) / 10 > 0.8'
    assert "pg_stat_activity" not in made.stdout
    assert "# Not measurable in Prometheus, so not generated: Dependency Updates" in made.stdout
    burn = sorted({r["alert"] for r in groups["zzik-slo-burn-rates"]})
    assert burn == [
        "APIServicesErrorBudgetBurn",
        "DatabaseErrorBudgetBurn",
        "ErrorRateErrorBudgetBurn",
        "WebApplicationErrorBudgetBurn",
    ]

    for unit_tests in ("rules.test.yml", "resources.test.yml"):
        shutil.copy(HERE / "promtool" / unit_tests, tmp_path / unit_tests)
        tested = subprocess.run([promtool, "test", "rules", str(tmp_path / unit_tests)], capture_output=True, text=True)
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "SUCCESS" in tested.stdout


def test_service_down_is_the_uptime_probe_and_the_pool_follows_its_metric_when_configured(tmp_path: Path) -> None:
    promtool = binary("promtool")
    config = tmp_path / "ops.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "prometheus": {
                    "uptime_probe": "https://zzik.app",
                    "app_pool_in_use": 'pg_pool_in_use{app="zzik"}',
                    "app_pool_max": 20,
                }
            }
        )
    )
    made = rules(str(config))
    assert made.returncode == 0, made.stderr
    table = {r["alert"]: r for r in yaml.safe_load(made.stdout)["groups"][0]["rules"]}
    assert table["ServiceDown"]["expr"] == 'probe_success{instance="https://zzik.app"} == 0'
    assert table["ServiceDown"]["for"] == "1m"
    assert table["DatabaseConnectionPool"]["expr"] == 'sum by (instance) (pg_pool_in_use{app="zzik"}) / 20 > 0.8'
    (tmp_path / "zzik-probe-rules.yml").write_text(made.stdout)
    shutil.copy(HERE / "promtool" / "probe.test.yml", tmp_path / "probe.test.yml")
    probe = str(tmp_path / "probe.test.yml")
    tested = subprocess.run([promtool, "test", "rules", probe], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    # alert_rules still wins for the pool (e.g. the database server's connections, as before).
    config.write_text(
        yaml.safe_dump({"prometheus": {"alert_rules": {"DatabaseConnectionPool": {"expr": "x > 0.8", "for": "5m"}}}})
    )
    table = {r["alert"]: r for r in yaml.safe_load(rules(str(config)).stdout)["groups"][0]["rules"]}
    assert table["DatabaseConnectionPool"]["expr"] == "x > 0.8" and table["ServiceDown"]["expr"] == "up == 0"


def test_rules_follow_the_config_alertname_and_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "ops.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "alerts": [
                    {
                        "name": "High Error Rate",
                        "alertname": "ZzikErrors",
                        "condition": "Error rate > 2% for 3 min",
                        "priority": "P2",
                        "response_time": "15m",
                    }
                ],
                "prometheus": {
                    "alert_rules": {"ZzikErrors": {"expr": "job:errors:ratio1m > 0.02", "for": "3m"}},
                    "burn_rate_alerts": False,
                },
            }
        )
    )
    made = rules(str(config))
    assert made.returncode == 0, made.stderr
    (group,) = yaml.safe_load(made.stdout)["groups"]
    assert group["rules"] == [
        {
            "alert": "ZzikErrors",
            "expr": "job:errors:ratio1m > 0.02",
            "for": "3m",
            "labels": {"priority": "P2", "severity": "warning"},
            "annotations": {
                "summary": "High Error Rate",
                "description": "Error rate > 2% for 3 min",
                "response_time": "15m",
            },
        }
    ]
    # ZZIK_CONFIG is read the same way, and a bad config is refused naming the field.
    assert rules(env={"ZZIK_CONFIG": str(config)}).stdout == made.stdout
    config.write_text("prometheus: {timeout: 1h}\n")
    refused = rules(str(config))
    assert refused.returncode == 1 and "prometheus.timeout: must be more than 0 and at most 10s" in (refused.stderr)


def test_the_built_in_prometheus_section_is_the_code_defaults() -> None:
    # A ZZIK_CONFIG that replaces `prometheus:` with only a url keeps the same queries and alert rules.
    from bot import opsconfig

    assert opsconfig.load().prometheus == opsconfig.Prometheus()
    assert opsconfig.Prometheus.model_validate({"url": "http://prom:9090"}).alert_rules == opsconfig.ALERT_RULES


def test_an_alert_of_each_new_rule_suggests_its_runbook() -> None:
    # The rules' runbook annotation says what the alerts domain offers on the alert itself.
    from bot import opsconfig
    from bot.alerts.rules import meaning

    config = opsconfig.load()
    for alertname, row, runbook in (
        ("HighCPUUsage", "High CPU Usage", "high-cpu"),
        ("HighMemoryUsage", "High Memory Usage", "memory-leak"),
        ("DatabaseConnectionPool", "Database Connection Pool", "db-connection-errors"),
    ):
        found = meaning(config, {"alertname": alertname})
        assert found.rule is not None and found.rule.name == row
        assert [r.slug for r in found.runbooks] == [runbook]
