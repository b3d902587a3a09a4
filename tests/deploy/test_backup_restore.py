"""A backup of the deployed stack, restored onto a fresh host, keeps a volunteer whole.

On the session's deployed host (booted_site) a sysadmin made with the documented
command approves a volunteer through the portal, the deployed worker provisions her,
she writes a wiki page and posts to her working group's list, whose archive she reads,
and the backup service runs as its timer would start it. A
second host deployed from the same inventory and vault (fresh_site, its own free
ports: the first one still runs) gets the backup folder copied onto it, and restore.yml
runs as docs/deploy.md says. Everything is checked through what people use: LDAP
binds, the portal's pages, the wiki's and Redmine's APIs through nginx, Mailman's.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from booted_site import Post, SiteDeployment
from https_client import django_login, wiki_xmlrpc
from ldap_session import ldap_session
from portal_actions import VOLUNTEER_PASSWORD
from portal_browser import PortalBrowser, approved_volunteer, sysadmin_made_on
from site_runs import PLAYBOOKS, RECAP

ADMIN = "bea"
VOLUNTEER = "rosa"
VOLUNTEER_MAIL = "rosa@example.org"
GROUPS = ["kitchen"]
PAGE, PAGE_TEXT = "wg:kitchen:stock", "Twelve onions, three leeks"
DATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z$")
# What a backup of inventory/example's one host holds.
BACKUP_FILES = {"ldap-config.ldif", "ldap-data.ldif", "postgresql-occupy.dump",
                "postgresql-redmine_default.dump", "mailman.db", "mailman-web.db", "dokuwiki.tar.gz",
                "redmine-files.tar.gz"}
TIMES: dict[str, float] = {}


@dataclass
class Backup:
    folder: Path           # the dated folder, seen from this machine (inside the host's root)
    admin: PortalBrowser   # the sysadmin's browser; its authenticator is the sysadmin's app
    admin_password: str
    grant_job: int
    post: Post             # her post to her working group's list, archived


@pytest.fixture(scope="module")
def backed_up(booted_site, mail_sink) -> Backup:
    admin = sysadmin_made_on(booted_site, ADMIN)
    grant = approved_volunteer(booted_site, admin, mail_sink, VOLUNTEER, GROUPS)
    assert grant["state"] == "succeeded", grant
    wiki = booted_site.site("wiki_hostname")
    assert _xmlrpc(wiki, "wiki.putPage", PAGE, PAGE_TEXT, {"sum": "stock"}) == (200, True)
    post = booted_site.post_to_list(VOLUNTEER, GROUPS[0], "Stock count")
    lists = booted_site.site("lists_hostname")
    assert django_login(lists, VOLUNTEER, VOLUNTEER_PASSWORD).status == 302
    post.read_once_archived(lists)

    started = time.monotonic()
    run = booted_site.host.run("systemctl", "start", "occupy-backup.service", timeout=900)
    TIMES["backup"] = time.monotonic() - started
    assert run.returncode == 0, booted_site.host.run("journalctl", "-u", "occupy-backup", "-n", "30").stdout
    backups = booted_site.host.root / booted_site.settings["backup_dir"].lstrip("/")
    dated = sorted(path for path in backups.iterdir() if DATED.match(path.name))
    assert dated, f"no backup folder in {backups}: {os.listdir(backups)}"
    return Backup(dated[-1], admin, admin.password, grant["job"], post)


@pytest.fixture(scope="module")
def restored(fresh_site, backed_up, work_folder):
    """A fresh host deployed from the occupation's inventory and vault, the backup restored onto it."""
    deployment = fresh_site.ready()
    TIMES["site.yml on the fresh host (meanwhile)"] = deployment.runs[0]["seconds"]
    # Copied over as an occupation would (rsync -a): root's, modes kept.
    restore = deployment.host.root / "root" / "restore"
    restore.mkdir(mode=0o700)
    shutil.copytree(backed_up.folder, restore / backed_up.folder.name)
    started = time.monotonic()
    _run_restore(deployment, f"/root/restore/{backed_up.folder.name}", work_folder / "restore.log")
    TIMES["restore.yml"] = time.monotonic() - started
    print("\nbackup and restore times (s):", {step: round(seconds) for step, seconds in TIMES.items()})
    return deployment


def _run_restore(deployment: SiteDeployment, folder: str, log: Path) -> None:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    with open(log, "w") as output:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("ansible-playbook")), "-i", str(deployment.inventory),
             "--vault-password-file", str(deployment.vault_password_file),
             "-e", f"backup_restore_from={folder}", "restore.yml"],
            cwd=PLAYBOOKS, stdout=output, stderr=subprocess.STDOUT, env=env, check=False)
    text = log.read_text()
    assert result.returncode == 0 and RECAP.search(text), \
        f"restore.yml failed; the end of {log}:\n{text[-6000:]}"


def test_the_backup_runs_from_a_daily_timer(booted_site):
    assert booted_site.host.run("systemctl", "is-active", "occupy-backup.timer").stdout.strip() == "active"
    timer = booted_site.host.run("systemctl", "cat", "occupy-backup.timer").stdout
    assert f"OnCalendar={booted_site.settings['backup_schedule']}" in timer


def test_a_backup_is_complete_and_root_only(booted_site, backed_up):
    assert {path.name for path in backed_up.folder.iterdir()} == BACKUP_FILES
    modes = {path.name: (path.stat().st_uid, oct(path.stat().st_mode & 0o777))
             for path in [backed_up.folder, *backed_up.folder.iterdir()]}
    assert modes == {backed_up.folder.name: (0, "0o700"), **dict.fromkeys(BACKUP_FILES, (0, "0o600"))}
    entries = (backed_up.folder / "ldap-data.ldif").read_text()
    assert f"dn: uid={VOLUNTEER},ou=people,{booted_site.base_dn}" in entries


def test_the_restored_directory_keeps_the_volunteer_and_her_password(restored):
    url = f"ldap://127.0.0.1:{restored.port('openldap_ldap_port')}"
    dn = f"uid={VOLUNTEER},ou=people,{restored.base_dn}"
    with ldap_session(url, dn, VOLUNTEER_PASSWORD) as conn:
        assert conn is not None, "the volunteer cannot bind to the restored directory"
    with ldap_session(url, dn, "not her password") as conn:
        assert conn is None
    found = restored.host.run("ldapsearch", "-LLL", "-Q", "-Y", "EXTERNAL", "-H", "ldapi:///", "-b", dn,
                              "-s", "base", "mail", "memberOf")
    assert found.returncode == 0, found.stderr
    assert f"mail: {VOLUNTEER_MAIL}" in found.stdout
    assert f"memberOf: cn=wg-kitchen,ou=groups,{restored.base_dn}" in found.stdout


def test_the_sysadmin_logs_in_with_the_same_authenticator_and_finds_the_store(restored, backed_up):
    """Password and TOTP key come back with the directory; the audit log and jobs with the store."""
    admin = PortalBrowser(restored.site("portal_hostname"), backed_up.admin.authenticator)
    assert admin.log_in(ADMIN, backed_up.admin_password).status == 302
    job = admin.site.get(f"/admin/jobs/{backed_up.grant_job}.json")
    assert job.status == 200
    progress = json.loads(job.body)
    assert progress["state"] == "succeeded"
    assert {result["uid"] for result in progress["results"]} == {VOLUNTEER}
    audit = admin.site.get(f"/admin/audit?person={VOLUNTEER}")
    assert audit.status == 200
    approved = rf"<td>{ADMIN}</td>\s*<td>approved</td><td>{VOLUNTEER}</td>"
    assert re.search(approved, audit.text), audit.text[-2000:]


def test_the_restored_redmine_keeps_her_membership_and_the_worker_its_key(restored):
    redmine = restored.site("redmine_hostname")
    credentials = base64.b64encode(f"{VOLUNTEER}:{VOLUNTEER_PASSWORD}".encode()).decode()
    auth = {"Authorization": f"Basic {credentials}"}
    answer = redmine.get("/users/current.json?include=memberships", headers=auth)
    assert answer.status == 200, answer.status
    memberships = json.loads(answer.body)["user"]["memberships"]
    projects = {membership["project"]["name"] for membership in memberships}
    assert len(projects) == len(GROUPS), projects
    assert redmine.get("/projects/wg-kitchen.json", headers=auth).status == 200
    # site.yml ran again after the restore: the worker holds the restored Redmine's admin key.
    worker = yaml.safe_load((restored.host.root / "etc/occupy-provisioner/inventory/hosts.yml").read_text())
    key = worker["all"]["hosts"]["localhost"]["redmine_api_key"]
    listed = redmine.get(f"/users.json?name={VOLUNTEER}", headers={"X-Redmine-API-Key": key})
    assert listed.status == 200, listed.status
    assert [user["login"] for user in json.loads(listed.body)["users"]] == [VOLUNTEER]


def test_the_restored_wiki_keeps_her_page_and_her_groups_namespace(restored):
    wiki = restored.site("wiki_hostname")
    assert _xmlrpc(wiki, "wiki.getPage", PAGE)[1].strip() == PAGE_TEXT
    assert _xmlrpc(wiki, "wiki.putPage", PAGE, PAGE_TEXT + ", two cabbages", {"sum": "stock"}) == (200, True)
    assert _xmlrpc(wiki, "wiki.putPage", "wg:media:stock", "Not mine", {"sum": "x"})[0] == 403


def test_the_restored_lists_keep_her_subscription(restored):
    domain = f"lists.{restored.settings['occupation_domain']}"
    password = restored.secrets["vault_mailman_rest_password"]
    token = base64.b64encode(f"restadmin:{password}".encode()).decode()
    port = restored.port("mailman_server_rest_port")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", f"/3.1/lists/wg-kitchen.{domain}/roster/member",
                           headers={"Authorization": f"Basic {token}"})
        answer = connection.getresponse()
        roster = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 200
    assert VOLUNTEER_MAIL in {entry["email"] for entry in roster.get("entries", [])}


def test_the_restored_archive_keeps_her_post_for_her_only(restored, backed_up):
    member = restored.site("lists_hostname")
    assert django_login(member, VOLUNTEER, VOLUNTEER_PASSWORD).status == 302
    message = member.get(backed_up.post.message_page)
    assert message.status == 200 and backed_up.post.text in message.text
    assert restored.site("lists_hostname").get(backed_up.post.message_page).status == 403


def test_every_unit_runs_on_the_restored_host(restored):
    failed = restored.host.run("systemctl", "list-units", "--failed", "--no-legend", "--plain").stdout
    assert failed.strip() == "", failed


def _xmlrpc(site, method: str, *params):
    return wiki_xmlrpc(site, VOLUNTEER, VOLUNTEER_PASSWORD, method, *params)
