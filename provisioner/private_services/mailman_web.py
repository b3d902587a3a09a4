"""A private HyperKitty and Postorius (Debian's mailman3-web) in a folder: Mailman's archives and
list pages for tests and `make demo`, with the directory's login.

Debian's code tree (/usr/share/mailman3-web) runs unchanged under uwsgi on a free
loopback port, with this folder first on the Python path: its settings.py ends with
``from settings_local import *``, and the folder's settings_local.py is the
project's one settings file (provisioner/schema/mailman_web_settings.py) with
mailman_web_rules.py beside it and the site's values in mailman-web.json (mode
0600: the secret key, Mailman's REST password, the archiver key). Nothing under
/etc or /var/lib is read or changed.

The database (SQLite, in the folder) starts as a copy of a migrated one, and the
static files (collected and compressed, not secret) are shared: `golden_web` makes
both once per installed version into a cache folder, about 10 s, after which a
start takes about 2 s. uwsgi also runs HyperKitty's task queue (`manage.py
qcluster`), which reads a list's settings from Mailman after its first archived
message. `stop` ends uwsgi and everything it started; the folder stays.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..schema import directory_server
from .files import copy_private_file, write_private_file
from .mailman import ArchiverLink
from .process import OwnedProcess, free_port

WEB_ROOT = Path("/usr/share/mailman3-web")          # Debian's project: settings.py, urls.py, wsgi.py
PYTHON = "/usr/bin/python3"                          # Debian's, which has Django and the apps
UWSGI = "/usr/bin/uwsgi-core"
SCHEMA_DIR = directory_server.SCHEMA_DIR
SETTINGS_FILE = SCHEMA_DIR / "mailman_web_settings.py"
RULES_FILE = SCHEMA_DIR / "mailman_web_rules.py"
PACKAGES = ("mailman3-web", "python3-django-auth-ldap", "uwsgi-core", "uwsgi-plugin-python3")
# Whatever changes the migrated schema or the compressed static files.
FINGERPRINTED = ("mailman3-web", "python3-django", "python3-django-hyperkitty", "python3-django-postorius",
                 "python3-django-mailman3", "python3-django-allauth", "python3-django-q",
                 "python3-django-compressor", "python3-django-extensions", "python3-djangorestframework",
                 "python3-django-gravatar2", "python3-django-haystack", "python3-django-auth-ldap")
STATIC_URL = "/static/"
MANAGE_TIMEOUT = 300.0
NO_SMTP_PORT = 9                 # nothing listens there: a mail Django tries to send fails


class MailmanWebError(RuntimeError):
    """mailman3-web is missing, a management command failed or the server did not start."""


@dataclass(frozen=True)
class PeopleDirectory:
    """Where people log in: their entries are uid=<login>,<people_dn>."""

    url: str
    people_dn: str


@dataclass(frozen=True)
class MailmanRest:
    """The Mailman core the web parts read lists, members and roles from."""

    url: str
    user: str
    password: str = field(repr=False)


def check_installed() -> None:
    missing = [package for package in PACKAGES if not _installed(package)]
    if missing:
        raise MailmanWebError(f"Mailman's web parts cannot run: install Debian's {' '.join(missing)} "
                              "(make demo and make test do it for you)")


def _installed(package: str) -> bool:
    return bool(_versions([package]).get(package))


def _versions(packages: list[str] | tuple[str, ...]) -> dict[str, str]:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Status} ${Version}\n", *packages],
                            capture_output=True, text=True, check=False)
    versions = {}
    for line in result.stdout.splitlines():
        name, *status, version = line.split(" ")
        if status == ["install", "ok", "installed"]:
            versions[name] = version
    return versions


def _fingerprint() -> str:
    digest = hashlib.sha256(json.dumps(sorted(_versions(FINGERPRINTED).items())).encode())
    for path in (SETTINGS_FILE, RULES_FILE):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _environment(folder: Path) -> dict[str, str]:
    """Debian's Python with our folder before Debian's project; no venv settings."""
    environment = {name: value for name, value in os.environ.items()
                   if name not in ("PYTHONHOME", "VIRTUAL_ENV", "PYTHONSAFEPATH")}
    environment.update(PYTHONPATH=f"{folder}{os.pathsep}{WEB_ROOT}", DJANGO_SETTINGS_MODULE="settings",
                       OCCUPY_MAILMAN_WEB_VALUES=str(folder / "mailman-web.json"))
    return environment


def _manage(folder: Path, *arguments: str, log: Path) -> None:
    """`manage.py <arguments>` with the folder's settings (-P: Debian's settings_local stays off the path)."""
    with open(log, "ab") as output:
        try:
            result = subprocess.run([PYTHON, "-P", str(WEB_ROOT / "manage.py"), *arguments],
                                    cwd=folder, env=_environment(folder), stdin=subprocess.DEVNULL,
                                    stdout=output, stderr=output, timeout=MANAGE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired as error:
            raise MailmanWebError(f"`manage.py {arguments[0]}` took over {MANAGE_TIMEOUT:.0f} s") from error
    if result.returncode != 0:
        raise MailmanWebError(f"`manage.py {' '.join(arguments)}` failed (rc {result.returncode}): "
                              f"{_tail(log)}")


def _install_code(folder: Path) -> None:
    shutil.copyfile(SETTINGS_FILE, folder / "settings_local.py")
    shutil.copyfile(RULES_FILE, folder / "mailman_web_rules.py")


@dataclass(frozen=True)
class Golden:
    """A migrated database to copy and the static files to serve, for one installed version."""

    database: Path
    static: Path


def golden_web(cache_dir: str | os.PathLike[str]) -> Golden:
    """The migrated database and the collected, compressed static files, made once per version."""
    check_installed()
    cache = Path(cache_dir)
    golden = cache / f"mailman-web-{_fingerprint()}"
    made = Golden(golden / "web.sqlite3", golden / "static")
    if golden.is_dir():
        return made
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="mailman-web-golden-", dir=cache))
    try:
        _install_code(scratch)
        values = _values(scratch, secret_key=secrets.token_urlsafe(50), archiver_key="unused",
                         rest=MailmanRest("http://127.0.0.1:9", "unused", "unused"),
                         directory=PeopleDirectory("ldap://127.0.0.1:9", "ou=people,dc=unused"),
                         database=scratch / "web.sqlite3", static=scratch / "static")
        write_private_file(scratch / "mailman-web.json", json.dumps(values))
        log = scratch / "golden.log"
        _manage(scratch, "migrate", "--no-input", "-v0", log=log)
        _manage(scratch, "collectstatic", "--no-input", "-v0", log=log)
        _manage(scratch, "compress", "-v0", log=log)
        partial = scratch / "golden"
        partial.mkdir()
        os.replace(scratch / "web.sqlite3", partial / "web.sqlite3")
        os.replace(scratch / "static", partial / "static")
        try:
            os.replace(partial, golden)
        except OSError:
            if not golden.is_dir():       # not another session's, made meanwhile
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return made


def _values(folder: Path, *, secret_key: str, archiver_key: str, rest: MailmanRest,
            directory: PeopleDirectory, database: Path, static: Path, web_url: str = "",
            smtp_port: int = NO_SMTP_PORT) -> dict[str, object]:
    """mailman_web_settings.py's values file for an instance in `folder`."""
    return {
        "secret_key": secret_key,
        "mailman_rest_url": rest.url,
        "mailman_rest_user": rest.user,
        "mailman_rest_password": rest.password,
        "archiver_key": archiver_key,
        "ldap_url": directory.url,
        "ldap_people_dn": directory.people_dn,
        "database": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(database)},
        "static_root": str(static),
        "static_url": STATIC_URL,
        "fulltext_index": str(folder / "fulltext_index"),
        "log_file": str(folder / "mailman-web.log"),
        "web_url": web_url,
        "smtp_port": smtp_port,
    }


def _tail(path: Path, size: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return "no log"
    return text[-size:] or f"nothing in {path}"


class PrivateMailmanWeb(OwnedProcess):
    """HyperKitty and Postorius served by uwsgi from `folder`, for the Mailman at `rest` (set
    before `start`: a Mailman archiving here learns `archiver` before it starts).

    People log in with their directory password (`directory`). `archiver` is what
    Mailman needs to archive here (its mailman-hyperkitty.cfg). `golden` comes from
    `golden_web`. Django's own mails go to 127.0.0.1:`smtp_port`. Usable as a context manager.
    """

    start_timeout = 120.0     # about 2 s; a loaded 2-core machine needs more
    stop_timeout = 20.0
    poll_interval = 0.1

    def __init__(self, folder: str | os.PathLike[str], *, directory: PeopleDirectory, golden: Golden,
                 rest: MailmanRest | None = None, port: int | None = None, smtp_port: int = NO_SMTP_PORT):
        self.folder = Path(folder).resolve()
        self.rest = rest
        self.directory = directory
        self.golden = golden
        self.port = port
        self._fixed_port = port is not None
        self.smtp_port = smtp_port
        self.archiver_key = secrets.token_urlsafe(32)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.folder / "web.sqlite3"

    @property
    def log_path(self) -> Path:
        """uwsgi's own log and the requests; Django's log is mailman-web.log beside it."""
        return self.folder / "uwsgi.log"

    def reserve_port(self) -> int:
        """Pick the port now, for Mailman's archiver to name before this starts (another if it is taken)."""
        if self.port is None:
            self.port = free_port()
        return self.port

    @property
    def archiver(self) -> ArchiverLink:
        return ArchiverLink(base_url=f"{self.url}/hyperkitty/", api_key=self.archiver_key)

    def start(self) -> PrivateMailmanWeb:
        if self.running:
            return self
        check_installed()
        if self.rest is None:
            raise MailmanWebError("HyperKitty/Postorius need Mailman's REST API: set `rest` before starting")
        self._prepare()
        for attempt in range(3):
            if self.port is None or (attempt and not self._fixed_port):
                self.port = free_port()
            self._write_values()
            self._launch()
            if self._wait_until_ours():
                return self
            self.stop()
            if self._fixed_port:
                break
        raise MailmanWebError(f"HyperKitty/Postorius (uwsgi) did not start on {self.url}: "
                              f"{_tail(self.log_path)}")

    def _prepare(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        _install_code(self.folder)
        if not self.database.exists():
            copy_private_file(self.golden.database, self.database)   # it will hold sessions
        self._kill_leftovers()

    def _write_values(self) -> None:
        assert self.rest is not None
        values = _values(self.folder, secret_key=secrets.token_urlsafe(50), archiver_key=self.archiver_key,
                         rest=self.rest, directory=self.directory, database=self.database,
                         static=self.golden.static, web_url=self.url, smtp_port=self.smtp_port)
        write_private_file(self.folder / "mailman-web.json", json.dumps(values))

    def manage(self, *arguments: str) -> None:
        """Run a management command on this instance (`update_index_one_list <list>`, say)."""
        _manage(self.folder, *arguments, log=self.folder / "manage.log")

    def _launch(self) -> None:
        # The task queue runs beside the web workers and stops with them; the folder on
        # its command line lets processes() find it (and its workers) by name.
        queue = f"{PYTHON} -P {WEB_ROOT / 'manage.py'} qcluster --pythonpath {self.folder}"
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [UWSGI, "--plugin", "python3", "--http-socket", f"127.0.0.1:{self.port}",
                 "--chdir", str(WEB_ROOT), "--wsgi-file", "wsgi.py", "--pythonpath", str(self.folder),
                 "--static-map", f"{STATIC_URL.rstrip('/')}={self.golden.static}",
                 "--master", "--processes", "1", "--threads", "4", "--need-app", "--die-on-term",
                 "--buffer-size", "16384", "--attach-daemon2", f"cmd={queue},stopsignal=15",
                 "--disable-logging"],
                cwd=self.folder, env=_environment(self.folder), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
            )

    def _is_ours(self) -> bool:
        """Only our instance knows our archiver key; this also says Django loaded our settings."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/hyperkitty/api/mailman/urls?mlist=probe@localhost",
                               headers={"Authorization": f"Token {self.archiver_key}"})
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def processes(self) -> list[int]:
        """The pids of this instance's uwsgi and task queue processes: their command lines end
        an argument with the folder (uwsgi's --pythonpath, the queue's)."""
        folder = str(self.folder).encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                arguments = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().split(") ")[-1][:1]
            except OSError:
                continue
            if state != "Z" and any(argument == folder or argument.endswith(b" " + folder)
                                    for argument in arguments):
                found.append(int(entry.name))
        return found

    def stop(self) -> None:
        """uwsgi stops its workers and the task queue; whatever is left after 5 s is killed."""
        self._stop_process()
        deadline = time.monotonic() + 5.0
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._kill_leftovers()

    def _kill_leftovers(self) -> None:
        """This folder's processes still running: a killed run's, or a queue worker that outlived uwsgi."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
