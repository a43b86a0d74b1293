"""CI: the installed wheel, run from outside the checkout: migrate, serve, and one signed slash command.

Run with the python of a fresh virtualenv the wheel was installed into; argv[1] is an admin PostgreSQL URL.
Only the standard library and the wheel's own dependencies are used. Fails loudly (non-zero exit).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import ClassVar

import asyncpg

SECRET = "ci-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Slack(BaseHTTPRequestHandler):
    """Slack's Web API, as little of it as a start and /oncall help need: every method answers ok."""

    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.calls.append(self.path)
        body = {"ok": True, "team_id": "T0CI", "user_id": "U0BOT", "bot_id": "B0BOT", "url": "https://ci.slack.com/"}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def fake_slack() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slack)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/api/"


def admin(url: str, sql: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def http(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def main(admin_url: str) -> None:
    import bot

    checkout = Path(__file__).resolve().parent.parent
    installed = Path(bot.__file__).resolve()
    assert checkout not in installed.parents, f"bot is imported from the checkout ({installed}), not the wheel"
    shipped = sorted(f.name for f in (resources.files("bot") / "migrations").iterdir() if f.name.endswith(".sql"))
    assert shipped, "the wheel carries no migrations"
    expected = shipped[-1][:4]

    name = f"zzik_ci_{uuid.uuid4().hex[:8]}"
    admin(admin_url, f'CREATE DATABASE "{name}"')
    dsn = urllib.parse.urlsplit(admin_url)._replace(path=f"/{name}").geturl()
    cli = str(Path(sys.executable).with_name("zzik-bot"))
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": dsn, "LOG_FORMAT": "json"}
    try:
        migrated = subprocess.run([cli, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        assert migrated.stdout.strip().startswith(f"applied {len(shipped)} migration(s): 0001"), migrated.stdout
        print(f"migrate (no Slack secrets): {migrated.stdout.strip()}")

        port = free_port()
        serve_env = {
            **env,
            "SLACK_BOT_TOKEN": "xoxb-ci-0000",
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake_slack(),
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        log = open(Path.cwd() / "serve.log", "w")  # closed after the process ends
        proc = subprocess.Popen([cli, "serve"], env=serve_env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, f"serve exited with {proc.returncode}: {Path('serve.log').read_text()}"
                try:
                    status, text = http("GET", base + "/healthz")
                    if status == 200:
                        break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "serve did not become healthy in 90 s"
                time.sleep(0.3)
            health = json.loads(text)
            assert health["schema"] == {"expected": expected, "found": expected}, health
            print(f"serve: healthy, schema {expected}")

            form = urllib.parse.urlencode(
                {
                    "command": "/oncall",
                    "text": "help",
                    "user_id": "U0CI",
                    "channel_id": "C0CI",
                    "team_id": "T0CI",
                    "trigger_id": "t.ci",
                    "response_url": f"http://127.0.0.1:{free_port()}/response",
                }
            ).encode()
            timestamp = str(int(time.time()))
            signature = (
                "v0=" + hmac.new(SECRET.encode(), f"v0:{timestamp}:".encode() + form, hashlib.sha256).hexdigest()
            )
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            }
            status, text = http("POST", base + "/slack/events", form, headers)
            assert status == 200 and "/oncall next" in json.loads(text)["text"], (status, text)
            status, _ = http("POST", base + "/slack/events", form, {**headers, "X-Slack-Signature": "v0=00"})
            assert status == 401, status
            assert "/api/auth.test" in _Slack.calls, _Slack.calls
            print("signed /oncall help: answered; a bad signature: 401")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
            log.close()
        assert code == 0, f"serve exited {code} on SIGTERM"
        print("serve: stopped cleanly on SIGTERM")
    finally:
        admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main(sys.argv[1])
