"""Numbered plain-SQL migrations, applied in order, once, under an advisory lock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg

from bot import log
from bot.db import Database
from bot.errors import MigrationError

logger = log.get("zzik.migrate")


def _migrations_dir() -> Traversable:
    """The checkout keeps the migrations at its top, in migrations/; an install carries them as package data
    in bot/migrations (setup.py maps one to the other), read through importlib.resources so a wheel or a zipped
    install has its schema. The installed copy first; else (a clone, or `pip install -e .`, which points at
    the clone) the migrations/ beside the bot package."""
    packaged = resources.files("bot") / "migrations"
    if packaged.is_dir() and any(f.name.endswith(".sql") for f in packaged.iterdir()):
        return packaged
    return Path(__file__).resolve().parent.parent / "migrations"


MIGRATIONS_DIR: Traversable = _migrations_dir()
# pg_advisory_lock key: "zzik" in ASCII. Held on a dedicated connection: asyncpg's pool resets
# connections on release with pg_advisory_unlock_all(), which would drop a pooled lock early.
LOCK_KEY = 0x7A7A696B
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Traversable = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    files = [f for f in directory.iterdir() if f.name.endswith(".sql")] if directory.is_dir() else []
    for path in sorted(files, key=lambda f: f.name):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        found.append(Migration(match[1], match[2], path.read_text(encoding="utf-8")))
    if not found:
        # An install without its package data would otherwise "need no migration" and serve on no schema.
        raise MigrationError(f"no migration files found in {directory}: this installation of zzik-bot is broken")
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError("two migrations share a number")
    return found


def expected_version() -> str:
    """The schema version this code needs: its newest migration."""
    return discover()[-1].version


async def schema_version(db: Database) -> str | None:
    """The newest migration applied to the database; None when none is."""
    try:
        return await db.fetchval("SELECT max(version) FROM schema_migrations")
    except asyncpg.exceptions.UndefinedTableError:
        return None


async def migrate(db: Database, directory: Traversable = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing; return the versions applied now. Safe to run from many replicas at once."""
    migrations = discover(directory)
    conn = await db.connect_once()
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       version text PRIMARY KEY,
                       name text NOT NULL,
                       checksum text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            applied = {r["version"]: r["checksum"] for r in await conn.fetch("SELECT * FROM schema_migrations")}
            done = []
            for m in migrations:
                if m.version in applied:
                    if applied[m.version] != m.checksum:
                        raise MigrationError(
                            f"migration {m.version}_{m.name} was changed after it was applied; "
                            "add a new migration instead"
                        )
                    continue
                async with conn.transaction():
                    await conn.execute(m.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        m.version,
                        m.name,
                        m.checksum,
                    )
                logger.info("migration applied", version=m.version, name=m.name)
                done.append(m.version)
            return done
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    finally:
        await conn.close()
