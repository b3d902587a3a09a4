"""`make demo`: the portal on a private slapd, with a sysadmin whose password is printed.

Every secret here is random and lives only in this process: slapd's root
password and its service accounts' (the portal, the wiki and Redmine each bind as
their own, as in production), the session key, the demo sysadmin's password
(made anew each run).
Mail goes to a small SMTP server on loopback that prints each message here,
so the verification link can be followed from the terminal; a provisioning
worker runs in a thread, so an approval's job runs as it would in production.
Mailman, DokuWiki and Redmine start privately too where they are installed,
with an inventory offering them (var/inventory, mode 0600).
"""

from __future__ import annotations

import secrets
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import yaml
from flask import Flask
from werkzeug.serving import run_simple

from . import create_app, workflow
from .config import BY_NAME
from .directory import Directory
from .jobs import Worker
from .private_services.dokuwiki import DokuWikiError, PrivateDokuWiki
from .private_services.mailman import MailmanError, PrivateMailman
from .private_services.redmine import LdapSource, PrivateRedmine, RedmineError, golden_database
from .private_services.slapd import PrivateSlapd
from .resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from .runner import PlaybookRunner

DEMO_ADMIN = "demo-admin"


def run_demo(folder: str, port: int) -> None:
    folder_path = Path(folder).resolve()
    folder_path.mkdir(parents=True, exist_ok=True)
    base_dn = BY_NAME["LDAP_BASE_DN"].default
    # SIGTERM (kill, timeout) unwinds like Ctrl-C, so slapd is stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with PrivateSlapd(folder_path / "slapd", base_dn) as slapd, _printing_mail_server() as smtp_port:
        slapd.create_service_accounts(BY_NAME["OCCUPATION_NAME"].default)
        app = create_app({
            "SMTP_PORT": smtp_port,
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "SECURE_COOKIES": False,  # plain http on loopback
            "SECRET_KEY": secrets.token_urlsafe(32),
            "LDAP_URL": slapd.url,
            "LDAP_BASE_DN": base_dn,
            "LDAP_BIND_DN": slapd.service_dn("portal"),
            "LDAP_BIND_PASSWORD": slapd.service_passwords["portal"],
            "DATABASE_URL": f"sqlite:///{folder_path / 'provisioner.sqlite'}",
            "RUNNER_DIR": str(folder_path / "runner"),
        })
        password = secrets.token_urlsafe(12)
        with app.app_context():
            workflow.initialise_directory(get_directory(), get_catalogue(),
                                          app.config["OCCUPATION_NAME"])
            workflow.create_sysadmin(get_directory(), DEMO_ADMIN, "demo-admin@occupy.example",
                                     "Demo Sysadmin", password)
        with ExitStack() as services:
            offered = _start_services(services, folder_path, slapd, smtp_port, password)
            app.config["INVENTORY"] = str(_write_inventory(folder_path / "inventory", offered))
            print(f"\nslapd (private) at {slapd.url}, data in {folder_path / 'slapd'}")
            for service in offered:
                print(f"{type(service).__name__.removeprefix('Private')}: {service.url}")
            print(f"Mail: printed below, from an SMTP server on 127.0.0.1:{smtp_port}")
            print(f"Portal: http://127.0.0.1:{port}/   health: http://127.0.0.1:{port}/healthz")
            print(f"Demo sysadmin: {DEMO_ADMIN}   password: {password}   (new at every start)")
            print("A provisioning worker runs beside the portal; volunteers log in to the wiki and")
            print("Redmine with their portal password. Ctrl-C stops everything.\n", flush=True)
            with _background_worker(app):
                run_simple("127.0.0.1", port, app, threaded=True)


def _start_services(stack: ExitStack, folder: Path, slapd: PrivateSlapd, smtp_port: int,
                    admin_password: str) -> list:
    """Mailman, DokuWiki and Redmine, each where it is installed; the others are not offered."""
    def ldap(service: str) -> dict:
        return {"bind_dn": slapd.service_dn(service), "bind_password": slapd.service_passwords[service]}

    starters = {
        "Mailing lists (Mailman 3)": lambda: PrivateMailman(
            folder / "mailman", domain="lists.occupy.example", smtp_port=smtp_port),
        "Wiki (DokuWiki)": lambda: PrivateDokuWiki(
            folder / "wiki", ldap_url=slapd.url, base_dn=slapd.base_dn, admin_user=DEMO_ADMIN,
            admin_password=admin_password, **ldap("wiki")),
        "Redmine": lambda: PrivateRedmine(
            folder / "redmine", LdapSource(host="127.0.0.1", port=slapd.port,
                                           base_dn=f"ou=people,{slapd.base_dn}", **ldap("redmine")),
            golden=golden_database(folder / "cache")),
    }
    started = []
    for name, starter in starters.items():
        print(f"Starting {name}...", flush=True)
        try:
            started.append(stack.enter_context(starter()))
        except (MailmanError, DokuWikiError, RedmineError) as error:
            print(f"  not offered in this demo: {error}", flush=True)
    return started


def _write_inventory(folder: Path, services: list) -> Path:
    """inventory/local plus the demo services' addresses and credentials (mode 0600)."""
    folder.mkdir(parents=True, exist_ok=True)
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    for service in services:
        host.update(service.inventory_vars())
    hosts = folder / "hosts.yml"
    hosts.touch(mode=0o600)
    hosts.chmod(0o600)
    hosts.write_text(yaml.safe_dump({"all": {"hosts": {"localhost": host}}}))
    return folder


@contextmanager
def _background_worker(app: Flask) -> Iterator[Worker]:
    """The worker in a thread of its own, with its own directory connection."""
    with app.app_context():
        worker = Worker(get_store(), Directory(app.extensions["directory_settings"]), get_catalogue(),
                        PlaybookRunner(runner_settings(app)), job_settings(app.config))
    thread = threading.Thread(target=worker.run, name="provisioning-worker", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
        worker.directory.close()


class _PrintMail:
    """aiosmtpd handler: print each mail instead of delivering it."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=default)
        print(f"\n----- mail to {', '.join(envelope.rcpt_tos)}: {message['Subject']} -----\n"
              f"{message.get_content()}-----", flush=True)
        return "250 Message accepted for delivery"


@contextmanager
def _printing_mail_server() -> Iterator[int]:
    from aiosmtpd.controller import Controller

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(_PrintMail(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
