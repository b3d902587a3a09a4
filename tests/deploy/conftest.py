"""`make test-deploy`: site.yml deployed as docs/deploy.md says, into Debian hosts made with debootstrap.

Over ssh into booted hosts (their own systemd under systemd-nspawn, booted_host.py),
with every service started: the whole stack on one host, upgraded from an earlier
release and driven as its people would (test_booted_site.py, test_upgrade.py,
test_deployed_directory.py); a second host of the same occupation installed from
scratch meanwhile, where a backup of the first is restored (test_backup_restore.py);
two directory servers that replicate each other (test_replication_deploy.py). Needs root.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from booted_host import RUNNING, BootedHost
from booted_site import (
    HOSTNAME,
    BeforeUpgrade,
    SiteDeployment,
    Vault,
    deployment_of,
    loopback_settings,
    new_vault,
)
from portal_browser import PortalBrowser, approved_volunteer, sysadmin_made_on
from site_runs import UPGRADE_FROM, release_checkout

# Made on the release the upgrade starts from (UPGRADE_FROM), checked after the upgrade.
SYSADMIN = "alice"
EARLY_VOLUNTEER, EARLY_GROUPS = "uma", ["media"]
# The working group whose list is open to everyone before the upgrade.
OPENED_LIST = "tech"


@pytest.fixture(scope="session")
def work_folder():
    if os.geteuid() != 0:
        raise RuntimeError("the deploy tests need root: debootstrap and systemd-nspawn")
    work = Path(tempfile.mkdtemp(prefix="site-", dir="/var/tmp"))
    yield work
    if not any(work.glob(f"*/{RUNNING}")):  # never delete a root under a running container
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def vault(work_folder) -> Vault:
    """The occupation's secrets: every host of its inventory shares them."""
    return new_vault(work_folder)


@pytest.fixture(scope="session")
def booted_site(work_folder, vault, mail_sink, fresh_site):
    """inventory/example deployed over ssh into a booted Debian host as an occupation that
    upgrades would: the release UPGRADE_FROM first, where a sysadmin approves a volunteer
    (deployment.before_upgrade) and a list is opened to everyone, then this checkout,
    twice; services started.

    fresh_site is asked for only to start its deployment first, so the two run side by side."""
    with BootedHost(work_folder / "booted", HOSTNAME) as host:
        settings = {**loopback_settings(mail_sink.port),
                    "portal_settings": {"REJECTED_RETENTION_DAYS": "30"}}   # text, as YAML may give
        deployment = deployment_of(work_folder / "booted-inventory", host, settings, vault)
        release = release_checkout(UPGRADE_FROM, work_folder / "release")
        deployment.run_site(work_folder / "booted-run-release.log", playbooks=release / "playbooks")
        admin = sysadmin_made_on(deployment, SYSADMIN)
        deployment.before_upgrade = BeforeUpgrade(
            admin, EARLY_VOLUNTEER, EARLY_GROUPS,
            approved_volunteer(deployment, admin, mail_sink, EARLY_VOLUNTEER, EARLY_GROUPS))
        # A list's owner opened it to everyone, its archive and subscriptions: the upgrade
        # closes it again.
        domain = f"lists.{deployment.settings['occupation_domain']}"
        status, _ = deployment.mailman("PATCH", f"/lists/wg-{OPENED_LIST}.{domain}/config",
                                       {"archive_policy": "public", "subscription_policy": "open"})
        assert status == 204, status
        for number in (1, 2):
            deployment.run_site(work_folder / f"booted-run-{number}.log")
        yield deployment


class Deploying:
    """A deployment whose site.yml runs in the background; ready() waits for it."""

    def __init__(self, deployment: SiteDeployment, run: Future):
        self.deployment = deployment
        self._run = run

    def ready(self) -> SiteDeployment:
        self._run.result()  # raises what the run raised
        return self.deployment


@pytest.fixture(scope="session")
def fresh_site(work_folder, vault, mail_sink) -> Deploying:
    """A second host of the same occupation (same inventory and vault, its own free ports),
    deployed from scratch by this checkout in the background from the moment a test asks
    for it, while booted_site's host deploys: restore.yml's target, and a fresh install."""
    settings = {**loopback_settings(mail_sink.port),
                # Its own wheelhouse: the two hosts' site.yml runs build wheels at the same time.
                "portal_wheelhouse": str(work_folder / "fresh-wheels")}
    with BootedHost(work_folder / "fresh", HOSTNAME) as host, ThreadPoolExecutor(1) as background:
        deployment = deployment_of(work_folder / "fresh-inventory", host, settings, vault)
        yield Deploying(deployment, background.submit(deployment.run_site, work_folder / "fresh-site.log"))


@pytest.fixture(scope="session")
def sysadmin(booted_site):
    """The sysadmin made on the release before the upgrade, logged in on this one with the same
    password and authenticator: both came through the upgrade."""
    before = booted_site.before_upgrade.admin
    browser = PortalBrowser(booted_site.site("portal_hostname"), before.authenticator)
    answer = browser.log_in(SYSADMIN, before.password)
    assert answer.status == 302, answer.text
    assert browser.get("/admin/requests").status == 200
    browser.password = before.password
    return browser
