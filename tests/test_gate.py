"""The suite's own commands work as README gives them (one process with `-p no:xdist` or `-n 0`), and the
checkout is laid out as the design card has it (migrations/ at the top)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from bot import migrate
from tests.processes import ROOT


@pytest.mark.parametrize("one_process", [["-p", "no:xdist"], ["-n", "0"]])
async def test_the_suite_runs_in_one_process(one_process: list[str]) -> None:
    # Not the xdist worker's environment: a fresh pytest, as someone types it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ZZIK_TEST_EMBEDDED"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        *one_process,
        "tests/unit/test_errors.py",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(proc.communicate(), 120))[0].decode()
    assert proc.returncode == 0, output
    assert "passed" in output and "workers" not in output


def test_the_migrations_live_at_the_top_of_the_checkout_and_the_package_reads_them_there() -> None:
    # A migration added under bot/ (the old place) would be skipped by a checkout and shipped by no wheel.
    assert sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "bot").rglob("*.sql")) == []
    top = sorted(p.name for p in (ROOT / "migrations").glob("*.sql"))
    assert top and top[0] == "0001_init.sql"
    assert [f"{m.version}_{m.name}.sql" for m in migrate.discover()] == top
