"""A private DokuWiki in a folder, reading people and groups from LDAP: for tests and the demo.

It copies Debian's DokuWiki (the `dokuwiki` package, English only) into the
folder with its configuration and an empty data folder beside it, points the copy
at them with an `inc/preload.php`, configures the authldap plugin, and serves it
with PHP's built-in web server on a free loopback port (about 0.8 s to ready).
Nothing under /etc or /var/lib is changed and no system web server is involved.
A second start in the same folder keeps the pages and the ACL.

The LDAP bind password goes into the copy's `conf/local.php` (mode 0600, in a
folder of mode 0700), never onto a command line. Members of the LDAP group
`sysadmins` are the wiki's superusers; XML-RPC (`/lib/exe/xmlrpc.php`) is on
for every logged-in person, with HTTP basic auth and their LDAP password.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import subprocess
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path
from urllib.parse import urlsplit

from .files import write_private_file
from .process import OwnedProcess, free_port

DOKUWIKI_APP = Path("/usr/share/dokuwiki")
DOKUWIKI_CONF = Path("/etc/dokuwiki")
# What DokuWiki's init_paths() needs under savedir. Debian's own data folder is readable by
# www-data only, and its sample pages are not needed: start empty.
DATA_FOLDERS = ("pages", "attic", "meta", "media", "media_attic", "media_meta", "cache", "index",
                "locks", "tmp", "log")
CONF_SUFFIXES = (".php", ".conf", ".json", ".css")
# Debian's conf files that are not DokuWiki's own, or that this module writes itself.
CONF_SKIPPED = {"apache.conf", "lighttpd.conf", "local.php", "acl.auth.php", "users.auth.php"}
SUPERUSER_GROUP = "sysadmins"
XMLRPC_PATH = "/lib/exe/xmlrpc.php"

# Logged-in people may edit outside the working groups' namespaces, as in Debian's
# default; the wiki role closes each wg:<slug> namespace to its LDAP group.
BASE_ACL = """# acl.auth.php
# <?php exit()?>
# Written by provisioner.private_services.dokuwiki; the wiki role adds wg:<slug> lines.
*\t@ALL\t0
*\t@user\t8
"""


class DokuWikiError(RuntimeError):
    """DokuWiki or PHP is missing, or the private wiki did not start."""


def _php_string(value: str) -> str:
    """A PHP single-quoted string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _other_languages(folder: str, names: list[str]) -> list[str]:
    """Leave out every translation but English: three quarters of the files, a second of copying."""
    if Path(folder).name != "lang":
        return []
    return [name for name in names if name != "en" and (Path(folder) / name).is_dir()]


def _find_php() -> str:
    php = shutil.which("php")
    if php is None:
        raise DokuWikiError("php is not installed: install Debian's php-cli package "
                            "(make test and make demo do it for you)")
    return php


class PrivateDokuWiki(OwnedProcess):
    """A DokuWiki served by `php -S` from `folder`, with authldap against the given directory.

    `admin_user` and `admin_password` are the LDAP account (a member of cn=sysadmins)
    that the wiki role logs in as; this class does not create it, it only hands it
    out through `inventory_vars()`. Usable as a context manager.
    """

    start_timeout = 15.0

    def __init__(self, folder: str | os.PathLike[str], *, ldap_url: str, base_dn: str, bind_dn: str,
                 bind_password: str, admin_user: str | None = None, admin_password: str | None = None,
                 port: int | None = None, title: str = "Occupy wiki"):
        self.folder = Path(folder).resolve()
        self.ldap_url = ldap_url
        self.base_dn = base_dn
        self.bind_dn = bind_dn
        self._bind_password = bind_password
        self.admin_user = admin_user
        self._admin_password = admin_password
        self.port = port
        self.title = title
        self._probe = secrets.token_hex(16)
        self._process: subprocess.Popen[bytes] | None = None

    # --- where things are -------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def xmlrpc_url(self) -> str:
        return self.url + XMLRPC_PATH

    @property
    def app_dir(self) -> Path:
        return self.folder / "app"

    @property
    def conf_dir(self) -> Path:
        return self.folder / "conf"

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def acl_path(self) -> Path:
        return self.conf_dir / "acl.auth.php"

    @property
    def log_path(self) -> Path:
        return self.folder / "php-server.log"

    def inventory_vars(self) -> dict[str, str]:
        """The wiki role's inventory variables for this instance."""
        if not self.admin_user or not self._admin_password:
            raise DokuWikiError("inventory_vars() needs the admin_user and admin_password "
                                "of an LDAP account in cn=sysadmins")
        return {"wiki_url": self.url, "wiki_admin_user": self.admin_user,
                "wiki_admin_password": self._admin_password}

    # --- set-up -----------------------------------------------------------------------

    def _check_installed(self, php: str) -> None:
        if not (DOKUWIKI_APP / "doku.php").is_file() or not DOKUWIKI_CONF.is_dir():
            raise DokuWikiError(f"DokuWiki is not installed ({DOKUWIKI_APP} is missing): install "
                                "Debian's dokuwiki package (make test and make demo do it for you)")
        loaded = subprocess.run([php, "-r", "exit(extension_loaded('ldap') ? 0 : 1);"],
                                capture_output=True, check=False)
        if loaded.returncode != 0:
            raise DokuWikiError("PHP's LDAP extension is missing, so DokuWiki cannot read LDAP: "
                                "install Debian's php-ldap package")

    def _prepare(self) -> None:
        """Copy the application and configuration once; write the settings at every start."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.app_dir.is_dir():
            # Debian's tree links into /etc and /var/lib: copy what the links point to. Copied
            # aside and renamed, so an interrupted copy is never taken for a whole one.
            partial = self.folder / "app.partial"
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(DOKUWIKI_APP, partial, symlinks=False, ignore=_other_languages)
            partial.rename(self.app_dir)
        (self.app_dir / "inc" / "preload.php").write_text(
            "<?php\n// Written by provisioner.private_services.dokuwiki: this copy's own configuration.\n"
            f"if (!defined('DOKU_CONF')) define('DOKU_CONF', {_php_string(str(self.conf_dir) + '/')});\n"
            # authldap (2022-07-31) on PHP 8 warns at every lookup of a person without a
            # gidNumber, which would bury real errors in the log.
            "if (!defined('DOKU_E_LEVEL'))"
            " define('DOKU_E_LEVEL', E_ALL & ~E_WARNING & ~E_NOTICE & ~E_DEPRECATED);\n")
        (self.app_dir / "ready.txt").write_text(self._probe)
        if not self.conf_dir.is_dir():
            partial = self.folder / "conf.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(mode=0o700)
            for source in DOKUWIKI_CONF.iterdir():
                if source.name.endswith(CONF_SUFFIXES) and source.name not in CONF_SKIPPED:
                    shutil.copyfile(source, partial / source.name)
            (partial / self.acl_path.name).write_text(BASE_ACL)
            partial.rename(self.conf_dir)
        self.conf_dir.chmod(0o700)
        for name in DATA_FOLDERS:
            (self.data_dir / name).mkdir(parents=True, exist_ok=True)
        (self.folder / "sessions").mkdir(mode=0o700, exist_ok=True)
        write_private_file(self.conf_dir / "local.php", self.local_conf())

    def local_conf(self) -> str:
        ldap = urlsplit(self.ldap_url)
        if ldap.scheme not in ("ldap", "ldaps") or not ldap.hostname:
            raise DokuWikiError(f"{self.ldap_url!r} is not an ldap:// or ldaps:// URL")
        port = ldap.port or (636 if ldap.scheme == "ldaps" else 389)
        server = ldap.hostname if ldap.scheme == "ldap" else f"ldaps://{ldap.hostname}:{port}"
        # conf_decodeString() reads '<b>' + base64 back, so any character is safe.
        bindpw = "<b>" + base64.b64encode(self._bind_password.encode()).decode()
        settings: dict[str, str | int] = {
            "title": self.title,
            "savedir": str(self.data_dir),
            "useacl": 1,
            "authtype": "authldap",
            "superuser": f"@{SUPERUSER_GROUP}",
            "disableactions": "register,resendpwd,profile,profile_delete",
            "remote": 1,
            "remoteuser": "@user",
            "userewrite": 0,
        }
        authldap: dict[str, str | int] = {
            "server": server,
            "port": port,
            "version": 3,
            "usertree": f"ou=people,{self.base_dn}",
            "grouptree": f"ou=groups,{self.base_dn}",
            "userfilter": "(&(uid=%{user})(objectClass=inetOrgPerson))",
            "groupfilter": "(&(objectClass=groupOfNames)(member=%{dn}))",
            "groupkey": "cn",
            "userkey": "uid",
            "binddn": self.bind_dn,
            "bindpw": bindpw,
            "modPass": 0,  # passwords change through the portal, which asks slapd
        }
        lines = ["<?php", "// Written by provisioner.private_services.dokuwiki at every start."]
        lines += [f"$conf[{_php_string(key)}] = {self._php_value(value)};" for key, value in settings.items()]
        lines += [f"$conf['plugin']['authldap'][{_php_string(key)}] = {self._php_value(value)};"
                  for key, value in authldap.items()]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _php_value(value: str | int) -> str:
        return str(value) if isinstance(value, int) else _php_string(value)

    # --- running ----------------------------------------------------------------------

    def start(self) -> PrivateDokuWiki:
        if self._process is not None:
            return self
        php = _find_php()
        self._check_installed(php)
        self._prepare()
        fixed_port = self.port is not None
        for _attempt in range(3):
            if not fixed_port:
                self.port = free_port()
            self._launch(php)
            if self._wait_until_ours():
                self._check_xmlrpc()
                return self
            if fixed_port:
                break
        raise DokuWikiError(f"DokuWiki (php -S) did not start on {self.url}: {self._log_tail()}")

    def _launch(self, php: str) -> None:
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [php, "-d", f"session.save_path={self.folder / 'sessions'}", "-d", "display_errors=0",
                 "-d", f"error_log={self.folder / 'php-errors.log'}",
                 "-S", f"127.0.0.1:{self.port}", "-t", str(self.app_dir)],
                cwd=self.app_dir, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )

    def _is_ours(self) -> bool:
        """Only our server serves our random probe: another process on the port does not."""
        try:
            with urllib.request.urlopen(self.url + "/ready.txt", timeout=1) as response:  # noqa: S310
                body: bytes = response.read()
                return body.decode(errors="replace") == self._probe
        except (OSError, urllib.error.URLError):
            return False

    def _check_xmlrpc(self) -> None:
        """DokuWiki itself answers (PHP runs it and its configuration loads)."""
        try:
            with xmlrpc.client.ServerProxy(self.xmlrpc_url) as wiki:
                version = wiki.dokuwiki.getXMLRPCAPIVersion()
        except (OSError, xmlrpc.client.Error) as error:
            self.stop()
            raise DokuWikiError(f"DokuWiki at {self.url} serves files but its XML-RPC API fails: "
                                f"{error}; {self._log_tail()}") from None
        if not isinstance(version, int):
            self.stop()
            raise DokuWikiError(f"DokuWiki at {self.url} answered {version!r} to getXMLRPCAPIVersion: "
                                f"{self._log_tail()}")

    def _log_tail(self) -> str:
        parts = []
        for path in (self.log_path, self.folder / "php-errors.log"):
            with contextlib.suppress(FileNotFoundError):
                text = path.read_text(errors="replace").strip()
                if text:
                    parts.append(f"{path.name}: {text[-1500:]}")
        return "; ".join(parts) or f"nothing in {self.log_path}"

    @property
    def pid(self) -> int | None:
        """The php -S process's id while it runs."""
        return self._process.pid if self._process is not None and self.running else None

