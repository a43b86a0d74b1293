"""`zzik-bot backup` and `restore` when the target refuses: one line that says why, never a traceback.

Real `python -m bot` processes against the test PostgreSQL; a read-only database is what a hot standby is to
a client (`default_transaction_read_only`), and an event trigger makes a statement late in the script fail.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import asyncpg
import pytest

from tests.ports import free_port
from tests.test_service import url_with

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, **env: str) -> tuple[int, list[str]]:
    """`python -m bot ARGS` with only the given environment: its exit status and the lines a person reads."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "LOG_FORMAT": "json", **env},
    )
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line and not line.startswith("{")]
    return result.returncode, lines


def sql(dsn: str, *statements: str) -> list[tuple]:
    async def go() -> list[tuple]:
        conn = await asyncpg.connect(dsn)
        try:
            rows: list[tuple] = []
            for statement in statements:
                rows = [tuple(r) for r in await conn.fetch(statement)]
            return rows
        finally:
            await conn.close()

    return asyncio.run(go())


@pytest.fixture
def databases(pg_dsn: str) -> Iterator[list[str]]:
    """Two new databases (a source and a target); dropped afterwards."""
    names = [f"zzik_restore_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    sql(pg_dsn, *(f'CREATE DATABASE "{name}"' for name in names))
    try:
        yield [url_with(pg_dsn, path=f"/{name}") for name in names]
    finally:
        sql(pg_dsn, *(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in names))


@pytest.fixture
def dump(databases: list[str], tmp_path: Path) -> Path:
    source = databases[0]
    assert cli("migrate", DATABASE_URL=source)[0] == 0
    sql(source, "INSERT INTO audit_log (kind, action, outcome) VALUES ('command', '/backup-test', 'ok')")
    path = tmp_path / "zzik.dump"
    assert cli("backup", str(path), DATABASE_URL=source) == (0, [f"backed up to {path}"])
    return path


def test_restore_into_a_read_only_database_says_psqls_error(pg_dsn: str, databases: list[str], dump: Path) -> None:
    target = databases[1]
    name = urlparse(target).path.lstrip("/")  # the embedded server's URL ends in ?host=<socket folder>
    sql(pg_dsn, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    code, lines = cli("restore", str(dump), DATABASE_URL=target)
    assert code == 1
    [line] = lines
    assert line.startswith("zzik-bot: psql: ERROR:  cannot execute ") and line.endswith(
        "in a read-only transaction (is DATABASE_URL a read-only replica? restore into the primary)"
    ), line


def test_a_restore_that_fails_late_says_the_error_not_the_hint_and_changes_nothing(
    databases: list[str], dump: Path
) -> None:
    target = databases[1]
    assert cli("restore", str(dump), DATABASE_URL=target)[0] == 0
    sql(target, "DELETE FROM audit_log")
    # Indexes come after the tables and their rows in pg_restore's script: this fails near its end.
    sql(
        target,
        """CREATE FUNCTION no_indexes() RETURNS event_trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'indexes are frozen' USING HINT = 'ask the DBA to lift the freeze'; END $$""",
        "CREATE EVENT TRIGGER no_indexes ON ddl_command_end WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION no_indexes()",
    )
    code, lines = cli("restore", str(dump), DATABASE_URL=target)
    assert (code, lines) == (1, ["zzik-bot: psql: ERROR:  indexes are frozen"])
    assert sql(target, "SELECT action FROM audit_log") == []  # one transaction: rolled back whole


def test_backup_into_a_missing_directory_is_one_line(databases: list[str], tmp_path: Path) -> None:
    target = tmp_path / "no such dir" / "zzik.dump"
    code, lines = cli("backup", str(target), DATABASE_URL=databases[0])
    assert (code, lines) == (
        1,
        [f"zzik-bot: {target}: cannot be written: the directory {target.parent} does not exist"],
    )


def test_restore_of_a_file_that_is_not_a_dump_is_one_line_and_changes_nothing(
    databases: list[str], dump: Path, tmp_path: Path
) -> None:
    target = databases[1]
    assert cli("restore", str(dump), DATABASE_URL=target)[0] == 0
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a dump\n")
    code, lines = cli("restore", str(garbage), DATABASE_URL=target)
    assert (code, lines) == (
        1,
        ["zzik-bot: pg_restore: error: input file does not appear to be a valid archive (too short?)"],
    )
    assert sql(target, "SELECT action FROM audit_log") == [("/backup-test",)]


def test_a_database_out_of_reach_is_pg_dumps_error_not_its_advice(tmp_path: Path) -> None:
    port = free_port()
    code, lines = cli(
        "backup", str(tmp_path / "zzik.dump"), DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/zzik"
    )
    # pg_dump's last line is its advice ("Is the server running on that host …?"): the error comes before it.
    assert (code, lines) == (
        1,
        [f'zzik-bot: pg_dump: error: connection to server at "127.0.0.1", port {port} failed: Connection refused'],
    )
