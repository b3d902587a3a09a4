"""`make test-deploy`: site.yml deployed into fresh Debian roots made with debootstrap.

One debootstrap (minbase) per session, copied for each host; a policy-rc.d keeps
packages from starting services, and each role's *_start_services is off, so
nothing runs inside but slapd, which the openldap role needs and the inventories
keep on loopback ports. The tests start what they check themselves. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from provisioner.private_services.process import free_port

from debian_roots import EXAMPLE, DebianRoot, Deployment, make_root, random_secrets, run_site, write_inventory


@pytest.fixture(scope="session")
def work_folder():
    if os.geteuid() != 0:
        raise RuntimeError("the deploy tests need root: debootstrap, chroot and mount")
    work = Path(tempfile.mkdtemp(prefix="site-", dir="/var/tmp"))
    yield work
    if str(work) not in Path("/proc/mounts").read_text():  # never delete through a mounted /proc
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def fresh_root(work_folder):
    """Makes fresh Debian roots: one debootstrap, then a copy for each."""
    template = work_folder / "debootstrap"
    make_root(template)
    made: list[DebianRoot] = []

    def copy(name: str) -> DebianRoot:
        root = DebianRoot(work_folder / name)
        subprocess.run(["cp", "-a", str(template), str(root.path)], check=True)
        root.mount_proc()
        made.append(root)
        return root

    yield copy
    for root in made:
        root.remove()


@pytest.fixture(scope="session")
def deployment(work_folder, fresh_root):
    """inventory/example deployed into one fresh root, twice."""
    root = fresh_root("one-host")
    passwords = random_secrets(
        "vault_ldap_portal_password", "vault_ldap_wiki_password", "vault_ldap_redmine_password",
        "vault_wiki_robot_password", "vault_mailman_rest_password", "vault_portal_secret_key")
    deployment = Deployment(root=root, inventory=work_folder / "one-host-inventory", ldap_port=free_port(),
                            ldaps_port=free_port(), base_dn=yaml.safe_load(
                                (EXAMPLE / "group_vars" / "all" / "main.yml").read_text())["ldap_base_dn"],
                            secrets=passwords, runs=[])
    write_inventory(deployment.inventory, root, deployment.ldap_port, deployment.ldaps_port, passwords)
    for number in (1, 2):
        deployment.runs.append(run_site(deployment.inventory, work_folder / f"one-host-run-{number}.log"))
    return deployment
