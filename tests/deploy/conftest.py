"""`make test-deploy`: site.yml deployed as docs/deploy.md says, into Debian hosts made with debootstrap.

Over ssh into booted hosts (their own systemd under systemd-nspawn, booted_host.py),
with every service started: the whole stack on one host, driven as its people would
(test_booted_site.py, test_deployed_directory.py), and two directory servers that
replicate each other (test_replication_deploy.py). Needs root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from booted_host import RUNNING, BootedHost
from booted_site import HOSTNAME, SiteDeployment, free_ports, write_inventory


@pytest.fixture(scope="session")
def work_folder():
    if os.geteuid() != 0:
        raise RuntimeError("the deploy tests need root: debootstrap and systemd-nspawn")
    work = Path(tempfile.mkdtemp(prefix="site-", dir="/var/tmp"))
    yield work
    if not any(work.glob(f"*/{RUNNING}")):  # never delete a root under a running container
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def booted_site(work_folder, mail_sink):
    """inventory/example deployed over ssh into a booted Debian host, twice, services started."""
    ports = free_ports("openldap_ldap_port", "openldap_ldaps_port", "nginx_http_port", "nginx_https_port",
                       "portal", "mailman_server_rest_port", "mailman_server_lmtp_port",
                       "redmine_server_port", "redmine_server_postgresql_port", "mail_server_port")
    test_settings = {
        # The container shares this machine's network: every port is one free here.
        **{name: port for name, port in ports.items() if name != "portal"},
        "portal_bind": f"127.0.0.1:{ports['portal']}",
        "openldap_listen_address": "127.0.0.1",
        "mail_server_listen_addresses": "127.0.0.1",
        # Postfix sends everything to the test's sink, as to a provider's relay.
        "mail_server_relay_host": f"[127.0.0.1]:{mail_sink.port}",
    }
    with BootedHost(work_folder / "booted", HOSTNAME) as host:
        inventory = work_folder / "booted-inventory"
        settings, values, password_file = write_inventory(inventory, host, test_settings)
        deployment = SiteDeployment(host, inventory, settings, values, password_file)
        for number in (1, 2):
            deployment.run_site(work_folder / f"booted-run-{number}.log")
        yield deployment
