"""A private Redmine in a folder: the Redmine of tests and `make demo`.

Debian's Redmine serves several instances from one code tree: with
REDMINE_INSTANCE=<name> it reads /var/lib/redmine/<name>/{config,log,files,tmp,
public/plugin_assets}. An instance here is a folder holding those (its SQLite
database included), linked as /var/lib/redmine/occupy-<random> while it runs.

Creating a database takes two Rails boots (`db:migrate`, then
`redmine:load_default_data`, which must run in a process of its own), 15 to 30
seconds: `golden_database` does it once per Redmine version and keeps the file
in a cache folder; each instance starts from a copy. The redmine_setup role then
does what a real host needs, the same way (ansible-runner, `rails runner`): the
REST API on, the administrator's API key, the LDAP authentication source; it
reports the key and the source's id back as facts. `rails server` (webrick, which
scripts/prepare-redmine adds to Debian's bundle) serves on a free loopback port
in about 5 seconds.

Given a private PostgreSQL (`postgres`), Redmine runs as the redmine_server role deploys
it, for the benchmarks: its database there (Debian's redmine-pgsql), migrated at the
first start, and served by puma (Debian's puma, which `scripts/prepare-redmine puma`
adds to the bundle; `make bench-tools`) with the role's threads and PUMA_WORKERS
worker processes.

The folder survives a stop, so the demo keeps its projects between runs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from ..config import CHECKOUT
from .files import copy_private_file, write_private_file
from .postgres import SUPERUSER, PrivatePostgres
from .process import OwnedProcess, free_port

REDMINE_ROOT = Path("/usr/share/redmine")            # Debian's code tree
INSTANCES_DIR = Path("/var/lib/redmine")             # Debian's instances (REDMINE_INSTANCE)
LINK_PREFIX = "occupy-"
# Debian's ruby ships a newer default bundler that cannot see the packaged gems.
BUNDLER_VERSION = "2.3.15"
ADMIN_LOGIN = "admin"
DEFAULT_ROLE = "Developer"                           # one of Redmine's default roles
AUTH_SOURCE_NAME = "Occupy LDAP"
RAKE_TIMEOUT = 600.0
SETUP_TIMEOUT = 300.0
REQUEST_TIMEOUT = 30.0
POSTGRES_DATABASE = "redmine"
# One puma process is bound to one core by Ruby's lock: two served about 30% more on
# 2 cores (the redmine_server role's default is 0, a single process).
PUMA_WORKERS = 2
ROLE_DEFAULTS = CHECKOUT / "playbooks" / "roles" / "redmine_server" / "defaults" / "main.yml"


class RedmineError(RuntimeError):
    """Redmine is missing, a set-up step failed or the server did not start."""


@dataclass(frozen=True)
class LdapSource:
    """Where Redmine checks volunteers' passwords: their entries and an account to find them."""

    host: str
    port: int
    base_dn: str                  # where the people are, e.g. ou=people,dc=...
    bind_dn: str
    bind_password: str = field(repr=False)


def check_installed() -> None:
    """Raise RedmineError naming what to install when Redmine cannot run here."""
    missing = [package for package in ("redmine", "redmine-sqlite") if not _installed(package)]
    if missing or shutil.which("bundle") is None:
        raise RedmineError(
            f"Redmine is not installed: install Debian's {' and '.join(missing or ['redmine'])} "
            "package(s) (make demo and make test do it for you)"
        )
    _check_app_server("webrick", "scripts/prepare-redmine")


def check_deployed_shape_installed() -> None:
    """Raise RedmineError naming what to install when Redmine cannot run on PostgreSQL under puma."""
    check_installed()
    missing = [package for package in ("redmine-pgsql", "puma") if not _installed(package)]
    if missing:
        raise RedmineError(f"Redmine as deployed needs Debian's {' and '.join(missing)} package(s): "
                           "run make bench-tools")
    _check_app_server("puma", "make bench-tools")


def _check_app_server(gem: str, remedy: str) -> None:
    local_gemfile = REDMINE_ROOT / "Gemfile.local"
    if not local_gemfile.exists() or f"gem '{gem}'" not in local_gemfile.read_text():
        raise RedmineError(f"Redmine's bundle has no {gem}: run {remedy} (it adds it to {local_gemfile})")


def puma_threads() -> int:
    """The threads of each puma process, as the redmine_server role deploys it."""
    defaults = yaml.safe_load(ROLE_DEFAULTS.read_text())
    return int(defaults["redmine_server_puma_threads"])


def _installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                            capture_output=True, text=True, check=False)
    return result.returncode == 0 and "install ok installed" in result.stdout


def _fingerprint() -> str:
    """Changes when Redmine's schema or default data may: its version, migrations, loader."""
    digest = hashlib.sha256()
    digest.update((REDMINE_ROOT / "lib" / "redmine" / "version.rb").read_bytes())
    digest.update("\n".join(sorted(os.listdir(REDMINE_ROOT / "db" / "migrate"))).encode())
    digest.update((REDMINE_ROOT / "lib" / "redmine" / "default_data" / "loader.rb").read_bytes())
    return digest.hexdigest()[:16]


def golden_database(cache_dir: str | os.PathLike[str]) -> Path:
    """A migrated database with Redmine's default data (English), built once per Redmine version."""
    check_installed()
    cache = Path(cache_dir)
    golden = cache / f"redmine-{_fingerprint()}.sqlite3"
    if golden.exists():
        return golden
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="redmine-golden-"))
    instance = _Instance(scratch)
    try:
        instance.link()
        instance.rake("db:migrate")
        # In the same process as db:migrate the default roles silently fail to load.
        instance.rake("redmine:load_default_data")
        partial = cache / f".{golden.name}.{os.getpid()}"
        shutil.copyfile(instance.database, partial)
        os.replace(partial, golden)         # another session building it at once is harmless
    finally:
        instance.unlink()
        shutil.rmtree(scratch, ignore_errors=True)
    return golden


class _Instance:
    """The folder Debian's Redmine reads as an instance, and how to run Redmine's tools in it.

    Its database is an SQLite file in the folder or, given `postgres`, a database there.
    """

    def __init__(self, folder: Path, postgres: PrivatePostgres | None = None):
        self.folder = folder
        self.postgres = postgres
        self.name = f"{LINK_PREFIX}{secrets.token_hex(6)}"
        self.database = folder / "db" / "redmine.sqlite3"
        for sub in ("config", "db", "log", "files", "tmp", "public/plugin_assets"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        database_yml = {"production": self._database_config()}
        (folder / "config" / "database.yml").write_text(yaml.safe_dump(database_yml))
        secret_file = folder / "config" / "secret_key.txt"
        if not secret_file.exists():
            write_private_file(secret_file, secrets.token_hex(64) + "\n")

    def _database_config(self) -> dict[str, str | int | None]:
        if self.postgres is None:
            return {"adapter": "sqlite3", "database": str(self.database), "encoding": "utf8"}
        # The server trusts loopback connections: no password.
        return {"adapter": "postgresql", "host": "127.0.0.1", "port": self.postgres.port,
                "username": SUPERUSER, "database": POSTGRES_DATABASE, "encoding": "utf8",
                "pool": puma_threads() + 4}           # threads + 4, as the role sets it

    def has_database(self) -> bool:
        if self.postgres is None:
            return self.database.exists()
        with self.postgres.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                       (POSTGRES_DATABASE,)).fetchone()
        return found is not None

    @property
    def link_path(self) -> Path:
        return INSTANCES_DIR / self.name

    def link(self) -> None:
        _remove_dangling_links()
        try:
            self.link_path.symlink_to(self.folder)
        except FileExistsError:
            pass
        except OSError as error:
            raise RedmineError(f"cannot link the instance as {self.link_path} ({error}): Debian's Redmine "
                               f"only reads instances there; run as root or make {INSTANCES_DIR} writable"
                               ) from error

    def unlink(self) -> None:
        if self.link_path.is_symlink():
            self.link_path.unlink()

    def environment(self) -> dict[str, str]:
        return {**os.environ, "BUNDLER_VERSION": BUNDLER_VERSION, "BUNDLE_SILENCE_ROOT_WARNING": "1",
                "REDMINE_INSTANCE": self.name, "RAILS_ENV": "production", "REDMINE_LANG": "en"}

    def rake(self, task: str) -> None:
        log_path = self.folder / "log" / "rake.log"
        with open(log_path, "ab") as log:
            try:
                result = subprocess.run(["bundle", "exec", "rake", task], cwd=REDMINE_ROOT,
                                        env=self.environment(), stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, timeout=RAKE_TIMEOUT, check=False)
            except subprocess.TimeoutExpired as error:
                raise RedmineError(f"`rake {task}` took over {RAKE_TIMEOUT:.0f} s") from error
        if result.returncode != 0:
            raise RedmineError(f"`rake {task}` failed (rc {result.returncode}): {_tail(log_path)}")


def _remove_dangling_links() -> None:
    """Links of instances whose folder is gone (a killed test run): nobody uses them."""
    for link in INSTANCES_DIR.glob(f"{LINK_PREFIX}*"):
        if link.is_symlink() and not link.exists():
            link.unlink(missing_ok=True)


def _tail(path: Path, size: int = 2000) -> str:
    try:
        text = path.read_text(errors="replace").strip()
    except FileNotFoundError:
        return "no log"
    return text[-size:] or f"see {path}"


@dataclass(frozen=True)
class SetupReport:
    changed: bool


class PrivateRedmine(OwnedProcess):
    """A Redmine server owned by this process, with its instance folder `folder`.

    `golden` is a database file to start from (see `golden_database`); without it
    the database is created in place. Given a started `postgres`, Redmine runs as
    deployed (PostgreSQL, puma; see the module's docstring) and `golden` is not used.
    Usable as a context manager; `inventory_vars()` gives the redmine role's inventory
    variables.
    """

    start_timeout = 180.0   # about 5 s; a loaded 2-core machine needs much more
    stop_timeout = 20.0
    poll_interval = 0.1

    def __init__(self, folder: str | os.PathLike[str], ldap: LdapSource, *,
                 golden: str | os.PathLike[str] | None = None, port: int | None = None,
                 playbooks_dir: str | os.PathLike[str] = CHECKOUT / "playbooks",
                 postgres: PrivatePostgres | None = None):
        self.folder = Path(folder).resolve()
        self.ldap = ldap
        self.golden = Path(golden) if golden else None
        self.postgres = postgres
        self.port = port
        self.playbooks_dir = Path(playbooks_dir)
        self.api_key: str | None = None
        self.auth_source_id: int | None = None
        self.setup_report: SetupReport | None = None     # the last redmine_setup run's
        self._instance: _Instance | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "log" / "server.log"

    def inventory_vars(self) -> dict[str, str | int | None]:
        return {"redmine_url": self.url, "redmine_api_key": self.api_key,
                "redmine_auth_source_id": self.auth_source_id, "redmine_role": DEFAULT_ROLE}

    def start(self) -> PrivateRedmine:
        if self.running:
            return self
        if self.postgres is None:
            check_installed()
        else:
            check_deployed_shape_installed()
        if self._instance is None:
            self._instance = _Instance(self.folder, self.postgres)
        self._instance.link()
        try:
            if not self._instance.has_database():
                self._create_database()
            if self.api_key is None:
                self.configure()
            self._serve()
        except BaseException:
            self.stop()
            raise
        return self

    @property
    def _linked_instance(self) -> _Instance:
        """The instance that start() made and linked."""
        if self._instance is None:
            raise RedmineError("start() the private Redmine first: it has no instance yet")
        return self._instance

    def _create_database(self) -> None:
        if self.postgres is not None:
            self.postgres.create_database(POSTGRES_DATABASE)
        elif self.golden is not None:
            # It will hold the LDAP source's bind password and the API keys.
            copy_private_file(self.golden, self._linked_instance.database)
            return
        self._linked_instance.rake("db:migrate")
        self._linked_instance.rake("redmine:load_default_data")

    def configure(self) -> SetupReport:
        """Run the redmine_setup role on this instance, as on a real host; keep what it reports."""
        run_dir = Path(tempfile.mkdtemp(prefix="setup-", dir=self.folder))
        try:
            secrets_file, report_file = run_dir / "secrets.json", run_dir / "report.json"
            write_private_file(secrets_file, json.dumps(
                {"redmine_setup_ldap_bind_password": self.ldap.bind_password}))
            play = {
                "name": "Set up the private Redmine", "hosts": "localhost", "gather_facts": False,
                "vars_files": [str(secrets_file)],
                "vars": {
                    "redmine_setup_path": str(REDMINE_ROOT),
                    "redmine_setup_instance": self._linked_instance.name,
                    "redmine_setup_bundler_version": BUNDLER_VERSION,
                    "redmine_setup_admin_login": ADMIN_LOGIN,
                    "redmine_setup_auth_source_name": AUTH_SOURCE_NAME,
                    "redmine_setup_ldap_host": self.ldap.host,
                    "redmine_setup_ldap_port": self.ldap.port,
                    "redmine_setup_ldap_base_dn": self.ldap.base_dn,
                    "redmine_setup_ldap_bind_dn": self.ldap.bind_dn,
                },
                "roles": ["redmine_setup"],
                # What a deploy does with the facts the role reports: keep them (here
                # for this process only, in a private file).
                "tasks": [{
                    "name": "Hand the reported API key and LDAP source id to the caller",
                    "ansible.builtin.copy": {
                        "content": "{{ {'api_key': redmine_setup_api_key,"
                                   " 'auth_source_id': redmine_setup_auth_source_id} | to_json }}",
                        "dest": str(report_file), "mode": "0600"},
                    "no_log": True, "changed_when": False,      # nothing changes in Redmine
                }],
            }
            events: list[dict[str, Any]] = []

            def keep(event: dict[str, Any]) -> bool:
                events.append(event)
                return True

            result = ansible_runner.run(
                private_data_dir=str(run_dir), playbook=[play],
                inventory={"all": {"hosts": {"localhost": {
                    "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}},
                roles_path=[str(self.playbooks_dir / "roles")],
                envvars={"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
                         "ANSIBLE_NOCOLOR": "1"},
                suppress_env_files=True, quiet=True, timeout=SETUP_TIMEOUT,
                event_handler=keep,
                # Without a callback ansible-runner installs its own SIGINT/SIGTERM handlers
                # in the main thread, and the caller's (the demo's) would be lost.
                cancel_callback=lambda: False,
            )
            if result.status != "successful":
                raise RedmineError(f"the redmine_setup role failed: {_failure(events) or result.status}")
            report = json.loads(report_file.read_text())
            self.api_key = report["api_key"]
            self.auth_source_id = int(report["auth_source_id"])
            self.setup_report = SetupReport(changed=bool((result.stats or {}).get("changed")))
            return self.setup_report
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)   # the run's files hold the secrets

    def _serve(self) -> None:
        fixed_port = self.port is not None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            self._launch()
            if self._wait_until_ours():
                return
            if fixed_port:
                break
        raise RedmineError(f"Redmine did not start on {self.url}: {_tail(self.log_path)}")

    @property
    def pid_file(self) -> Path:
        """The server's pid: rails server's, or puma's master (its workers are in its process group)."""
        return self.folder / "tmp" / "server.pid"

    def _launch(self) -> None:
        self.pid_file.unlink(missing_ok=True)     # a killed run's pid file stops rails from starting
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self._server_command(),
                cwd=REDMINE_ROOT, env=self._linked_instance.environment(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=log, start_new_session=True,
            )

    def _server_command(self) -> list[str]:
        if self.postgres is None:
            return ["bundle", "exec", "rails", "server", "-b", "127.0.0.1", "-p", str(self.port),
                    "-e", "production", "-P", str(self.pid_file)]
        return ["bundle", "exec", "puma", "-C", str(self._write_puma_config())]

    def _write_puma_config(self) -> Path:
        """puma.rb as the redmine_server role writes it, with PUMA_WORKERS workers and our pid file."""
        threads = puma_threads()
        path = self.folder / "config" / "puma.rb"
        path.write_text(f"directory {json.dumps(str(REDMINE_ROOT))}\n"
                        "environment 'production'\n"
                        f"threads {threads}, {threads}\n"
                        f"workers {PUMA_WORKERS}\n"
                        f"bind 'tcp://127.0.0.1:{self.port}'\n"
                        f"pidfile {json.dumps(str(self.pid_file))}\n")
        return path

    def _is_ours(self) -> bool:
        """Only our Redmine knows our API key: another server on the port does not."""
        try:
            status, data = self.request("GET", "/users/current.json", timeout=2)
        except (OSError, http.client.HTTPException):
            return False
        return status == 200 and data.get("user", {}).get("login") == ADMIN_LOGIN

    def request(self, method: str, path: str, body: Mapping[str, object] | None = None, *,
                auth: tuple[str, str] | None = None,
                timeout: float = REQUEST_TIMEOUT) -> tuple[int, dict[str, Any]]:
        """One REST call, as the administrator (API key) or, with `auth`, as that login (basic)."""
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if auth is None:
            headers["X-Redmine-API-Key"] = self.api_key or ""
        else:
            headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=json.dumps(body) if body is not None else None,
                               headers=headers)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError:
            data = {}
        return response.status, data

    def _terminate(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        """The whole process group: rails server's children go too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)

    def stop(self) -> None:
        """Stop the server and unlink the instance; the folder stays (start again at will)."""
        self._stop_process()
        if self._instance is not None:
            self._instance.unlink()


def _failure(events: list[dict[str, Any]]) -> str | None:
    for event in events:
        if event.get("event") in ("runner_on_failed", "runner_on_unreachable"):
            data = event.get("event_data", {})
            result = data.get("res") if isinstance(data.get("res"), dict) else {}
            return f"“{data.get('task', '')}”: {result.get('msg') or 'no message'}"
    return None
