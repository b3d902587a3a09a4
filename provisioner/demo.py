"""`make demo`: the portal on the private stack, with a sysadmin whose password is printed.

The private stack (private_services/stack.py) runs slapd, an SMTP server that
prints each mail here (so the verification link can be followed from the
terminal) and, where they are installed, Mailman with its archives and list pages
(HyperKitty, Postorius), DokuWiki and Redmine, in subfolders of the demo's folder
(default var/). Every secret is random and new at
every start: slapd's root password (it lives only in this process), its service
accounts' (the portal, the wiki and Redmine each bind as their own, as in
production), the session key, the demo sysadmin's password.

The portal's settings go to `<folder>/config.py` (mode 0600), so any `provisioner`
command can run against the demo with PROVISIONER_CONFIG naming it; the services'
credentials to `<folder>/inventory/hosts.yml` (mode 0600), which the provisioning
worker, running in a thread beside the portal, reads as it would in production.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import run_simple

from . import create_app, workflow
from .config import BY_NAME
from .directory import Directory
from .jobs import Worker
from .private_services.dokuwiki import DokuWikiError, PrivateDokuWiki
from .private_services.files import write_private_file
from .private_services.mailman import MailmanError
from .private_services.mailman_web import MailmanWebError, PrivateMailmanWeb
from .private_services.redmine import PrivateRedmine, RedmineError
from .private_services.smtp import PRINT
from .private_services.stack import Occupation, OfferedService, PrivateStack, WikiAdmin, write_inventory
from .resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from .runner import PlaybookRunner

DEMO_ADMIN = "demo-admin"
LIST_DOMAIN = "lists.occupy.example"


def run_demo(folder: str, port: int) -> None:
    folder_path = Path(folder).resolve()
    folder_path.mkdir(mode=0o700, parents=True, exist_ok=True)   # 0700 when the demo makes it
    occupation = Occupation(base_dn=BY_NAME["LDAP_BASE_DN"].default, name=BY_NAME["OCCUPATION_NAME"].default,
                            list_domain=LIST_DOMAIN)
    password = secrets.token_urlsafe(12)
    # SIGTERM (kill, timeout) unwinds like Ctrl-C, so every service is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with PrivateStack(folder_path, occupation, mail=PRINT, lists_send_mail=True,
                      wiki_admin=WikiAdmin(DEMO_ADMIN, password)) as stack:
        web = _start_web_parts(stack)
        offered = _start_services(stack)
        settings = stack.portal_config(
            PUBLIC_URL=f"http://127.0.0.1:{port}",
            SECURE_COOKIES=False,  # plain http on loopback
            SECRET_KEY=secrets.token_urlsafe(32),
            OCCUPATION_NAME=occupation.name,
            INVENTORY=str(write_inventory(folder_path / "inventory", *offered)),
            **_service_links(web, offered),
        )
        app = create_app(settings)
        with app.app_context():
            workflow.initialise_directory(get_directory(), get_catalogue(), occupation.name)
            workflow.create_sysadmin(get_directory(), DEMO_ADMIN, "demo-admin@occupy.example",
                                     "Demo Sysadmin", password)
        config_file = write_config_file(folder_path / "config.py", settings)
        slapd = stack.slapd()
        print(f"\nslapd (private) at {slapd.url}, data in {slapd.folder}")
        for service in offered:
            print(f"{type(service).__name__.removeprefix('Private')}: {service.url}")
        if web is not None:
            print(f"Archives and list pages: {web.url}/hyperkitty/ and {web.url}/postorius/lists/")
        print(f"Mail: printed below, from an SMTP server on 127.0.0.1:{stack.smtp().port}")
        print(f"Portal: http://127.0.0.1:{port}/   health: http://127.0.0.1:{port}/healthz")
        print(f"Demo sysadmin: {DEMO_ADMIN}   password: {password}   (new at every start)")
        command = _shown(Path(sys.executable).parent / "provisioner")
        print(f"Settings: {_shown(config_file)}; any command runs against this demo with")
        print(f"  PROVISIONER_CONFIG={_shown(config_file)} {command} ...")
        print("A provisioning worker runs beside the portal; volunteers log in to the wiki, Redmine")
        print("and the lists' pages with their portal password. Ctrl-C stops everything.\n", flush=True)
        with _background_worker(app):
            run_simple("127.0.0.1", port, app, threaded=True)


def _start_web_parts(stack: PrivateStack) -> PrivateMailmanWeb | None:
    """HyperKitty and Postorius, first: Mailman then starts archiving to them at once."""
    print("Starting the lists' archives and pages (HyperKitty, Postorius)...", flush=True)
    try:
        return stack.mailman_web()
    except (MailmanWebError, MailmanError) as error:
        print(f"  not offered in this demo: {error}", flush=True)
        return None


def _service_links(web: PrivateMailmanWeb | None, offered: list[OfferedService]) -> dict[str, str]:
    """The account page's links to each group's list, archive, wiki and project, where offered."""
    links = {"LIST_DOMAIN": LIST_DOMAIN}
    if web is not None:
        links["ARCHIVES_URL"] = web.url
    for service in offered:
        if isinstance(service, PrivateDokuWiki):
            links["WIKI_URL"] = service.url
        elif isinstance(service, PrivateRedmine):
            links["REDMINE_URL"] = service.url
    return links


def _start_services(stack: PrivateStack) -> list[OfferedService]:
    """Mailman, DokuWiki and Redmine, each where it is installed; the others are not offered."""
    starters: dict[str, Callable[[], OfferedService]] = {
        "Mailing lists (Mailman 3)": stack.mailman, "Wiki (DokuWiki)": stack.wiki, "Redmine": stack.redmine}
    started: list[OfferedService] = []
    for name, start in starters.items():
        print(f"Starting {name}...", flush=True)
        try:
            started.append(start())
        except (MailmanError, DokuWikiError, RedmineError) as error:
            print(f"  not offered in this demo: {error}", flush=True)
    return started


def write_config_file(path: Path, settings: dict[str, Any]) -> Path:
    """The settings as a PROVISIONER_CONFIG file (Python), created with mode 0600: it holds secrets."""
    lines = ["# Written by `provisioner demo` at every start: its passwords and ports change each time.",
             "# PROVISIONER_CONFIG=<this file> provisioner <command> runs the command against the demo."]
    lines += [f"{name} = {value!r}" for name, value in sorted(settings.items())]
    return write_private_file(path, "\n".join(lines) + "\n")


def _shown(path: Path) -> str:
    """`path` relative to the working directory when under it (as typed in a shell there)."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


@contextmanager
def _background_worker(app: Flask) -> Iterator[Worker]:
    """The worker in a thread of its own, with its own directory connection; it sends the
    portal's queued mail too, which the stack's SMTP server prints."""
    with app.app_context():
        worker = Worker(get_store(), Directory(app.extensions["directory_settings"]), get_catalogue(),
                        PlaybookRunner(runner_settings(app)), job_settings(app.config),
                        mailer=app.extensions["mailer"])
    thread = threading.Thread(target=worker.run, name="provisioning-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
        worker.directory.close()
