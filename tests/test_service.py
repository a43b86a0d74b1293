"""Running as a service: one-line errors, the embedded PostgreSQL's life, health that tells the truth.

Real `zzik-bot` processes (python -m bot) against the fake Slack and the test PostgreSQL, or the embedded one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bot import migrate
from bot.__main__ import main
from bot.embedded import ACCOUNT
from bot.fakeslack import FakeSlack
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RunningBot, eventually
from tests.processes import ROOT, free_port, scratch_database, serve


async def run_cli(*args: str, within: float = 60, **env: str) -> tuple[int, list[str], float]:
    """`python -m bot ARGS` with only the given environment; its exit status, stderr lines and duration."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env={"PATH": os.environ["PATH"], "LOG_FORMAT": "json", **env},
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    lines = [line for line in err.decode().splitlines() if line.strip()]
    return proc.returncode, [*lines, *out.decode().splitlines()], loop.time() - started


def errors(lines: list[str]) -> list[str]:
    """The lines that are not JSON log lines: what a person reads when the process refuses to start."""
    return [line for line in lines if not line.startswith("{")]


def url_with(dsn: str, *, path: str | None = None, user: str | None = None) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(dsn)
    netloc = parts.netloc
    if user is not None:
        netloc = user + "@" + netloc.split("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=netloc, path=path if path is not None else parts.path))


# -- 2, 3, 5: configuration mistakes are one line, at once -----------------------------------------------------


def cli(monkeypatch, capsys, *args: str, **env: str) -> tuple[int, list[str], float]:
    """`zzik-bot ARGS` in this process with only the given settings; exit status, output lines, duration."""
    for name in os.environ:
        if name.startswith(("SLACK_", "ZZIK_", "DATABASE_URL", "PORT", "HOST")):
            monkeypatch.delenv(name)
    for name, value in {"LOG_FORMAT": "json", **env}.items():
        monkeypatch.setenv(name, value)
    started = time.monotonic()
    try:
        code = main(list(args))
    finally:
        logging.getLogger().handlers.clear()
    out = capsys.readouterr()
    return code, [*out.err.splitlines(), *out.out.splitlines()], time.monotonic() - started


def test_migrate_needs_no_slack_secrets_and_database_url_mistakes_are_one_line(
    pg_dsn: str, tmp_path, monkeypatch, capsys
) -> None:
    name = "zzik_migrate_" + uuid.uuid4().hex[:8]
    dsn = url_with(pg_dsn, path=f"/{name}")
    admin = admin_sql(pg_dsn)
    admin(f'CREATE DATABASE "{name}"')
    try:
        code, lines, _ = cli(monkeypatch, capsys, "migrate", DATABASE_URL=dsn)
        assert code == 0 and lines[-1].startswith("applied ") and "0001" in lines[-1], lines
    finally:
        admin(f'DROP DATABASE "{name}" WITH (FORCE)')

    cases = {
        "mysql://root@127.0.0.1/zzik": "DATABASE_URL must be a postgresql://user:password@host:port/database URL "
        "(got mysql://)",
        "notaurl": "DATABASE_URL must be a postgresql://user:password@host:port/database URL "
        "(got no postgresql:// prefix)",
        "postgresql://u:secretpw@127.0.0.1:99999/zzik": "DATABASE_URL has a port that is not a number from 1 to 65535",
        url_with(pg_dsn, path="/zzik_no_such_db"): 'DATABASE_URL: database "zzik_no_such_db" does not exist',
        url_with(pg_dsn, user="zzik_no_such_role"): 'DATABASE_URL: role "zzik_no_such_role" does not exist',
    }
    for url, expected in cases.items():
        code, lines, seconds = cli(monkeypatch, capsys, "migrate", DATABASE_URL=url)
        assert (code, errors(lines)) == (2, [f"zzik-bot: {expected}"]), url
        assert seconds < 10  # at once: no 30 s of retries, as for an outage
        assert "secretpw" not in "".join(lines)

    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    code, lines, _ = cli(monkeypatch, capsys, "migrate", ZZIK_DATA_DIR=str(not_a_dir))
    assert (code, errors(lines)) == (2, [f"zzik-bot: ZZIK_DATA_DIR {not_a_dir} is not a directory"])
    code, lines, _ = cli(monkeypatch, capsys, "migrate", ZZIK_DATA_DIR=str(not_a_dir / "below"))
    assert (code, errors(lines)) == (
        2,
        [f"zzik-bot: ZZIK_DATA_DIR {not_a_dir / 'below'} cannot be created: Not a directory"],
    )

    code, lines, _ = cli(monkeypatch, capsys, "serve", DATABASE_URL=pg_dsn, SLACK_SIGNING_SECRET="")
    assert (code, errors(lines)) == (2, ["zzik-bot: SLACK_BOT_TOKEN is not set; SLACK_SIGNING_SECRET is not set"])


def test_backup_and_restore_with_database_url(pg_dsn: str, tmp_path, monkeypatch, capsys) -> None:
    dump = tmp_path / "zzik.dump"
    names = [f"zzik_backup_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    source, target = (url_with(pg_dsn, path=f"/{n}") for n in names)
    admin = admin_sql(pg_dsn)
    for name in names:
        admin(f'CREATE DATABASE "{name}"')
    try:
        assert cli(monkeypatch, capsys, "migrate", DATABASE_URL=source)[0] == 0
        admin_sql(source)("INSERT INTO audit_log (kind, action, outcome) VALUES ('command', '/backup-test', 'ok')")
        code, lines, _ = cli(monkeypatch, capsys, "backup", str(dump), DATABASE_URL=source)
        assert (code, lines[-1]) == (0, f"backed up to {dump}")
        assert stat.S_IMODE(dump.stat().st_mode) == 0o600
        # Into an empty database, and again over the restored one (--clean): the same rows either way.
        for _ in range(2):
            code, lines, _ = cli(monkeypatch, capsys, "restore", str(dump), DATABASE_URL=target)
            assert (code, lines[-1]) == (0, f"restored from {dump}")
            assert admin_rows(target, "SELECT action FROM audit_log") == [("/backup-test",)]
        code, lines, _ = cli(monkeypatch, capsys, "migrate", DATABASE_URL=target)
        assert lines[-1] == "applied 0 migration(s): none needed"  # the schema came back with its version
        code, lines, _ = cli(monkeypatch, capsys, "restore", str(tmp_path / "none.dump"), DATABASE_URL=target)
        assert (code, errors(lines)) == (1, [f"zzik-bot: {tmp_path / 'none.dump'}: no such file"])
    finally:
        for name in names:
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin_rows(dsn: str, sql: str) -> list[tuple]:
    async def go() -> list[tuple]:
        conn = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(go())


def admin_sql(dsn: str):
    """A one-statement admin connection, for a sync test."""

    def run(sql: str) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(go())

    return run


# -- 4: the port is bound before any work ------------------------------------------------------------------------


async def test_a_port_in_use_is_one_line_and_nothing_is_started(pg_dsn: str, fake_slack: FakeSlack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with scratch_database(pg_dsn) as dsn:
            code, lines, _ = await run_cli(
                "serve",
                DATABASE_URL=dsn,
                SLACK_BOT_TOKEN=BOT_TOKEN,
                SLACK_SIGNING_SECRET=SIGNING_SECRET,
                SLACK_API_URL=fake_slack.url,
                HOST="127.0.0.1",
                PORT=str(port),
            )
            assert (code, errors(lines)) == (2, [f"zzik-bot: PORT {port} is already in use on 127.0.0.1"])
            db = await asyncpg.connect(dsn)
            assert await db.fetchval("SELECT to_regclass('schema_migrations')") is None  # no migration ran
            await db.close()
    assert fake_slack.calls == []


# -- 6: the bot token is checked at start ---------------------------------------------------------------------------


async def test_a_token_slack_refuses_stops_the_start_and_slack_out_of_reach_is_a_warning(
    pg_dsn: str, fake_slack: FakeSlack, tmp_path
) -> None:
    fake_slack.fail("auth.test", error="invalid_auth")
    async with scratch_database(pg_dsn) as dsn:
        code, lines, _ = await run_cli(
            "serve",
            DATABASE_URL=dsn,
            SLACK_BOT_TOKEN="xoxb-your-token",
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_API_URL=fake_slack.url,
            HOST="127.0.0.1",
            PORT=str(free_port()),
        )
        assert (code, errors(lines)) == (
            2,
            ["zzik-bot: SLACK_BOT_TOKEN was refused by Slack (invalid_auth): copy the bot token again"],
        )
        unreachable = f"http://127.0.0.1:{free_port()}/api/"
        async with serve(dsn, fake_slack, tmp_path / "serve.log", SLACK_API_URL=unreachable) as served:
            assert served.proc.returncode is None
        assert "Slack could not be reached to check SLACK_BOT_TOKEN; starting anyway" in served.log.read_text()


# -- 10: Socket Mode's state is in /healthz; a refused app token ends the process ----------------------------------


async def test_socket_mode_health_and_a_revoked_app_token(pg_dsn: str, fake_slack: FakeSlack, tmp_path) -> None:
    async with scratch_database(pg_dsn) as dsn:
        async with serve(dsn, fake_slack, tmp_path / "up.log", "--socket-mode", SLACK_APP_TOKEN="xapp-1-A0-1-ok") as up:
            health = await get_json(up.port)
            assert health[0] == 200 and health[1]["socket_mode"] == {"state": "connected"}
            # The token is revoked while the bot runs: Slack drops the socket and refuses a new one.
            fake_slack.fail("apps.connections.open", error="token_revoked", times=5)
            await fake_slack.sockets[-1].close()
            assert await asyncio.wait_for(up.proc.wait(), 40) == 2
        revoked = (tmp_path / "up.log").read_text()
        assert "SLACK_APP_TOKEN was refused by Slack (token_revoked): create a new app-level token" in revoked
        fake_slack.failures.clear()

        fake_slack.fail("apps.connections.open", error="token_revoked", times=5)
        code, lines, _ = await run_cli(
            "serve",
            "--socket-mode",
            DATABASE_URL=dsn,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SIGNING_SECRET,
            SLACK_APP_TOKEN="xapp-1-A0-1-revoked",
            SLACK_API_URL=fake_slack.url,
            HOST="127.0.0.1",
            PORT=str(free_port()),
        )
        assert code == 2
        assert errors(lines) == [
            "zzik-bot: SLACK_APP_TOKEN was refused by Slack (token_revoked): create a new app-level token"
        ]


async def get_json(port: int) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/healthz") as r:
        return r.status, await r.json()


# -- 1: the schema the code expects --------------------------------------------------------------------------------


async def test_healthz_is_503_until_the_schema_is_at_the_expected_version(bot: RunningBot) -> None:
    expected = migrate.expected_version()
    status, body = await get_json(int(bot.url.rsplit(":", 1)[1]))
    assert status == 200 and body["schema"] == {"expected": expected, "found": expected}
    await bot.db.execute("DELETE FROM schema_migrations WHERE version = $1", expected)
    status, body = await get_json(int(bot.url.rsplit(":", 1)[1]))
    previous = migrate.discover()[-2].version
    assert status == 503 and body["schema"] == {"expected": expected, "found": previous}
    assert f"schema at {previous}, this code needs {expected}: run zzik-bot migrate" in body["problems"]


def test_no_migration_files_is_an_error(tmp_path) -> None:
    with pytest.raises(migrate.MigrationError, match="no migration files found"):
        migrate.discover(tmp_path)
    names = [m.version for m in migrate.discover()]
    assert names and names == sorted(names) and names[0] == "0001"


# -- 8, 9, 11: the embedded PostgreSQL: orphans taken over, clean stops, no permission changed -------------------


def _modes(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A stopped server's postmaster may linger as a zombie for a moment: not alive.
    return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


async def test_embedded_postgres_survives_kill_9_is_taken_over_and_stopped_by_a_clean_exit(
    fake_slack: FakeSlack,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="zzik-emb-"))
    os.chmod(home, 0o755)  # a folder the server's own account can enter when the tests run as root
    data = home / "data"
    before = _modes(home)
    # DATABASE_URL and ZZIK_CONFIG empty, as compose writes them for unset variables: both mean "unset".
    env = {"DATABASE_URL": "", "ZZIK_CONFIG": "", "ZZIK_DATA_DIR": str(data)}
    try:
        async with serve("", fake_slack, home / "first.log", **env) as first:
            postmaster = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
            first.proc.kill()
            await first.proc.wait()
        assert _alive(postmaster), "kill -9 of the bot leaves its PostgreSQL running (an orphan)"

        async with serve("", fake_slack, home / "second.log", **env) as second:
            assert int((data / "pgdata" / "postmaster.pid").read_text().split()[0]) == postmaster
            second.proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.proc.wait(), 30) == 0
        assert "using the embedded PostgreSQL already running" in (home / "second.log").read_text()
        await eventually(lambda: not _alive(postmaster), within=10)

        # Backup and restore of the embedded database: the commands start (and stop) it themselves.
        dump = home / "zzik.dump"
        code, lines, _ = await run_cli("backup", str(dump), ZZIK_DATA_DIR=str(data))
        assert (code, lines[-1]) == (0, f"backed up to {dump}")
        code, lines, _ = await run_cli("restore", str(dump), ZZIK_DATA_DIR=str(data))
        assert (code, lines[-1]) == (0, f"restored from {dump}")
        assert not (data / "pgdata" / "postmaster.pid").exists()  # left as found: stopped

        # SIGTERM while Socket Mode is still connecting (Slack slow to answer): a clean stop all the same.
        fake_slack.fail("apps.connections.open", delay=6)
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "serve",
            "--socket-mode",
            env={
                **os.environ,
                **env,
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_APP_TOKEN": "xapp-1-A0-1-slow",
                "SLACK_API_URL": fake_slack.url,
                "HOST": "127.0.0.1",
                "PORT": str(port),
            },
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await eventually(lambda: fake_slack.calls_to("apps.connections.open"), within=60)
        status, body = await get_json(port)
        assert status == 503 and body["socket_mode"]["state"] == "connecting"
        third = int((data / "pgdata" / "postmaster.pid").read_text().split()[0])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        await eventually(lambda: not _alive(third), within=10)
        assert not (data / "pgdata" / "postmaster.pid").exists()
        assert _modes(home) == before  # nothing outside the data directory had its permissions changed
        if os.geteuid() == 0:
            assert os.stat(data / "pgdata").st_uid != 0  # run as the server's own account, never as root
    finally:
        await asyncio.to_thread(_stop_leftover, data)


def _stop_leftover(data: Path) -> None:
    from bot.embedded import EmbeddedPostgres

    if (data / "pgdata" / "postmaster.pid").exists():
        server = EmbeddedPostgres(data)
        server.start()
        server.stop()
    shutil.rmtree(data.parent, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="what happens as root")
async def test_as_root_a_data_dir_the_servers_account_cannot_enter_is_refused_unchanged(tmp_path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    data = private / "data"
    before = _modes(private)
    code, lines, _ = await run_cli("migrate", ZZIK_DATA_DIR=str(data))
    assert code == 2
    [line] = errors(lines)
    assert line.startswith(f"zzik-bot: ZZIK_DATA_DIR {data}: the account {ACCOUNT}, which runs the embedded")
    assert "cannot enter" in line and "set DATABASE_URL" in line
    assert _modes(private) == before


# -- 7: the same member syntax everywhere: a deployer named by email -------------------------------------------


async def test_a_deployer_named_by_email_may_deploy_to_prod(make_bot, fake_slack: FakeSlack) -> None:
    from tests.conftest import ask
    from tests.test_deploys import deploy_config

    bot = await make_bot(deploy_config(None, deployers=["dave@zzik.example"]))
    said = await ask(fake_slack, bot, "/deploy", 'prod v9 --force "first through the bot"', user="U0DAVE")
    assert said.startswith("Deploy #1 of v9 to prod is announced"), said
    refused = await ask(fake_slack, bot, "/deploy", "prod v10", user="U0BOB")
    assert refused.startswith("Only the deployers (dave@zzik.example) may deploy to prod."), refused
    assert fake_slack.calls_to("users.lookupByEmail")[0]["email"] == "dave@zzik.example"


def test_the_embedded_major_version_is_pinned_where_pip_and_the_code_read_it() -> None:
    import subprocess
    import tomllib

    from bot.embedded import PG_MAJOR, bin_dir

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"embedded-postgres>={PG_MAJOR},<{PG_MAJOR + 1}" in dependencies
    version = subprocess.run([str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.split()[-1].split(".")[0] == str(PG_MAJOR)
