"""inventory/example deployed by site.yml over ssh into a booted host, as docs/deploy.md says.

The inventory is a copy of inventory/example with the host's name kept, how Ansible
reaches it in host_vars, fresh secrets in an encrypted vault, and the settings a test
on a shared machine needs: every port free on loopback, mail to the test's sink.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import smtplib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import yaml

from booted_host import BootedHost, session_port
from https_client import Answer, Site
from portal_browser import PortalBrowser
from site_runs import CHECKOUT, EXAMPLE, PLAYBOOKS, run_site

VAULT_EXAMPLE = CHECKOUT / "inventory" / "vault.example.yml"
HOSTNAME = "occupy.example.org"  # inventory/example's one host


def free_ports(*names: str) -> dict[str, int]:
    """A distinct free loopback port for each name, never one another host of the session has."""
    return {name: session_port() for name in names}


def loopback_settings(mail_sink_port: int) -> dict:
    """What a host on this shared machine needs in its inventory: a free port for every
    service, listening on loopback only, and outgoing mail relayed to the test's sink."""
    ports = free_ports("openldap_ldap_port", "openldap_ldaps_port", "nginx_http_port", "nginx_https_port",
                       "portal", "mailman_server_rest_port", "mailman_server_lmtp_port", "mailman_web_port",
                       "redmine_server_port", "redmine_server_postgresql_port", "mail_server_port")
    return {
        **{name: port for name, port in ports.items() if name != "portal"},
        "portal_bind": f"127.0.0.1:{ports['portal']}",
        "openldap_listen_address": "127.0.0.1",
        "mail_server_listen_addresses": "127.0.0.1",
        # Postfix sends everything to the test's sink, as to a provider's relay.
        "mail_server_relay_host": f"[127.0.0.1]:{mail_sink_port}",
    }


@dataclass(frozen=True)
class Vault:
    """The occupation's secrets, and the password of the vault that holds them."""
    values: dict[str, str]
    password_file: Path


def new_vault(folder: Path) -> Vault:
    """Fresh values for every secret inventory/vault.example.yml names."""
    names = [name for name, _ in yaml.safe_load(VAULT_EXAMPLE.read_text()).items()]
    password_file = folder / "vault-password"
    password_file.touch(mode=0o600)
    password_file.write_text(secrets.token_urlsafe(32))
    return Vault({name: secrets.token_urlsafe(32) for name in names}, password_file)


@dataclass
class BeforeUpgrade:
    """What the release the upgrade started from held: its sysadmin, and a volunteer she approved."""
    admin: PortalBrowser
    volunteer: str
    groups: list[str]
    grant: dict   # the grant job as the Jobs page showed it, its number under "job"


@dataclass(frozen=True)
class Post:
    """A post to a working group's list, and where HyperKitty shows it on the lists' site."""
    list_page: str      # the list's archive
    message_page: str   # the post in it
    api_page: str       # the post in HyperKitty's REST API
    text: str           # the post's words, found only where the post is shown

    def read_once_archived(self, member: Site, timeout: float = 180) -> Answer:
        """The post's page as a logged-in member sees it, once Mailman has handed it to HyperKitty."""
        deadline = time.monotonic() + timeout
        while (answer := member.get(self.message_page)).status != 200:
            assert time.monotonic() < deadline, f"not archived after {timeout:.0f} s (HTTP {answer.status})"
            time.sleep(2)
        return answer


@dataclass
class SiteDeployment:
    host: BootedHost
    inventory: Path
    settings: dict          # group_vars/all/main.yml as the test filled it in
    secrets: dict[str, str]  # the vault's values
    vault_password_file: Path
    runs: list[dict] = field(default_factory=list)  # per site.yml run: changed, failed, log, seconds
    before_upgrade: BeforeUpgrade | None = None

    @property
    def base_dn(self) -> str:
        return self.settings["ldap_base_dn"]

    def port(self, variable: str) -> int:
        return int(self.settings[variable])

    def run_site(self, log: Path, playbooks: Path = PLAYBOOKS) -> dict:
        started = time.monotonic()
        run = run_site(self.inventory, log, "--vault-password-file", str(self.vault_password_file),
                       playbooks=playbooks)
        run["seconds"] = time.monotonic() - started
        self.runs.append(run)
        return run

    def site(self, hostname_variable: str) -> Site:
        """A new HTTPS client of one of the deployed sites (portal_hostname, wiki_hostname...),
        trusting the self-signed certificate nginx made for it."""
        hostname = self.settings[hostname_variable]
        certificate = self.host.root / "etc" / "nginx" / "occupy-tls" / f"{hostname}.crt"
        return Site(hostname, self.port("nginx_https_port"), [certificate])

    def mailman(self, method: str, path: str, fields: dict | None = None) -> tuple[int, dict]:
        """Mailman's REST API on the host (/3.1<path>), as its administrator (the worker's account):
        the status, and the answer's JSON when it has some."""
        token = base64.b64encode(f"restadmin:{self.secrets['vault_mailman_rest_password']}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
        body = None
        if fields is not None:
            body, headers["Content-Type"] = json.dumps(fields), "application/json"
        port = self.port("mailman_server_rest_port")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(method, f"/3.1{path}", body, headers)
            answer = connection.getresponse()
            text = answer.read()
        finally:
            connection.close()
        return answer.status, json.loads(text) if text and answer.status < 300 else {}

    def post_to_list(self, sender: str, slug: str, subject: str) -> Post:
        """sender@example.org posts to wg-<slug> through the host's Postfix, as a mail client would."""
        address = f"wg-{slug}@lists.{self.settings['occupation_domain']}"
        post = EmailMessage()
        post["From"], post["To"], post["Subject"] = f"{sender}@example.org", address, subject
        post["Message-ID"] = message_id = make_msgid(domain="example.org")
        post.set_content(text := f"{subject} {secrets.token_hex(4)}")
        with smtplib.SMTP("127.0.0.1", self.port("mail_server_port"), timeout=30) as smtp:
            smtp.send_message(post)
        # HyperKitty names a post by its Message-ID's hash (X-Message-ID-Hash).
        digest = hashlib.sha1(message_id.strip("<>").encode(), usedforsecurity=False).digest()
        hashed = base64.b32encode(digest).decode()
        archive = f"/hyperkitty/list/{address}/"
        return Post(archive, f"{archive}message/{hashed}/", f"/hyperkitty/api/list/{address}/email/{hashed}/",
                    text)

    def provisioner(self, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
        """The `provisioner` command on the host, as docs/deploy.md runs it."""
        return self.host.ssh("runuser", "-u", "occupy-provisioner", "--", "env",
                             "PROVISIONER_CONFIG=/etc/occupy-provisioner/config.py",
                             "/opt/occupy-provisioner/venv/bin/provisioner", *argv, input=input)


def deployment_of(folder: Path, host: BootedHost, test_settings: dict, vault: Vault) -> SiteDeployment:
    """Copy inventory/example into folder and fill it in for host: how Ansible reaches it,
    the test's settings, the occupation's secrets in an encrypted vault."""
    shutil.copytree(EXAMPLE, folder)
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    assert HOSTNAME in hosts["all"]["children"]["portal"]["hosts"], "inventory/example names another host"
    (folder / "host_vars").mkdir()
    (folder / "host_vars" / f"{HOSTNAME}.yml").write_text(yaml.safe_dump(host.ansible_vars()))
    main = folder / "group_vars" / "all" / "main.yml"
    settings = {**yaml.safe_load(main.read_text()), **test_settings}
    main.write_text(yaml.safe_dump(settings))
    encrypted = folder / "group_vars" / "all" / "vault.yml"
    encrypted.touch(mode=0o600)
    encrypted.write_text(yaml.safe_dump(vault.values))
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-vault")), "encrypt", "--vault-password-file",
         str(vault.password_file), str(encrypted)],
        capture_output=True, text=True, check=False, cwd=PLAYBOOKS,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert done.returncode == 0, done.stderr
    return SiteDeployment(host, folder, settings, vault.values, vault.password_file)
