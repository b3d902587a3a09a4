"""inventory/example deployed by site.yml over ssh into a booted host, as docs/deploy.md says.

The inventory is a copy of inventory/example with the host's name kept, how Ansible
reaches it in host_vars, fresh secrets in an encrypted vault, and the settings a test
on a shared machine needs: every port free on loopback, mail to the test's sink.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from provisioner.private_services.process import free_port

from booted_host import BootedHost
from https_client import Site
from site_runs import CHECKOUT, EXAMPLE, PLAYBOOKS, run_site

VAULT_EXAMPLE = CHECKOUT / "inventory" / "vault.example.yml"
HOSTNAME = "occupy.example.org"  # inventory/example's one host


def free_ports(*names: str) -> dict[str, int]:
    """A distinct free loopback port for each name."""
    ports: dict[str, int] = {}
    for name in names:
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[name] = port
    return ports


@dataclass
class SiteDeployment:
    host: BootedHost
    inventory: Path
    settings: dict          # group_vars/all/main.yml as the test filled it in
    secrets: dict[str, str]  # the vault's values
    vault_password_file: Path
    runs: list[dict] = field(default_factory=list)  # per site.yml run: changed, failed, log, seconds

    @property
    def base_dn(self) -> str:
        return self.settings["ldap_base_dn"]

    def port(self, variable: str) -> int:
        return int(self.settings[variable])

    def run_site(self, log: Path) -> dict:
        started = time.monotonic()
        run = run_site(self.inventory, log, "--vault-password-file", str(self.vault_password_file))
        run["seconds"] = time.monotonic() - started
        self.runs.append(run)
        return run

    def site(self, hostname_variable: str) -> Site:
        """A new HTTPS client of one of the deployed sites (portal_hostname, wiki_hostname...),
        trusting the self-signed certificate nginx made for it."""
        hostname = self.settings[hostname_variable]
        certificate = self.host.root / "etc" / "nginx" / "occupy-tls" / f"{hostname}.crt"
        return Site(hostname, self.port("nginx_https_port"), [certificate])

    def provisioner(self, *argv: str, input: str | None = None) -> subprocess.CompletedProcess:
        """The `provisioner` command on the host, as docs/deploy.md runs it."""
        return self.host.ssh("runuser", "-u", "occupy-provisioner", "--", "env",
                             "PROVISIONER_CONFIG=/etc/occupy-provisioner/config.py",
                             "/opt/occupy-provisioner/venv/bin/provisioner", *argv, input=input)


def write_inventory(folder: Path, host: BootedHost, test_settings: dict) -> tuple[dict, dict[str, str], Path]:
    """Copy inventory/example, fill it in, and put fresh secrets in an encrypted vault.

    Returns the filled-in settings, the secrets and the vault's password file.
    """
    shutil.copytree(EXAMPLE, folder)
    hosts = yaml.safe_load((folder / "hosts.yml").read_text())
    assert HOSTNAME in hosts["all"]["children"]["portal"]["hosts"], "inventory/example names another host"
    (folder / "host_vars").mkdir()
    (folder / "host_vars" / f"{HOSTNAME}.yml").write_text(yaml.safe_dump(host.ansible_vars()))
    main = folder / "group_vars" / "all" / "main.yml"
    settings = {**yaml.safe_load(main.read_text()), **test_settings}
    main.write_text(yaml.safe_dump(settings))
    names = [name for name, _ in yaml.safe_load(VAULT_EXAMPLE.read_text()).items()]
    values = {name: secrets.token_urlsafe(32) for name in names}
    password_file = folder.parent / f"{folder.name}.vault-password"
    password_file.touch(mode=0o600)
    password_file.write_text(secrets.token_urlsafe(32))
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump(values))
    encrypted = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-vault")), "encrypt", "--vault-password-file",
         str(password_file), str(vault)], capture_output=True, text=True, check=False, cwd=PLAYBOOKS,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"})
    assert encrypted.returncode == 0, encrypted.stderr
    return settings, values, password_file
