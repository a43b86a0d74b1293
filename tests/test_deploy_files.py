"""docker-compose.yml, the Dockerfile and deploy/kubernetes/ read as the tools read them.

There is no container engine where the tests run: compose's interpolation is done here as compose does it
(`${VAR}`, `${VAR:-default}`, `${VAR:?message}`), with the .env its header asks for, and the result must start
the bot's settings. CI lints the same files with hadolint, checkov and kubernetes-validate (.ci/run).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot import opsconfig
from bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, op, arg = match[1], match[2], match[3] or ""
        current = env.get(name)
        empty = current is None or (op in (":-", ":?") and current == "")
        if op in ("-", ":-"):
            return arg if empty else str(current)
        if op in ("?", ":?"):
            if empty:
                raise LookupError(f"{name}: {arg}")
            return str(current)
        return current or ""

    return _VAR.sub(one, value)


def compose(env: dict[str, str]) -> dict[str, Any]:
    return interpolate(yaml.safe_load((ROOT / "docker-compose.yml").read_text()), env)


def test_compose_with_the_env_its_header_asks_for_starts_the_bot(tmp_path, monkeypatch) -> None:
    dotenv = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "s3cret"}
    bot = compose(dotenv)["services"]["bot"]
    # The container's environment is exactly what compose hands over, empty values included.
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in bot["environment"].items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    settings.require_slack()
    assert settings.slack_app_token is None and settings.zzik_webhook_secret is None
    assert settings.database_url == "postgresql://zzik:zzik@postgres:5432/zzik"
    # No ops config given: /dev/null is mounted at ZZIK_CONFIG, and an empty file is the built-in config.
    [mount] = bot["volumes"]
    assert mount == f"/dev/null:{settings.zzik_config}:ro"
    assert opsconfig.load("/dev/null") == opsconfig.load()

    mine = tmp_path / "ops.yml"
    mine.write_text("permissions:\n  deployers: [U0ALICE]\n")
    [mount] = compose({**dotenv, "ZZIK_OPS_CONFIG": str(mine)})["services"]["bot"]["volumes"]
    assert mount == f"{mine}:/etc/zzik-bot/ops.yml:ro"

    with pytest.raises(LookupError, match="SLACK_BOT_TOKEN"):
        compose({"SLACK_SIGNING_SECRET": "s3cret"})


def test_compose_restarts_and_keeps_the_data() -> None:
    config = compose({"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y"})
    services = config["services"]
    assert {s["restart"] for s in services.values()} == {"unless-stopped"}
    assert "pgdata:/var/lib/postgresql/data" in services["postgres"]["volumes"] and "pgdata" in config["volumes"]
    assert services["bot"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_dockerfile_installs_a_wheel_in_a_slim_non_root_stage() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(stages) == 2 and all(re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", s) for s in stages)
    final = text.split("\nFROM ")[-1]
    assert "pip install -e" not in text and "/wheels/bot/*.whl" in final
    # Dependencies are installed in a layer before the bot's own code is copied in.
    assert final.index("/wheels/deps/*.whl") < final.index("COPY --from=build /wheels/bot")
    assert re.search(r"^USER 10001", final, re.M) and re.search(r"^VOLUME /data", final, re.M)
    assert re.search(r"^HEALTHCHECK .*--start-period=\d+s", final, re.M) and 'CMD ["python"' in final
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ignored[ignored.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!bot/"]


def _manifests() -> dict[str, dict[str, Any]]:
    """Each manifest by kind; a kind with several (the ConfigMaps) by kind/name too."""
    found = {}
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
            found[f"{doc['kind']}/{doc.get('metadata', {}).get('name', '')}"] = doc
    return found


def test_kubernetes_manifests() -> None:
    k = _manifests()
    listed = set(k["Kustomization"]["resources"])
    assert listed == {p.name for p in (ROOT / "deploy" / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}
    deployment = k["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    [init] = pod["initContainers"]
    assert init["args"] == ["migrate"]  # under the advisory lock: the first pod migrates, the others wait
    [bot] = pod["containers"]
    assert bot["args"] == ["serve"]
    for container in (init, bot):
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert container["resources"]["limits"] and container["resources"]["requests"]
    secrets = {e["name"] for e in bot["env"] if "secretKeyRef" in e.get("valueFrom", {})}
    assert {"DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"} <= secrets
    config_env = next(e["value"] for e in bot["env"] if e["name"] == "ZZIK_CONFIG")
    mount = next(m for m in bot["volumeMounts"] if m["name"] == "ops-config")
    assert config_env == mount["mountPath"] + "/ops.yml"
    ops = yaml.safe_load(k["ConfigMap/zzik-bot-ops"]["data"]["ops.yml"])
    assert ops is None  # the shipped example is all comments: the built-in config applies
    assert k["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert k["Service"]["spec"]["ports"][0]["targetPort"] == "http"


# -- issue 23, 1: liveness is not readiness -------------------------------------------------------------------------


def test_kubernetes_probes_liveness_on_livez_and_readiness_on_healthz() -> None:
    [bot] = _manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    # A database outage makes /healthz 503: as the liveness probe it restarted every replica during one.
    assert bot["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert bot["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    [port] = bot["ports"]
    assert port["name"] == "http" and str(port["containerPort"]) == _env_values(bot)["PORT"]


def test_compose_and_the_image_check_liveness() -> None:
    """One health check each; liveness, since an unhealthy container may be restarted (and that mends no outage)."""
    check = compose({"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y"})["services"]["bot"]["healthcheck"]
    assert "http://127.0.0.1:3000/livez" in " ".join(check["test"]) and "/healthz" not in " ".join(check["test"])
    # The instruction with its continuation lines.
    [healthcheck] = re.findall(r"^HEALTHCHECK (?:.*\\\n)*.*", (ROOT / "Dockerfile").read_text(), re.M)
    assert "/livez" in healthcheck and "/healthz" not in healthcheck


# -- issue 23, 2: every setting reaches the bot -----------------------------------------------------------------------

SETTINGS = {name.upper() for name in Settings.model_fields}
# Secret settings: in the Secret (Kubernetes), never in a ConfigMap.
SECRET = {name.upper() for name, f in Settings.model_fields.items() if "SecretStr" in str(f.annotation)} | {
    "DATABASE_URL"
}
# A value for every setting an operator may set, as a .env or the Secret/ConfigMap would hold it.
EXAMPLE = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "s3cret",
    "SLACK_APP_TOKEN": "xapp-1-A0-1-abc",
    "ZZIK_SOCKET_MODE": "1",
    "SLACK_API_URL": "https://slack.example/api/",
    "DATABASE_URL": "postgresql://zzik:pw@db.example:5432/zzik",
    "HOST": "0.0.0.0",
    "PORT": "3000",
    "ZZIK_CONFIG": "/etc/zzik-bot/ops.yml",
    "LOG_FORMAT": "console",
    "ZZIK_DATA_DIR": "/srv/zzik",
    "ZZIK_WEBHOOK_SECRET": "hook-secret",
    "ZZIK_JOB_TICK_SECONDS": "7",
    "ZZIK_DB_POOL_SIZE": "30",
    "ZZIK_ACK_BUDGET_SECONDS": "1.5",
    "ZZIK_PUBLIC_URL": "https://bot.example",
    "ZZIK_ALERTMANAGER_URL": "http://alertmanager:9093",
    "ZZIK_SLACK_RETRY_BACKOFF_SECONDS": "0.25",
    "ZZIK_ALERT_PACE_SECONDS": "2",
    "ZZIK_PAGERDUTY_ROUTING_KEY": "pd-routing-key",
    "ZZIK_PAGERDUTY_EVENTS_URL": "https://pd.example/v2/enqueue",
    "ZZIK_PAGERDUTY_WEBHOOK_SECRET": "pd-webhook-secret",
}
# What a deploy file fixes rather than passes on (the container's port, the mounted config, its database).
COMPOSE_FIXED = {"DATABASE_URL", "HOST", "PORT", "ZZIK_CONFIG"}
KUBERNETES_FIXED = {"HOST", "PORT", "ZZIK_CONFIG"}


def _env_values(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _settings_from(env: dict[str, str], monkeypatch) -> Settings:
    """The settings a container with exactly this environment reads."""
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def _same(got: Settings, name: str, value: str) -> bool:
    expected = getattr(Settings.model_validate({name.lower(): value}), name.lower())
    field = getattr(got, name.lower())
    if hasattr(field, "get_secret_value"):
        return field.get_secret_value() == expected.get_secret_value()
    return bool(field == expected)


def test_the_example_covers_every_setting() -> None:
    assert set(EXAMPLE) == SETTINGS


def test_every_setting_reaches_the_bot_in_compose(monkeypatch) -> None:
    bot = compose(EXAMPLE)["services"]["bot"]
    assert set(bot["environment"]) == SETTINGS
    settings = _settings_from(bot["environment"], monkeypatch)
    lost = [name for name in SETTINGS - COMPOSE_FIXED if not _same(settings, name, EXAMPLE[name])]
    assert lost == []
    assert settings.zzik_socket_mode is True  # Socket Mode from .env, as serve --socket-mode
    assert (settings.host, settings.port) == ("0.0.0.0", 3000)  # the container's; .env's PORT is published


def test_every_setting_reaches_the_bot_in_kubernetes(monkeypatch) -> None:
    k = _manifests()
    [bot] = k["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert bot["envFrom"] == [{"configMapRef": {"name": "zzik-bot-settings"}}]
    configmap = k["ConfigMap/zzik-bot-settings"]["data"]
    from_secret = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in bot["env"] if "valueFrom" in e}
    fixed = _env_values(bot)
    assert set(fixed) == KUBERNETES_FIXED
    names = [*configmap, *from_secret, *fixed]
    assert len(names) == len(set(names)) and set(names) == SETTINGS  # each once, none missing
    assert set(from_secret) == SECRET and not SECRET & set(configmap)  # secrets only in the Secret
    assert all(ref["name"] == "zzik-bot" and ref["key"] == name for name, ref in from_secret.items())
    required = {name for name, ref in from_secret.items() if not ref.get("optional")}
    assert required == {"DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"}

    # The shipped ConfigMap starts the bot (empty values: the built-in defaults) ...
    secret = {name: EXAMPLE[name] for name in required}
    settings = _settings_from({**configmap, **secret, **fixed}, monkeypatch)
    settings.require_slack()
    assert settings.zzik_socket_mode is False and settings.log_format == "json"
    assert str(settings.zzik_config) == next(m["mountPath"] for m in bot["volumeMounts"]) + "/ops.yml"
    # ... and whatever an operator puts in the ConfigMap and the Secret reaches it (env wins over envFrom).
    filled = {name: EXAMPLE[name] for name in configmap}
    settings = _settings_from({**filled, **{n: EXAMPLE[n] for n in from_secret}, **fixed}, monkeypatch)
    assert [name for name in SETTINGS - KUBERNETES_FIXED if not _same(settings, name, EXAMPLE[name])] == []


def _readme_settings() -> set[str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_readme_settings_table_lists_every_setting() -> None:
    missing = sorted(SETTINGS - _readme_settings())
    assert missing == [], f"README's settings table has no row for {missing}"
    assert _readme_settings() == SETTINGS  # and no row for a setting that is not there


async def test_socket_mode_runs_from_the_settings_compose_passes(pg_dsn: str, fake_slack, tmp_path) -> None:
    """compose and the manifests set variables, not flags: ZZIK_SOCKET_MODE=1 is `serve --socket-mode`."""
    import aiohttp

    from tests.processes import scratch_database, serve
    from tests.test_service import errors, run_cli

    dotenv = {"SLACK_BOT_TOKEN": "x", "SLACK_SIGNING_SECRET": "y", "SLACK_APP_TOKEN": "xapp-1-A0-1-ok"}
    passed = compose({**dotenv, "ZZIK_SOCKET_MODE": "1"})["services"]["bot"]["environment"]
    socket_env = {name: passed[name] for name in ("SLACK_APP_TOKEN", "ZZIK_SOCKET_MODE")}
    async with scratch_database(pg_dsn) as dsn:
        async with serve(dsn, fake_slack, tmp_path / "serve.log", **socket_env) as bot:
            url = f"http://127.0.0.1:{bot.port}/healthz"
            async with aiohttp.ClientSession() as session, session.get(url) as response:
                assert response.status == 200 and (await response.json())["socket_mode"] == {"state": "connected"}
        code, lines, _ = await run_cli("serve", ZZIK_SOCKET_MODE="1", SLACK_BOT_TOKEN="x", SLACK_SIGNING_SECRET="y")
        assert (code, errors(lines)) == (2, ["zzik-bot: SLACK_APP_TOKEN is not set (needed for ZZIK_SOCKET_MODE)"])
