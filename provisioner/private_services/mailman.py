"""A private Mailman 3 core in a folder: the mailing lists of tests and `make demo`.

It writes a mailman.cfg (the `local` layout rooted in the folder, an SQLite
database there, the REST API on a free loopback port with a random admin
password, no MTA for incoming mail) and runs `mailman start`, which forks the
master watcher and its runners into a session of their own. Only the runners
the REST API and outgoing mail need are started: REST then answers in about
3 seconds instead of 5 and uses a third of the memory. `stop` runs `mailman
stop` and then makes sure no process of this instance is left.

The data survives a stop, so the demo keeps its lists between runs; the
configuration is written anew at every start, with a password that lives only
in the calling process.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import os
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .process import free_port

MAILMAN_BIN_DIR = Path("/usr/lib/mailman3/bin")   # Debian's master and runner scripts
# The runners a REST-only instance needs; out and virgin deliver what Mailman
# itself sends (notices), to `smtp_port`.
RUNNERS = ("rest", "out", "virgin")
ALL_RUNNERS = ("archive", "bounces", "command", "digest", "in", "lmtp", "nntp", "out",
               "pipeline", "rest", "retry", "task", "virgin")
# Nothing listens on the discard port on loopback: mail Mailman sends is refused
# and stays queued, unless the caller passes a mail sink's port.
NO_SMTP_PORT = 9
START_TIMEOUT = 60.0          # a loaded 2-core machine needs up to about 10 s
STOP_TIMEOUT = 20.0
ADMIN_USER = "restadmin"


class MailmanError(RuntimeError):
    """Mailman is missing, refused its configuration or did not start."""


def _find_mailman() -> str:
    path = shutil.which("mailman", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin"]))
    if path is None or not (MAILMAN_BIN_DIR / "master").exists():
        raise MailmanError(
            "Mailman 3 core is not installed: install Debian's mailman3 package "
            "(make demo and make test do it for you)"
        )
    return path


class PrivateMailman:
    """A Mailman 3 core owned by this process, with its configuration and data under `folder`.

    Usable as a context manager. `inventory_vars()` gives the mailing_lists role's
    inventory variables for this instance.
    """

    def __init__(self, folder: str | os.PathLike, *, domain: str = "lists.occupy.example",
                 port: int | None = None, smtp_port: int | None = None):
        self.folder = Path(folder).resolve()
        self.domain = domain
        self.port = port
        self.smtp_port = smtp_port or NO_SMTP_PORT
        self.admin_user = ADMIN_USER
        self.admin_password = secrets.token_urlsafe(32)
        self._started = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.folder / "mailman.cfg"

    @property
    def var_dir(self) -> Path:
        return self.folder / "var"

    @property
    def log_path(self) -> Path:
        return self.var_dir / "logs" / "mailman.log"

    @property
    def start_log_path(self) -> Path:
        return self.folder / "start.log"

    @property
    def pid_file(self) -> Path:
        return self.var_dir / "master.pid"

    def inventory_vars(self) -> dict:
        return {
            "mailing_lists_url": self.url,
            "mailing_lists_user": self.admin_user,
            "mailing_lists_password": self.admin_password,
            "mailing_lists_domain": self.domain,
        }

    def config_text(self) -> str:
        lines = [
            "[mailman]",
            "layout: local",
            f"site_owner: postmaster@{self.domain}",
            "",
            "[paths.local]",
            f"var_dir: {self.var_dir}",
            # Without it the master looks for its runners beside `mailman` (/usr/bin).
            f"bin_dir: {MAILMAN_BIN_DIR}",
            "",
            "[database]",
            "class: mailman.database.sqlite.SQLiteDatabase",
            f"url: sqlite:///{self.var_dir / 'data' / 'mailman.db'}",
            "",
            "[webservice]",
            "hostname: 127.0.0.1",
            f"port: {self.port}",
            f"admin_user: {self.admin_user}",
            f"admin_pass: {self.admin_password}",
            "workers: 1",
            "",
            "[mta]",
            # No MTA hands mail in: lists are reached through REST only.
            "incoming: mailman.mta.null.NullMTA",
            "smtp_host: 127.0.0.1",
            f"smtp_port: {self.smtp_port}",
            "",
            # The archivers are off by default (schema.cfg); nothing to turn off.
        ]
        for runner in ALL_RUNNERS:
            if runner not in RUNNERS:
                lines += [f"[runner.{runner}]", "start: no", ""]
        return "\n".join(lines)

    def _command(self, mailman: str, *args: str) -> list[str]:
        # Mailman refuses to run as root unless told to; the tests run as root on CI.
        as_root = ["--run-as-root"] if os.geteuid() == 0 else []
        return [mailman, *as_root, "-C", str(self.config_path), *args]

    def start(self) -> PrivateMailman:
        if self._started:
            return self
        mailman = _find_mailman()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        if self.processes():
            # Left by a run of this folder that was killed (the runners live in a
            # session of their own): they hold the lock and the database.
            self._started = True
            self.stop()
        fixed_port = self.port is not None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            self._write_config()
            self._launch(mailman)
            if self._wait_until_answering():
                return self
            taken, why = self._port_was_taken(), self._log_tail()
            self.stop()
            if fixed_port or not taken:
                break
        raise MailmanError(f"Mailman did not start on {self.url}: {why}")

    def _write_config(self) -> None:
        descriptor = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(self.config_text())

    def _launch(self, mailman: str) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # The runners inherit the caller's stdout: a pipe would never close.
        with open(self.start_log_path, "wb") as log:
            # --force: a lock left by a killed instance in this folder is cleared.
            result = subprocess.run(self._command(mailman, "start", "--force"),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    env=_clean_environment(), check=False, timeout=START_TIMEOUT)
        self._started = True
        if result.returncode != 0:
            self.stop()
            raise MailmanError(f"`mailman start` failed (rc {result.returncode}): "
                               f"{self.start_log_path.read_text(errors='replace').strip()[-2000:]}")

    def _wait_until_answering(self) -> bool:
        """True once our own REST API answers; False if the master died or time ran out."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._is_ours():
                return True
            master = self._master_pid()
            if master is not None and not _alive(master):
                return False
            if self._port_was_taken():
                return False
            time.sleep(0.1)
        return False

    def _is_ours(self) -> bool:
        """Only our Mailman accepts our random admin password: another server on the port does not."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        token = base64.b64encode(f"{self.admin_user}:{self.admin_password}".encode()).decode()
        try:
            connection.request("GET", "/3.1/system/versions", headers={"Authorization": f"Basic {token}"})
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def _master_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def _new_log(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(getattr(self, "_log_offset", 0))
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _port_was_taken(self) -> bool:
        """gunicorn's words when another process holds the REST port."""
        return f"Connection in use: ('127.0.0.1', {self.port})" in self._new_log()

    def _log_tail(self) -> str:
        text = self._new_log().strip()
        return text[-2000:] or f"nothing in {self.log_path}"

    @property
    def running(self) -> bool:
        master = self._master_pid()
        return self._started and master is not None and _alive(master)

    def processes(self) -> list[int]:
        """The pids of this instance's master and runners (their command line names our config)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(self.config_path).encode() in arguments:
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        master = self._master_pid()
        if master is not None and _alive(master):
            subprocess.run(self._command(_find_mailman(), "stop"), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=_clean_environment(), check=False, timeout=STOP_TIMEOUT)
        # The master stops its runners; whatever is still there after the wait
        # (a runner stuck in a request, a master that never wrote its pid) is killed.
        if not self._wait_for_no_processes(STOP_TIMEOUT):
            for pid in self.processes():
                _signal(pid, signal.SIGKILL)
            self._wait_for_no_processes(5.0)
        self.pid_file.unlink(missing_ok=True)

    def _wait_for_no_processes(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.processes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def __enter__(self) -> PrivateMailman:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (a child of ours not yet reaped) is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return False


def _signal(pid: int, signal_number: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal_number)


def _clean_environment() -> dict[str, str]:
    """Mailman runs under Debian's Python: keep a venv's Python settings away from it."""
    return {name: value for name, value in os.environ.items()
            if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
