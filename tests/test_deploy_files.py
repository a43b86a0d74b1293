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
from bot.settings import load_settings

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
    found = {}
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            found[doc["kind"]] = doc
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
    for probe in ("readinessProbe", "livenessProbe"):
        assert bot[probe]["httpGet"]["path"] == "/healthz"
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
    ops = yaml.safe_load(k["ConfigMap"]["data"]["ops.yml"])
    assert ops is None  # the shipped example is all comments: the built-in config applies
    assert k["PodDisruptionBudget"]["spec"]["minAvailable"] == 1
    assert k["Service"]["spec"]["ports"][0]["targetPort"] == "http"
