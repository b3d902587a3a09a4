"""A private PostgreSQL server in a folder: real SQL, real row locks, for the tests'
stores and the benchmarks' Redmine.

`PrivatePostgres(folder)` runs Debian's postgresql binaries: `initdb` into
`<folder>/data` (superuser `provisioner`, trust authentication), then `pg_ctl start`
on a free 127.0.0.1 port with its unix socket inside `folder`, durability turned
off for speed (fsync, synchronous_commit, full_page_writes: throwaway data only).
PostgreSQL refuses to run as root, so under root (CI, containers) the server
runs as Debian's `postgres` system user and the folder is handed to it.

`start_private_postgres()` makes a short folder under /tmp, starts a server in it
and removes both afterwards; the test suite's fixture wraps it.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from .process import free_port

INITDB_GLOB = "/usr/lib/postgresql/*/bin/initdb"
DEBIAN_PACKAGE = "postgresql"
SYSTEM_USER = "postgres"
SUPERUSER = "provisioner"
# The socket is <folder>/.s.PGSQL.<port>; sun_path holds 108 bytes with its NUL.
MAX_SOCKET_PATH = 107
START_TIMEOUT = 30  # seconds, for pg_ctl -w
STOP_TIMEOUT = 30
START_ATTEMPTS = 5  # another process may take the free port before the server binds it
SPEED_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
DATABASE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """PostgreSQL is missing, or a server did not initialise, start or stop."""


def find_binaries(pattern: str = INITDB_GLOB) -> Path:
    """The bin folder of the highest installed PostgreSQL major version."""
    def version(initdb: str) -> tuple[int, ...]:
        name = Path(initdb).parent.parent.name  # /usr/lib/postgresql/<version>/bin/initdb
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    candidates = [path for path in glob.glob(pattern) if os.access(path, os.X_OK)]
    if not candidates:
        raise PostgresError(
            f"PostgreSQL is not installed (no {pattern}): install Debian's "
            f"{DEBIAN_PACKAGE} package (make test does it for you)"
        )
    return Path(max(candidates, key=version)).parent


def _quote_setting(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _clean_environment() -> dict[str, str]:
    """The environment without PG* variables (PGDATA, PGPORT...) that would steer pg_ctl."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_MESSAGES"] = "C"  # English errors in our exceptions
    return env


class PrivatePostgres:
    """A PostgreSQL server owned by this process, with its data and socket under `folder`.

    Usable as a context manager; `stop()` is safe to call at any time. The data
    folder survives a stop: a later `start()` reuses it without `initdb`.
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder).resolve()
        self.port: int | None = None
        self._running = False
        self._bin: Path | None = None
        longest_socket = self.folder / ".s.PGSQL.65535"
        if len(str(longest_socket).encode()) >= MAX_SOCKET_PATH:
            raise PostgresError(
                f"{self.folder} is too long for PostgreSQL's unix socket "
                f"({longest_socket} must stay under {MAX_SOCKET_PATH} bytes): choose a shorter folder"
            )

    # Where things are

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for `database` on this server, as the superuser."""
        if self.port is None:
            raise PostgresError("the server is not started")
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres", *, autocommit: bool = False) -> psycopg.Connection[Any]:
        """A plain psycopg connection (close it, or use it in a `with`)."""
        if self.port is None:
            raise PostgresError("the server is not started")
        return psycopg.connect(host="127.0.0.1", port=self.port, user=SUPERUSER,
                               dbname=database, connect_timeout=5, autocommit=autocommit)

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        if not DATABASE_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a plain lower-case database name")
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with self.connect(autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    # Life cycle

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> PrivatePostgres:
        if self._running:
            return self
        self._bin = find_binaries()
        self._prepare_folder()
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        atexit.register(self.stop)  # a crashed test run must not leave a server behind
        try:
            for _attempt in range(START_ATTEMPTS):
                self.port = free_port()
                log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
                failure = self._pg_ctl_start()
                if failure is None:
                    self._running = True
                    self._check_ours()
                    return self
                if "Address already in use" not in self._log_since(log_offset):
                    break  # only a taken port is worth another attempt
            raise PostgresError(f"PostgreSQL did not start in {self.data_dir}: {failure}; {self._log_tail()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server if it runs; safe to call at any time."""
        atexit.unregister(self.stop)
        self._stop_server()

    def __enter__(self) -> PrivatePostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Internals

    def _binary(self, name: str) -> str:
        return str((self._bin or find_binaries()) / name)

    def _as_server_user(self) -> list[str]:
        """The command prefix that drops root to the postgres user; none when not root."""
        if os.geteuid() != 0:
            return []
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
        if runuser := shutil.which("runuser", path=search):
            return [runuser, "-u", SYSTEM_USER, "--"]
        if setpriv := shutil.which("setpriv", path=search):
            return [setpriv, f"--reuid={SYSTEM_USER}", f"--regid={SYSTEM_USER}", "--init-groups", "--"]
        raise PostgresError("PostgreSQL refuses root: starting it needs runuser or setpriv "
                            "(Debian's util-linux package)")

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # mkdtemp makes it 0700
        if os.geteuid() != 0:
            return
        try:
            user = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise PostgresError(
                f"PostgreSQL refuses to run as root and there is no {SYSTEM_USER!r} user: "
                f"install Debian's {DEBIAN_PACKAGE} package, which creates it"
            ) from None
        os.chown(self.folder, user.pw_uid, user.pw_gid)
        for parent in self.folder.parents:
            if not parent.stat().st_mode & 0o001:
                raise PostgresError(f"{SYSTEM_USER} cannot reach {self.folder}: {parent} is not "
                                    "traversable by others; choose a folder under /tmp")

    def _run(self, command: list[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                self._as_server_user() + command, cwd=self.folder, env=_clean_environment(),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            return None

    def _initdb(self) -> None:
        result = self._run([
            self._binary("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync", "--no-instructions",
        ], timeout=120)
        if result is None or result.returncode != 0:
            output = "timed out" if result is None else (result.stderr or result.stdout).strip()
            raise PostgresError(f"initdb failed in {self.data_dir}: {output}")
        # Settings that hold for every start; the port changes per start (pg_ctl -o).
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.folder),
            "max_connections": "100",
            "logging_collector": "off",
            "log_min_messages": "warning",
        }
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# PrivatePostgres (throwaway data only)\n")
            conf.writelines(f"{key} = {_quote_setting(value)}\n" for key, value in settings.items())

    def _pg_ctl_start(self) -> str | None:
        """None once pg_ctl reports the server ready, else what pg_ctl said (a taken port, say)."""
        options = " ".join([f"-p {self.port}", *(f"-c {setting}" for setting in SPEED_SETTINGS)])
        result = self._run([
            self._binary("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_path),
            "-o", options, "-w", "-t", str(START_TIMEOUT),
        ], timeout=START_TIMEOUT + 10)
        if result is not None and result.returncode == 0:
            return None
        self._stop_server()  # one that did not become ready in time is still ours to stop
        if result is None:
            return "pg_ctl start timed out"
        return (result.stderr or result.stdout).strip() or f"pg_ctl exited with {result.returncode}"

    def _check_ours(self) -> None:
        """A real connection, to our own data folder (not another server on the port)."""
        try:
            with self.connect() as conn:
                row = conn.execute("SELECT current_setting('data_directory')").fetchone()
        except psycopg.Error as error:
            raise PostgresError(f"PostgreSQL started but refuses connections: {error}; "
                                f"{self._log_tail()}") from error
        if row is None or Path(row[0]).resolve() != self.data_dir:
            raise PostgresError(f"port {self.port} answers for {row and row[0]}, not {self.data_dir}")

    def _stop_server(self) -> None:
        """pg_ctl stop: fast shutdown, then immediate, then SIGKILL to our postmaster."""
        self._running = False
        for mode in ("fast", "immediate"):
            if not (self.data_dir / "postmaster.pid").exists():
                return
            self._run([self._binary("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode,
                       "-w", "-t", str(STOP_TIMEOUT)], timeout=STOP_TIMEOUT + 10)
        self._kill_postmaster()

    def _kill_postmaster(self) -> None:
        """SIGKILL the postmaster named in postmaster.pid, if that pid still is a postgres."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
            if b"postgres" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass

    def _log_since(self, offset: int) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except FileNotFoundError:
            return "no server log"
        return "server log: " + (text[-2000:] or "(empty)")


@contextmanager
def start_private_postgres() -> Iterator[PrivatePostgres]:
    """A started server in a fresh short folder under /tmp; stopped and removed afterwards.

    Fails (PostgresError), never skips, when PostgreSQL is not installed.
    """
    folder = tempfile.mkdtemp(prefix="pg-", dir="/tmp")  # short: unix socket paths < 107 bytes
    try:
        with PrivatePostgres(folder) as server:
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)
