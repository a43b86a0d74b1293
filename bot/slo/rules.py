"""The manual's alert table and SLOs as a Prometheus rules file (`zzik-bot rules`)."""

from __future__ import annotations

import re
from datetime import timedelta

import yaml

from bot.opsconfig import AlertRule, OpsConfig, PrometheusAlert, parse_duration
from bot.prom import duration, with_window
from bot.slo.measure import objective_target, parse_target

SEVERITY = {"P1": "critical", "P2": "warning", "P3": "info", "P4": "info"}
# The SRE workbook's multiwindow, multi-burn-rate alerts for a 30-day SLO: (burn rate, long window, short window).
PAGE = ((14.4, "1h", "5m"), (6.0, "6h", "30m"))  # 2% of the budget in 1 h, 5% in 6 h
TICKET = ((3.0, "1d", "2h"), (1.0, "3d", "6h"))  # 10% in 1 d, 10% in 3 d


def camel(name: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[^0-9A-Za-z]+", name) if w)


def burn_alertname(slo_name: str) -> str:
    return f"{camel(slo_name)}ErrorBudgetBurn"


def _labels(priority: str, **more: str) -> dict[str, str]:
    return {"priority": str(priority), "severity": SEVERITY[priority], **more}


def _label_value(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def promql_of(config: OpsConfig, alertname: str) -> PrometheusAlert | None:
    """A row's PromQL: alert_rules, else the pool from app_pool_in_use; Service Down is the probe when one is set."""
    prometheus = config.prometheus
    promql = prometheus.alert_rules.get(alertname)
    if alertname == "ServiceDown" and prometheus.uptime_probe:
        for_ = promql.for_ if promql else timedelta(minutes=1)
        expr = f"probe_success{{instance={_label_value(prometheus.uptime_probe)}}} == 0"
        return PrometheusAlert(expr=expr, for_=for_)
    if alertname == "DatabaseConnectionPool" and promql is None:
        expr = f"sum by (instance) ({prometheus.app_pool_in_use}) / {prometheus.app_pool_max} > 0.8"
        return PrometheusAlert(expr=expr, for_=timedelta(minutes=5))
    return promql


def runbooks_of(config: OpsConfig, row: AlertRule) -> list[str]:
    """The runbooks an alert of this row suggests: its own `runbook`, then those naming the row."""
    slugs = [row.runbook] if row.runbook else []
    return slugs + [r.slug for r in config.runbooks if row.name in r.alerts and r.slug not in slugs]


def manual_rules(config: OpsConfig) -> tuple[list[dict], list[str]]:
    """(rules, names of the rows Prometheus cannot measure)."""
    rules, skipped = [], []
    for row in config.alerts:
        promql = promql_of(config, row.alertname)
        if promql is None:
            skipped.append(row.name)
            continue
        rule: dict = {"alert": row.alertname, "expr": promql.expr}
        if promql.for_.total_seconds() > 0:
            rule["for"] = duration(promql.for_)
        rule["labels"] = _labels(row.priority)
        rule["annotations"] = {
            "summary": row.name,
            "description": row.condition,
            "response_time": duration(row.response_time),
        }
        if runbooks := runbooks_of(config, row):
            rule["annotations"]["runbook"] = ", ".join(runbooks)
        rules.append(rule)
    return rules, skipped


def burn_rules(config: OpsConfig) -> list[dict]:
    rules = []
    for group in config.slos:
        for objective in group.objectives:
            target = parse_target(objective_target(objective))
            if objective.query is None or target is None or not target.is_ratio or target.allowed_bad <= 0:
                continue
            budget = target.allowed_bad
            bad = _bad_ratio(objective.query, target.at_most)
            for level, windows, priority in (("page", PAGE, "P2"), ("ticket", TICKET, "P3")):
                expr = " or ".join(
                    f"({bad(long)} > {rate * budget:.6g} and {bad(short)} > {rate * budget:.6g})"
                    for rate, long, short in windows
                )
                rules.append(
                    {
                        "alert": burn_alertname(objective.name),
                        "expr": expr,
                        "labels": _labels(priority, slo=objective.name, burn=level),
                        "annotations": {
                            "summary": f"{objective.name} is burning its error budget",
                            "description": (
                                f"SLO {objective_target(objective)} over {duration(objective.window)}: "
                                + " or ".join(f"{rate:g}x over {long} and {short}" for rate, long, short in windows)
                            ),
                        },
                    }
                )
    return rules


def _bad_ratio(query: str, at_most: bool):
    """The PromQL of the bad-event ratio over a window, from the SLI's query."""

    def bad(window: str) -> str:
        q = with_window(query, parse_duration(window))
        return f"({q})" if at_most else f"(1 - ({q}))"

    return bad


def rules_file(config: OpsConfig) -> str:
    manual, skipped = manual_rules(config)
    groups = [{"name": "zzik-manual-alert-table", "rules": manual}]
    if config.prometheus.burn_rate_alerts:
        burn = burn_rules(config)
        if burn:
            groups.append({"name": "zzik-slo-burn-rates", "rules": burn})
    head = "# Generated by `zzik-bot rules` from the ops config: the manual's alert table and SLO burn rates.\n"
    if skipped:
        head += "# Not measurable in Prometheus, so not generated: " + ", ".join(skipped) + "\n"
    return head + yaml.safe_dump({"groups": groups}, sort_keys=False, width=1000, allow_unicode=True)
