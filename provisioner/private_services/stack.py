"""The private stack: slapd, SMTP, Mailman (with its web parts), DokuWiki and Redmine as
`make demo`, the tests and the benchmarks run them, assembled here only.

A `PrivateStack` keeps each service in a subfolder of its folder and wires them as a
deployed host does: a slapd with the bind accounts of ou=services; the portal
(`portal_config`), the wiki and Redmine each bind as their own account, never as the
root DN; Mailman sends through the stack's SMTP server when `lists_send_mail`, and
archives to its web parts (HyperKitty, Postorius) once they are asked for, where people
log in with their directory password; the wiki role acts as `wiki_admin`, a person in
cn=sysadmins the caller creates. Each
service starts when first asked for; `close()` (or leaving the `with`) stops, in
reverse order, whatever started.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml

from ..directory.connection import DirectorySettings
from .dokuwiki import PrivateDokuWiki
from .files import write_private_file
from .mailman import ArchiverLink, PrivateMailman
from .mailman_web import MailmanRest, PeopleDirectory, PrivateMailmanWeb, golden_web
from .postgres import PrivatePostgres, start_private_postgres
from .redmine import LdapSource, PrivateRedmine, golden_database
from .slapd import PrivateSlapd, TlsFiles
from .smtp import DISCARD, PrivateSmtp

Managed = TypeVar("Managed")


class OfferedService(Protocol):
    """A private server the playbooks provision: where it serves, and its role's inventory variables."""

    @property
    def url(self) -> str: ...

    def inventory_vars(self) -> Mapping[str, object]: ...


@dataclass(frozen=True)
class Occupation:
    """The names a stack's data carries: they differ between the demo, the tests and the benchmarks."""

    base_dn: str
    name: str
    list_domain: str


@dataclass(frozen=True)
class WikiAdmin:
    """The person (in cn=sysadmins) the wiki role logs in as; the caller creates the account."""

    uid: str
    password: str = field(repr=False)


def portal_directory(slapd: PrivateSlapd, timeout: float = 5.0) -> DirectorySettings:
    """The portal's directory settings: it binds as cn=portal, as deployed, never as the root DN."""
    return DirectorySettings(url=slapd.url, base_dn=slapd.base_dn, bind_dn=slapd.service_dn("portal"),
                             bind_password=slapd.service_passwords["portal"], timeout=timeout)


def portal_config(slapd: PrivateSlapd, **settings: Any) -> dict[str, Any]:
    """The portal's settings (create_app's names) for this slapd, plus `settings`."""
    return {
        "LDAP_URL": slapd.url,
        "LDAP_BASE_DN": slapd.base_dn,
        "LDAP_BIND_DN": slapd.service_dn("portal"),
        "LDAP_BIND_PASSWORD": slapd.service_passwords["portal"],
        **settings,
    }


def write_inventory(folder: str | os.PathLike[str], *services: OfferedService | Mapping[str, object]) -> Path:
    """An inventory offering these services (and no other) on localhost; returns its folder.

    A service is a private server (its `inventory_vars()`) or, to offer one with altered
    settings, a dict of its variables. hosts.yml holds the services' credentials: mode 0600.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    host: dict[str, object] = {"ansible_connection": "local",
                               "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    for service in services:
        host.update(service if isinstance(service, Mapping) else service.inventory_vars())
    write_private_file(folder / "hosts.yml", yaml.safe_dump({"all": {"hosts": {"localhost": host}}}))
    return folder


class PrivateStack:
    """The private services of one occupation under `folder`, each started on first use.

    `fast_writes` is slapd's `dbnosync`: for throwaway data only (tests, benchmarks);
    with `tls` slapd serves ldaps too. `mail` is the SMTP server's kind (smtp.PRINT,
    MAILDIR, DISCARD). `redmine_cache` keeps Redmine's migrated database between
    stacks, `mailman_web_cache` mailman3-web's and its static files (default for both:
    `<folder>/cache`). With `redmine_deployed_shape` Redmine runs as deployed, on the
    stack's PostgreSQL under puma (the benchmarks'), migrated at its start, instead of
    on SQLite under webrick.
    """

    def __init__(self, folder: str | os.PathLike[str], occupation: Occupation, *, fast_writes: bool = False,
                 tls: TlsFiles | None = None, mail: str = DISCARD, lists_send_mail: bool = False,
                 wiki_admin: WikiAdmin | None = None, redmine_cache: str | os.PathLike[str] | None = None,
                 mailman_web_cache: str | os.PathLike[str] | None = None,
                 redmine_deployed_shape: bool = False):
        self.folder = Path(folder).resolve()
        self.occupation = occupation
        self.fast_writes = fast_writes
        self.tls = tls
        self.mail = mail
        self.lists_send_mail = lists_send_mail
        self.wiki_admin = wiki_admin
        self.redmine_cache = Path(redmine_cache) if redmine_cache else self.folder / "cache"
        self.mailman_web_cache = Path(mailman_web_cache) if mailman_web_cache else self.folder / "cache"
        self.redmine_deployed_shape = redmine_deployed_shape
        self._archiver: ArchiverLink | None = None       # for a Mailman started after its web parts
        self._started: dict[str, Any] = {}
        self._exit = ExitStack()

    def _get(self, name: str, start: Callable[[], Managed]) -> Managed:
        if name not in self._started:
            self._started[name] = start()
        service: Managed = self._started[name]      # what `start` made under this name
        return service

    def slapd(self) -> PrivateSlapd:
        """The directory, with the bind accounts of ou=services (their passwords new at each start)."""
        def start() -> PrivateSlapd:
            server = self._exit.enter_context(PrivateSlapd(
                self.folder / "slapd", self.occupation.base_dn, fast_writes=self.fast_writes, tls=self.tls))
            server.create_service_accounts(self.occupation.name)
            return server
        return self._get("slapd", start)

    def smtp(self) -> PrivateSmtp:
        return self._get("smtp", lambda: self._exit.enter_context(
            PrivateSmtp(self.folder / "mail", self.mail)))

    def mailman(self) -> PrivateMailman:
        def start() -> PrivateMailman:
            smtp_port = self.smtp().port if self.lists_send_mail else None
            return self._exit.enter_context(PrivateMailman(
                self.folder / "mailman", domain=self.occupation.list_domain, smtp_port=smtp_port,
                archiver=self._archiver))
        return self._get("mailman", start)

    def mailman_web(self) -> PrivateMailmanWeb:
        """HyperKitty and Postorius for the stack's Mailman, which archives there from now on.

        A Mailman not started yet starts with its archiver, the web's port chosen first;
        one already running (without archives, the quicker start) restarts with it.
        """
        def start() -> PrivateMailmanWeb:
            slapd, smtp = self.slapd(), self.smtp()
            assert smtp.port is not None        # chosen when it started
            web = PrivateMailmanWeb(self.folder / "mailman-web",
                                    directory=PeopleDirectory(slapd.url, slapd.layout.people),
                                    golden=golden_web(self.mailman_web_cache), smtp_port=smtp.port)
            if "mailman" not in self._started:
                web.reserve_port()
                self._archiver = web.archiver
            mailman = self.mailman()
            web.rest = MailmanRest(mailman.url, mailman.admin_user, mailman.admin_password)
            self._exit.enter_context(web)
            mailman.archive_to(web.archiver)      # a restart only if it ran without it, or the port moved
            return web
        return self._get("mailman_web", start)

    def wiki(self) -> PrivateDokuWiki:
        def start() -> PrivateDokuWiki:
            slapd = self.slapd()
            admin = self.wiki_admin
            return self._exit.enter_context(PrivateDokuWiki(
                self.folder / "wiki", ldap_url=slapd.url, base_dn=slapd.base_dn,
                bind_dn=slapd.service_dn("wiki"), bind_password=slapd.service_passwords["wiki"],
                admin_user=admin.uid if admin else None, admin_password=admin.password if admin else None))
        return self._get("wiki", start)

    def redmine(self) -> PrivateRedmine:
        def start() -> PrivateRedmine:
            slapd = self.slapd()
            assert slapd.port is not None       # chosen when it started
            ldap = LdapSource(host="127.0.0.1", port=slapd.port, base_dn=slapd.layout.people,
                              bind_dn=slapd.service_dn("redmine"),
                              bind_password=slapd.service_passwords["redmine"])
            if self.redmine_deployed_shape:
                redmine = PrivateRedmine(self.folder / "redmine", ldap, postgres=self.postgres())
            else:
                redmine = PrivateRedmine(self.folder / "redmine", ldap,
                                         golden=golden_database(self.redmine_cache))
            return self._exit.enter_context(redmine)
        return self._get("redmine", start)

    def postgres(self) -> PrivatePostgres:
        """A PostgreSQL server in a short folder of its own under /tmp (the postgres user, which
        runs it under root, may not reach into the stack's folder); removed with the stack."""
        return self._get("postgres", lambda: self._exit.enter_context(start_private_postgres()))

    def started(self, process: AbstractContextManager[Managed]) -> Managed:
        """`process` (a context manager, such as an OwnedProcess) started now, stopped with the stack."""
        return self._exit.enter_context(process)

    def portal_config(self, **settings: Any) -> dict[str, Any]:
        """The portal's settings on this stack: its directory, its SMTP server, a store in the folder."""
        return portal_config(self.slapd(), SMTP_HOST="127.0.0.1", SMTP_PORT=self.smtp().port,
                             DATABASE_URL=f"sqlite:///{self.folder / 'provisioner.sqlite'}",
                             RUNNER_DIR=str(self.folder / "runner"), **settings)

    def close(self) -> None:
        self._started.clear()
        self._exit.close()

    def __enter__(self) -> PrivateStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
