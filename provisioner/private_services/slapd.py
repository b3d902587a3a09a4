"""A private OpenLDAP server in a folder: the one way dev, demo, tests and benchmarks run a directory.

It writes a slapd.conf from the directory server's description in
provisioner/schema/ (slapd.yml's modules, overlays, indexes, limits and password
hash, access.conf's rules, occupy.schema: what the deploy role openldap sets in
cn=config too), checks it with `slaptest`, starts slapd on a free loopback port and
an ldapi socket, waits until it answers and stops it with SIGTERM. The data folder
survives a stop, so the demo keeps its people between runs; the configuration is
written anew at every start, with a root password and service account passwords
that live only in the calling process. Several of them can replicate each other
(multi-provider).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ldap3

from ..directory.connection import DirectoryConnection, DirectorySettings
from ..directory.layout import Layout
from ..directory.tree import SERVICE_ACCOUNTS, ensure_service_accounts
from ..schema import directory_server
from .files import write_private_file
from .process import OwnedProcess, free_port

# slapd crashes when the ldapi socket path reaches 108 bytes (sun_path).
MAX_SOCKET_PATH = 100
# slapd.conf's directive for each cn=config attribute schema/slapd.yml sets
# (slapd.conf(5) and slapd-config(5) name both). A value is written as it is in
# cn=config, one line per value; TRUE and FALSE are flags (the directive alone, or
# nothing); the values of _ONE_ARGUMENT (a DN, a URL) are quoted, as they may hold spaces.
DIRECTIVES = {
    "olcPasswordHash": "password-hash",
    "olcDbMaxSize": "maxsize",
    "olcDbIndex": "index",
    "olcLimits": "limits",
    "olcMemberOfGroupOC": "memberof-group-oc",
    "olcMemberOfMemberAD": "memberof-member-ad",
    "olcMemberOfMemberOfAD": "memberof-memberof-ad",
    "olcRefintAttribute": "refint_attributes",
    "olcUniqueURI": "unique_uri",
    "olcPPolicyDefault": "ppolicy_default",
    "olcPPolicyHashCleartext": "ppolicy_hash_cleartext",
    "olcPPolicyUseLockout": "ppolicy_use_lockout",
    "olcSpCheckpoint": "syncprov-checkpoint",
    "olcSpSessionLog": "syncprov-sessionlog",
}
_ONE_ARGUMENT = {"olcPPolicyDefault", "olcUniqueURI"}
# Not settings: what names an overlay's entry in cn=config.
_OVERLAY_NAMING = {"olcOverlay", "objectClass"}


class SlapdError(RuntimeError):
    """slapd is missing, refused its configuration or did not start."""


def directives(attributes: Mapping[str, object]) -> Iterator[str]:
    """slapd.conf lines for cn=config attributes of schema/slapd.yml."""
    for name, values in attributes.items():
        if name not in DIRECTIVES:
            raise SlapdError(f"schema/slapd.yml sets {name}, which the private slapd cannot write "
                             "into slapd.conf: add it to DIRECTIVES in private_services/slapd.py")
        for value in values if isinstance(values, list) else [values]:
            if value in ("TRUE", "FALSE"):
                if value == "TRUE":
                    yield DIRECTIVES[name]
            elif name in _ONE_ARGUMENT:
                yield f'{DIRECTIVES[name]} "{value}"'
            else:
                yield f"{DIRECTIVES[name]} {value}"


@dataclass(frozen=True)
class Replication:
    """Multi-provider replication: this server pulls from each of `peers` as cn=replicator.

    Every provider of a set has its own `server_id` (1 to 4095) and the same
    replicator password, which is also the replicator account's password.
    """

    server_id: int
    peers: tuple[str, ...]
    replicator_password: str = field(repr=False)

    def __post_init__(self) -> None:
        # The password is written unquoted into slapd.conf.
        if not re.fullmatch(r"[A-Za-z0-9_.~-]+", self.replicator_password):
            raise SlapdError("the replicator password must be letters, digits and _.~- only")


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

    def __init__(self, folder: str | os.PathLike[str], base_dn: str, *, port: int | None = None,
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
        self._process: subprocess.Popen[bytes] | None = None
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
    def providers(cls, folders: list[str | os.PathLike[str]], base_dn: str,
                  **options: Any) -> list[PrivateSlapd]:
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
            return ensure_service_accounts(connection, self.layout, organisation, self.service_passwords,
                                           directory_server.description(self.base_dn)["service_policy"])
        finally:
            connection.close()

    def config_text(self) -> str:
        server = directory_server.description(self.base_dn)
        replication = self.replication
        system_schemas = Path(server["system_schema_path"])
        includes = [system_schemas / f"{name}.schema" for name in server["system_schemas"]]
        root_password = hash_password(self.root_password)
        lines = [f"include {path}" for path in [*includes, directory_server.PROJECT_SCHEMA_FILE]]
        lines += [
            f"pidfile {self.folder / 'slapd.pid'}",
            f"argsfile {self.folder / 'slapd.args'}",
            *([f"serverID {replication.server_id}"] if replication else []),
            *([f"TLSCertificateFile {self.tls.certificate}", f"TLSCertificateKeyFile {self.tls.key}"]
              if self.tls else []),
            f"modulepath {server['module_path']}",
            *(f"moduleload {module}" for module in server["modules"]),
            *directives(server["frontend"]),
            "",
            # cn=config, readable by its root (cn=config) with the root password: what
            # tests compare with the deploy role's configuration.
            "database config",
            f"rootpw {root_password}",
            "",
            "database mdb",
            f'suffix "{self.base_dn}"',
            f'rootdn "{self.root_dn}"',
            f"rootpw {root_password}",
            f"directory {self.folder / 'data'}",
            *(["dbnosync"] if self.fast_writes else []),
            *directives(server["database"]),
            *(f"access {rule}" for rule in directory_server.access_rules(self.base_dn)),
            *self._replication_lines(),
        ]
        for overlay in server["overlays"]:
            settings = {name: value for name, value in overlay.items() if name not in _OVERLAY_NAMING}
            lines += ["", f"overlay {overlay['olcOverlay']}", *directives(settings)]
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
        return [*pulls, "multiprovider on"]

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
            return bool(conn.bind())
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
