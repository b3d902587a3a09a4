"""A private OpenLDAP server in a folder: the one way dev, demo, tests and benchmarks run a directory.

It writes a slapd.conf with the project's schema, overlays and access rules
(schema/access.conf, the list the deploy role uses too), checks it with
`slaptest`, starts slapd on a free loopback port and an ldapi socket, waits until
it answers and stops it with SIGTERM. The data folder survives a stop, so the
demo keeps its people between runs; the configuration is written anew at every
start, with a root password and service account passwords that live only in the
calling process. Several of them can replicate each other (multi-provider).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import ldap3

from ..directory.connection import DirectoryConnection, DirectorySettings
from ..directory.layout import Layout
from ..directory.tree import SERVICE_ACCOUNTS, ensure_service_accounts
from .files import write_private_file
from .process import OwnedProcess, free_port

SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SYSTEM_SCHEMAS = ("core", "cosine", "inetorgperson", "nis")
# otp: only for the OATH-LDAP schema (oathTOTPToken, oathSecret...) where the portal
# keeps TOTP secrets. Its overlay is not enabled: binds stay password-only, so the
# services reading LDAP are unaffected; the portal checks the codes itself.
MODULES = ("back_mdb", "memberof", "refint", "unique", "ppolicy", "argon2", "otp")
# slapd crashes when the ldapi socket path reaches 108 bytes (sun_path).
MAX_SOCKET_PATH = 100


class SlapdError(RuntimeError):
    """slapd is missing, refused its configuration or did not start."""


def project_schema_path() -> Path:
    return Path(str(resources.files("provisioner") / "schema" / "occupy.schema"))


def access_rules(base_dn: str) -> list[str]:
    """The rules of schema/access.conf for `base_dn`, one string each, in order.

    A rule is a paragraph: its lines joined by spaces, comment lines dropped,
    `{base}` replaced by the base DN.
    """
    text = (resources.files("provisioner") / "schema" / "access.conf").read_text()
    rules = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.splitlines()]
        rule = " ".join(line for line in lines if line and not line.startswith("#"))
        if rule:
            rules.append(rule.replace("{base}", base_dn))
    return rules


@dataclass(frozen=True)
class Replication:
    """Multi-provider replication: this server pulls from each of `peers` as cn=replicator.

    Every provider of a set has its own `server_id` (1 to 4095) and the same
    replicator password, which is also the replicator account's password.
    """

    server_id: int
    peers: tuple[str, ...]
    replicator_password: str = field(repr=False)

    def __post_init__(self):
        # The password is written unquoted into slapd.conf.
        if not re.fullmatch(r"[A-Za-z0-9_.~-]+", self.replicator_password):
            raise SlapdError("the replicator password must be letters, digits and _.~- only")


def policy_dn(base_dn: str) -> str:
    """The password policy every account gets (created by init-directory)."""
    return f"cn=default,ou=policies,{base_dn}"


def _find_binary(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if path is None:
        raise SlapdError(
            f"{name} is not installed: install Debian's slapd and ldap-utils packages "
            "(make demo and make test do it for you)"
        )
    return path


def hash_password(password: str) -> str:
    """Hash with slappasswd, the password passed on stdin, never on the command line."""
    result = subprocess.run(
        [_find_binary("slappasswd"), "-o", "module-load=argon2", "-h", "{ARGON2}", "-T", "/dev/stdin"],
        input=password.encode(),
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise SlapdError(f"slappasswd failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode().strip()


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate and its key (PEM files), for ldaps."""

    certificate: Path
    key: Path


class PrivateSlapd(OwnedProcess):
    """A slapd process owned by this process, with its config and data under `folder`.

    Usable as a context manager. `fast_writes` turns on `dbnosync`, which is only
    safe for throwaway data (tests, benchmarks). `create_service_accounts()` makes
    the bind accounts of ou=services, as the deploy role does on a real host.
    """

    def __init__(self, folder: str | os.PathLike, base_dn: str, *, port: int | None = None,
                 fast_writes: bool = False, replication: Replication | None = None,
                 tls: TlsFiles | None = None):
        self.folder = Path(folder).resolve()
        self.base_dn = base_dn
        self.layout = Layout(base_dn)
        self.root_dn = f"cn=admin,{base_dn}"
        self.root_password = secrets.token_urlsafe(32)
        self.service_passwords = {name: secrets.token_urlsafe(32) for name in SERVICE_ACCOUNTS}
        if replication is not None:
            self.service_passwords["replicator"] = replication.replicator_password
        self.port = port
        self.fast_writes = fast_writes
        self.replication = replication
        self.tls = tls
        self.ldaps_port: int | None = None
        self._process: subprocess.Popen | None = None
        socket_path = self.folder / "ldapi"
        if len(str(socket_path).encode()) >= MAX_SOCKET_PATH:
            raise SlapdError(
                f"{socket_path} is too long for an ldapi socket (slapd needs under "
                f"{MAX_SOCKET_PATH} bytes): choose a shorter folder"
            )
        self.socket_path = socket_path

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """Only with `tls`: the same server over TLS."""
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    @property
    def ldapi_url(self) -> str:
        return "ldapi://" + quote(str(self.socket_path), safe="")

    @property
    def config_path(self) -> Path:
        return self.folder / "slapd.conf"

    @property
    def log_path(self) -> Path:
        return self.folder / "slapd.log"

    @classmethod
    def providers(cls, folders: list[str | os.PathLike], base_dn: str, **options) -> list[PrivateSlapd]:
        """Servers (not started) replicating each other, their ports chosen now.

        They share the service account passwords: the accounts, created on one of
        them, reach the others by replication.
        """
        ports = [free_port() for _ in folders]
        urls = [f"ldap://127.0.0.1:{port}" for port in ports]
        password = secrets.token_urlsafe(32)
        servers = [
            cls(folder, base_dn, port=port, replication=Replication(
                server_id=number, peers=tuple(url for url in urls if url != urls[number - 1]),
                replicator_password=password), **options)
            for number, (folder, port) in enumerate(zip(folders, ports, strict=True), start=1)
        ]
        for server in servers[1:]:
            server.service_passwords = servers[0].service_passwords
        return servers

    def service_dn(self, name: str) -> str:
        return f"cn={name},{self.layout.services}"

    def create_service_accounts(self, organisation: str) -> list[str]:
        """As the root DN: the base entry, ou=services and its bind accounts, with our passwords."""
        settings = DirectorySettings(url=self.url, base_dn=self.base_dn, bind_dn=self.root_dn,
                                     bind_password=self.root_password)
        connection = DirectoryConnection(settings)
        try:
            return ensure_service_accounts(connection, self.layout, organisation, self.service_passwords)
        finally:
            connection.close()

    def config_text(self) -> str:
        base = self.base_dn
        includes = [SCHEMA_DIR / f"{name}.schema" for name in SYSTEM_SCHEMAS] + [project_schema_path()]
        replication = self.replication
        lines = [f"include {path}" for path in includes]
        lines += [
            f"pidfile {self.folder / 'slapd.pid'}",
            f"argsfile {self.folder / 'slapd.args'}",
            *([f"serverID {replication.server_id}"] if replication else []),
            *([f"TLSCertificateFile {self.tls.certificate}", f"TLSCertificateKeyFile {self.tls.key}"]
              if self.tls else []),
            f"modulepath {MODULE_DIR}",
            *(f"moduleload {module}" for module in MODULES),
            *(["moduleload syncprov"] if replication else []),
            "password-hash {ARGON2}",
            "",
            "database mdb",
            f'suffix "{base}"',
            f'rootdn "{self.root_dn}"',
            f"rootpw {hash_password(self.root_password)}",
            f"directory {self.folder / 'data'}",
            "maxsize 1073741824",
            *(["dbnosync"] if self.fast_writes else []),
            "index objectClass,uid,mail,cn,member,memberOf,owner,occupyStatus eq",
            *(["index entryCSN,entryUUID eq"] if replication else []),
            # The default size limit (500) would cut the portal's searches over
            # everyone, and the replicator's refresh, short.
            *(f'limits dn.exact="{self.service_dn(name)}" size=unlimited time=unlimited'
              for name in ("portal", "replicator")),
            *(f"access {rule}" for rule in access_rules(base)),
            *self._replication_lines(),
            "",
            "overlay memberof",
            "memberof-group-oc groupOfNames",
            "memberof-member-ad member",
            "memberof-memberof-ad memberOf",
            "overlay refint",
            "refint_attributes member owner",
            "overlay unique",
            "unique_uri ldap:///?uid?sub",
            # Mail is unique among accounts only: requests not verified yet may share an
            # address, so that nobody can hold someone else's (verification settles it).
            f"unique_uri ldap:///{self.layout.people}?mail?sub",
            "overlay ppolicy",
            f'ppolicy_default "{policy_dn(base)}"',
            "ppolicy_hash_cleartext",
            "ppolicy_use_lockout",
        ]
        return "\n".join(lines) + "\n"

    def _replication_lines(self) -> list[str]:
        replication = self.replication
        if replication is None:
            return []
        # Short timeouts: the providers are on loopback, and a stopping slapd waits
        # that long for its replication connections.
        pulls = [
            f"syncrepl rid={rid:03d} provider={peer} bindmethod=simple "
            f'binddn="{self.service_dn("replicator")}" credentials={replication.replicator_password} '
            f'searchbase="{self.base_dn}" type=refreshAndPersist retry="1 +" timeout=1 network-timeout=1'
            for rid, peer in enumerate(replication.peers, start=1)
        ]
        return [*pulls, "multiprovider on", "overlay syncprov", "syncprov-checkpoint 100 5"]

    def start(self) -> PrivateSlapd:
        if self._process is not None:
            return self
        slapd = _find_binary("slapd")
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        # It holds the replicator's password in clear.
        write_private_file(self.config_path, self.config_text())
        self._check_config()
        fixed_port = self.port is not None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            if self.tls:
                self.ldaps_port = free_port()
            self._launch(slapd)
            if self._wait_until_ours():
                return self
            if fixed_port:
                break
        raise SlapdError(f"slapd did not start on {self.url}: {self._log_tail()}")

    def _check_config(self) -> None:
        result = subprocess.run(
            [_find_binary("slaptest"), "-u", "-f", str(self.config_path)],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise SlapdError(f"slapd refused {self.config_path}: {result.stderr.strip()}")

    def _launch(self, slapd: str) -> None:
        urls = f"{self.url} {self.ldapi_url}" + (f" {self.ldaps_url}" if self.tls else "")
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [slapd, "-f", str(self.config_path), "-h", urls, "-d", "0"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )

    def _port_open(self) -> bool:
        # A plain socket first: ldap3 leaks the socket of a refused connection.
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True

    def _is_ours(self) -> bool:
        """Only our slapd accepts our root password: another server on the port does not."""
        if not self._port_open():
            return False
        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=1)
        conn = ldap3.Connection(server, self.root_dn, self.root_password, receive_timeout=1)
        try:
            return conn.bind()
        except ldap3.core.exceptions.LDAPException:
            return False
        finally:
            conn.unbind()

    def _log_tail(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip()
        except FileNotFoundError:
            return "no log"
        return text[-2000:] or f"see {self.log_path}"
