"""A private Mailman 3 core in a folder: the mailing lists of tests and `make demo`.

It writes a mailman.cfg (the `local` layout rooted in the folder, an SQLite
database there, the REST API on a free loopback port with a random admin
password, no MTA for incoming mail) and runs Mailman's master watcher in the
foreground, as a process of ours in a session of its own; the master forks the
runners. Only the runners the REST API and outgoing mail need are started: REST
then answers in about 3 seconds instead of 5 and uses a third of the memory.
With an `archiver` (a private HyperKitty, private_services/mailman_web.py) it also
takes posts over LMTP on a free loopback port, as Postfix hands them in, and runs
the runners that bring them to the archive: in, pipeline, archive and lmtp.
`stop` sends the master SIGTERM (it stops its runners, then exits) and makes sure
no process of this instance is left.

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
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .files import write_private_file
from .process import OwnedProcess, free_port

MAILMAN_BIN_DIR = Path("/usr/lib/mailman3/bin")   # Debian's master and runner scripts
MASTER = MAILMAN_BIN_DIR / "master"
# The runners a REST-only instance needs; out and virgin deliver what Mailman
# itself sends (notices), to `smtp_port`.
RUNNERS = ("rest", "out", "virgin")
# What a post needs from LMTP to the archiver (and to the members, through out).
ARCHIVING_RUNNERS = ("in", "lmtp", "pipeline", "archive")
ALL_RUNNERS = ("archive", "bounces", "command", "digest", "in", "lmtp", "nntp", "out",
               "pipeline", "rest", "retry", "task", "virgin")
# Nothing listens on the discard port on loopback: mail Mailman sends is refused
# and stays queued, unless the caller passes a mail sink's port.
NO_SMTP_PORT = 9
ADMIN_USER = "restadmin"


class MailmanError(RuntimeError):
    """Mailman is missing, refused its configuration or did not start."""


@dataclass(frozen=True)
class ArchiverLink:
    """Where Mailman hands each post to HyperKitty, and the key HyperKitty checks."""

    base_url: str                       # e.g. http://127.0.0.1:8002/hyperkitty/
    api_key: str = field(repr=False)


def _check_installed() -> None:
    if not MASTER.exists():
        raise MailmanError(
            "Mailman 3 core is not installed: install Debian's mailman3 package "
            "(make demo and make test do it for you)"
        )


class PrivateMailman(OwnedProcess):
    """A Mailman 3 core owned by this process, with its configuration and data under `folder`.

    Usable as a context manager. `inventory_vars()` gives the mailing_lists role's
    inventory variables for this instance. With `archiver`, posts reach it through
    LMTP on 127.0.0.1:`lmtp_port` (chosen at start) and are archived there.
    """

    start_timeout = 60.0      # a loaded 2-core machine needs up to about 10 s
    stop_timeout = 20.0
    poll_interval = 0.1

    def __init__(self, folder: str | os.PathLike[str], *, domain: str = "lists.occupy.example",
                 port: int | None = None, smtp_port: int | None = None,
                 archiver: ArchiverLink | None = None):
        self.folder = Path(folder).resolve()
        self.domain = domain
        self.port = port
        self.smtp_port = smtp_port or NO_SMTP_PORT
        self.archiver = archiver
        self.lmtp_port: int | None = None
        self.admin_user = ADMIN_USER
        self.admin_password = secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

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
    def archiver_config_path(self) -> Path:
        return self.folder / "mailman-hyperkitty.cfg"

    @property
    def runners(self) -> tuple[str, ...]:
        return RUNNERS + ARCHIVING_RUNNERS if self.archiver else RUNNERS

    @property
    def start_log_path(self) -> Path:
        """The master's own output (a configuration it cannot read, say)."""
        return self.folder / "start.log"

    def inventory_vars(self) -> dict[str, str]:
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
            # No MTA's maps to write: mail comes in over LMTP (with an archiver) or not at all.
            "incoming: mailman.mta.null.NullMTA",
            "smtp_host: 127.0.0.1",
            f"smtp_port: {self.smtp_port}",
            "lmtp_host: 127.0.0.1",
            f"lmtp_port: {self.lmtp_port or NO_SMTP_PORT}",
            "",
        ]
        # The archivers are off by default (schema.cfg): only HyperKitty, when given, is on.
        if self.archiver:
            lines += ["[archiver.hyperkitty]", "class: mailman_hyperkitty.Archiver", "enable: yes",
                      f"configuration: {self.archiver_config_path}", ""]
        for runner in ALL_RUNNERS:
            if runner not in self.runners:
                lines += [f"[runner.{runner}]", "start: no", ""]
        return "\n".join(lines)

    def archiver_config_text(self) -> str:
        """mailman_hyperkitty's own configuration file: it holds the key."""
        assert self.archiver is not None
        return (f"[general]\nbase_url: {self.archiver.base_url}\n"
                f"api_key: {self.archiver.api_key}\n")

    def archive_to(self, archiver: ArchiverLink) -> None:
        """Archive to `archiver` from now on: a running instance restarts with it (its data stays)."""
        if archiver == self.archiver:
            return
        running = self.running
        if running:
            self.stop()
        self.archiver = archiver
        if running:
            self.start()

    def start(self) -> PrivateMailman:
        if self.running:
            return self
        _check_installed()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        # Left by a run of this folder that was killed (the runners live in a session
        # of their own): they hold the lock and the database.
        self._kill_leftovers()
        fixed_port = self.port is not None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            if self.archiver:
                self.lmtp_port = free_port()
                write_private_file(self.archiver_config_path, self.archiver_config_text())
            write_private_file(self.config_path, self.config_text())
            self._launch()
            if self._wait_until_ours():
                return self
            taken, why = self._port_was_taken(), self._log_tail()
            self.stop()
            if fixed_port or not taken:
                break
        raise MailmanError(f"Mailman did not start on {self.url}: {why}")

    def _launch(self) -> None:
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # What `mailman start` does after forking, without the fork: the master stays
        # our child. --force: a lock left by a killed instance in this folder is cleared.
        with open(self.start_log_path, "wb") as log:
            self._process = subprocess.Popen(
                [str(MASTER), "--force", "-C", str(self.config_path)],
                cwd=self.var_dir, env={**_clean_environment(), "MAILMAN_VAR_DIR": str(self.var_dir)},
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )

    def _is_ours(self) -> bool:
        """Only our Mailman accepts our random admin password: another server on the port does not."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        token = base64.b64encode(f"{self.admin_user}:{self.admin_password}".encode()).decode()
        try:
            connection.request("GET", "/3.1/system/versions", headers={"Authorization": f"Basic {token}"})
            if connection.getresponse().status != 200:
                return False
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return self.archiver is None or self._lmtp_answers()

    def _lmtp_answers(self) -> bool:
        """The LMTP runner greets (about a second after REST answers: a post before is refused)."""
        try:
            with socket.create_connection(("127.0.0.1", self.lmtp_port or NO_SMTP_PORT), timeout=2) as sock:
                return b"GNU Mailman LMTP" in sock.recv(200)
        except OSError:
            return False

    def _has_failed(self) -> bool:
        # The master outlives a REST runner that cannot bind: it would wait for nothing.
        return self._port_was_taken()

    def _new_log(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def _port_was_taken(self) -> bool:
        """gunicorn's words when another process holds the REST port; asyncio's, the LMTP port."""
        return (f"Connection in use: ('127.0.0.1', {self.port})" in self._new_log()
                or (self.lmtp_port is not None and f"error while attempting to bind on address "
                    f"('127.0.0.1', {self.lmtp_port})" in _read(self.start_log_path)))

    def _log_tail(self) -> str:
        parts = []
        for name, text in (("mailman.log", self._new_log()),
                           ("master", _read(self.start_log_path))):
            if text.strip():
                parts.append(f"{name}: {text.strip()[-1500:]}")
        return "; ".join(parts) or f"nothing in {self.log_path}"

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
            if str(self.config_path).encode() in arguments and _alive(int(entry.name)):
                found.append(int(entry.name))
        return found

    def _terminate(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """SIGTERM to the master, which stops its runners; SIGKILL to the whole session."""
        with contextlib.suppress(ProcessLookupError):
            if sig == signal.SIGTERM:
                process.send_signal(sig)
            else:
                os.killpg(process.pid, sig)

    def stop(self) -> None:
        self._stop_process()
        # A runner stuck in a request outlives its master: nothing of this instance stays.
        if not self._wait_for_no_processes(5.0):
            self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        for pid in self.processes():
            _signal(pid, signal.SIGKILL)
        self._wait_for_no_processes(5.0)

    def _wait_for_no_processes(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.processes():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (a child of ours not yet reaped) is gone for our purposes."""
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
