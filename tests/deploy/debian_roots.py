"""Fresh Debian roots for the deploy tests, and site.yml runs into them."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

CHECKOUT = Path(__file__).resolve().parents[2]
PLAYBOOKS = CHECKOUT / "playbooks"
EXAMPLE = CHECKOUT / "inventory" / "example"
HOST = "deploy-root"
GROUPS = ("ldap_servers", "mailman", "wiki", "redmine", "portal")
RECAP = re.compile(r"^\S+\s*:\s*ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class DebianRoot:
    """A Debian root on this machine that Ansible reaches with the chroot connection."""

    def __init__(self, path: Path):
        self.path = path

    def chroot(self, *argv: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["chroot", str(self.path), *argv], capture_output=True, text=True,
                              check=False, **kwargs)

    def host_vars(self) -> dict:
        return {"ansible_connection": "community.general.chroot", "ansible_host": str(self.path),
                "ansible_python_interpreter": "/usr/bin/python3"}

    def mount_proc(self) -> None:
        """start-stop-daemon (slapd's init script) needs /proc."""
        subprocess.run(["mount", "-t", "proc", "proc", str(self.path / "proc")], check=True)

    def processes(self) -> list[int]:
        """Processes whose root is this one: what must stop before it goes."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if os.readlink(entry / "root") == str(self.path):
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

    def remove(self) -> None:
        self.stop_processes()
        subprocess.run(["umount", "-l", str(self.path / "proc")], check=False, capture_output=True)
        if not os.path.ismount(self.path / "proc"):  # never delete through a mounted /proc
            shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Deployment:
    root: DebianRoot
    inventory: Path
    ldap_port: int
    ldaps_port: int
    base_dn: str
    secrets: dict[str, str]
    runs: list[dict]  # per site.yml run: changed, failed, log


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
    """debootstrap minbase with python3, and a policy-rc.d that lets no package start a service."""
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


def write_inventory(folder: Path, root: DebianRoot, ldap_port: int, ldaps_port: int,
                    passwords: dict[str, str]) -> None:
    """inventory/example's settings, this root as the one host, loopback ports, fresh secrets."""
    shutil.copytree(EXAMPLE / "group_vars", folder / "group_vars")
    host = {
        **root.host_vars(),
        # This machine's port 389 may be taken, and the root shares its network.
        "openldap_listen": f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/ ldapi:///",
        "openldap_tls_hostname": "localhost",
        "portal_ldap_urls": [f"ldap://127.0.0.1:{ldap_port}"],
        **{f"{role}_start_services": False for role in (
            "portal", "mailman_server", "dokuwiki_server", "redmine_server", "nginx")},
    }
    hosts = {"all": {"hosts": {HOST: host},
                     "children": {group: {"hosts": {HOST: None}} for group in GROUPS}}}
    (folder / "hosts.yml").write_text(yaml.safe_dump(hosts))
    write_vault(folder, passwords)


def write_vault(folder: Path, passwords: dict[str, str]) -> None:
    vault = folder / "group_vars" / "all" / "vault.yml"
    vault.parent.mkdir(parents=True, exist_ok=True)
    vault.touch(mode=0o600)
    vault.write_text(yaml.safe_dump(passwords))


def random_secrets(*names: str) -> dict[str, str]:
    return {name: secrets.token_urlsafe(32) for name in names}


def run_site(inventory: Path, log: Path) -> dict:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    with open(log, "w") as output:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(inventory), "site.yml"],
            cwd=PLAYBOOKS, stdout=output, stderr=subprocess.STDOUT, env=env, check=False,
        )
    text = log.read_text()
    recaps = [tuple(map(int, found)) for found in RECAP.findall(text)]
    if result.returncode != 0 or not recaps:
        raise AssertionError(f"site.yml failed (rc {result.returncode}); the end of {log}:\n{text[-6000:]}")
    return {"changed": sum(changed for changed, _, _ in recaps),
            "failed": sum(unreachable + failed for _, unreachable, failed in recaps), "log": text}


