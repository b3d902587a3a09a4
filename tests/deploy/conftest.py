"""`make test-deploy`: site.yml deployed into a fresh Debian root, twice.

The root is made with debootstrap (minbase) from the Debian mirror this machine
already uses; a policy-rc.d stops packages from starting services inside it, and
each role's *_start_services is off, so nothing runs there but slapd, which the
openldap role needs and the inventory keeps on loopback ports. The tests then
start what they check themselves. Needs root (debootstrap, chroot, mount).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from provisioner.private_services.process import free_port

CHECKOUT = Path(__file__).resolve().parents[2]
PLAYBOOKS = CHECKOUT / "playbooks"
EXAMPLE = CHECKOUT / "inventory" / "example"
HOST = "deploy-root"
GROUPS = ("ldap_servers", "mailman", "wiki", "redmine", "portal")
RECAP = re.compile(rf"^{HOST}\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


@dataclass
class Deployment:
    root: Path
    inventory: Path
    ldap_port: int
    ldaps_port: int
    base_dn: str
    secrets: dict[str, str]
    runs: list[dict]  # per site.yml run: ok, changed, unreachable, failed, log

    def chroot(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["chroot", str(self.root), *argv], capture_output=True, text=True,
                              check=False, **kwargs)

    def processes(self) -> list[int]:
        """Processes whose root is this deployment's root: what must stop before it goes."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "root") == str(self.root):
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop_processes(self) -> None:
        for pid in self.processes():
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self.processes():
            os.kill(pid, signal.SIGKILL)


def debian_mirror() -> str:
    """The Debian archive this machine's apt already uses (the only one reachable)."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        match = re.search(r"^URIs:\s*(\S+)", path.read_text(), re.M)
        if match and "security" not in match.group(1):
            return match.group(1)
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*.list")]:
        if path.is_file():
            match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", path.read_text(), re.M)
            if match:
                return match.group(1)
    raise RuntimeError("no Debian mirror in /etc/apt: cannot debootstrap")


def make_root(root: Path) -> None:
    debootstrap = shutil.which("debootstrap", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if debootstrap is None:
        raise RuntimeError("debootstrap is not installed: make test-deploy installs it")
    result = subprocess.run(
        [debootstrap, "--variant=minbase", "--include=python3", "bookworm", str(root), debian_mirror()],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"debootstrap failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
    policy = root / "usr" / "sbin" / "policy-rc.d"
    policy.write_text("#!/bin/sh\n# Nothing starts services in this root: the tests do.\nexit 101\n")
    policy.chmod(0o755)
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    # start-stop-daemon (slapd's init script) needs /proc.
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)


def write_inventory(folder: Path, root: Path, ldap_port: int, ldaps_port: int,
                    passwords: dict[str, str]) -> None:
    """inventory/example's settings, this root as the one host, loopback ports, fresh secrets."""
    shutil.copytree(EXAMPLE / "group_vars", folder / "group_vars")
    host = {
        "ansible_connection": "community.general.chroot",
        "ansible_host": str(root),
        "ansible_python_interpreter": "/usr/bin/python3",
        # This machine's port 389 may be taken, and the root shares its network.
        "openldap_listen": f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/ ldapi:///",
        "openldap_tls_hostname": "localhost",
        "portal_ldap_urls": [f"ldap://127.0.0.1:{ldap_port}"],
        **{f"{role}_start_services": False for role in ("portal", "mailman", "dokuwiki", "redmine", "nginx")},
    }
    hosts = {"all": {"hosts": {HOST: host},
                     "children": {group: {"hosts": {HOST: None}} for group in GROUPS}}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts))
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump(passwords))


def run_site(inventory: Path, log: Path) -> dict:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    with open(log, "w") as output:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), "site.yml"],
            cwd=PLAYBOOKS, stdout=output, stderr=subprocess.STDOUT, env=env, check=False,
        )
    text = log.read_text()
    recap = RECAP.search(text)
    if result.returncode != 0 or recap is None:
        raise AssertionError(f"site.yml failed (rc {result.returncode}); the end of {log}:\n{text[-6000:]}")
    ok, changed, unreachable, failed = map(int, recap.groups())
    return {"ok": ok, "changed": changed, "unreachable": unreachable, "failed": failed, "log": text}


@pytest.fixture(scope="session")
def deployment():
    if os.geteuid() != 0:
        raise RuntimeError("the deploy test needs root: debootstrap, chroot and mount")
    work = Path(tempfile.mkdtemp(prefix="site-", dir="/var/tmp"))
    root = work / "root"
    passwords = {name: secrets.token_urlsafe(24) for name in (
        "vault_portal_secret_key", "vault_ldap_portal_password", "vault_ldap_wiki_password",
        "vault_ldap_redmine_password", "vault_wiki_robot_password", "vault_mailman_rest_password")}
    passwords["vault_portal_secret_key"] = secrets.token_urlsafe(48)
    deployment = Deployment(root=root, inventory=work / "inventory", ldap_port=free_port(),
                            ldaps_port=free_port(), base_dn=yaml.safe_load(
                                (EXAMPLE / "group_vars" / "all" / "main.yml").read_text())["ldap_base_dn"],
                            secrets=passwords, runs=[])
    try:
        make_root(root)
        write_inventory(deployment.inventory, root, deployment.ldap_port, deployment.ldaps_port, passwords)
        for number in (1, 2):
            deployment.runs.append(run_site(deployment.inventory, work / f"site-run-{number}.log"))
        yield deployment
    finally:
        deployment.stop_processes()
        subprocess.run(["umount", "-l", str(root / "proc")], check=False, capture_output=True)
        if not os.path.ismount(root / "proc"):  # never delete through a mounted /proc
            shutil.rmtree(work, ignore_errors=True)
