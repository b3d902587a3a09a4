"""An upgrade in place: the release UPGRADE_FROM deployed, a volunteer approved on it, then
this checkout's site.yml over it (conftest.booted_site). The store is migrated to this
checkout's schema and the volunteer, her job and her sysadmin come through whole.
"""

from __future__ import annotations

import base64
import json

from alembic.script import ScriptDirectory

from ldap_session import ldap_session
from portal_actions import VOLUNTEER_PASSWORD
from site_runs import CHECKOUT

MIGRATIONS = CHECKOUT / "provisioner" / "store" / "migrations"


def test_the_upgrade_run_succeeds(booted_site):
    release, upgrade, _again = booted_site.runs
    assert release["failed"] == 0 and upgrade["failed"] == 0


def test_the_store_is_at_this_checkouts_schema(booted_site):
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    database = booted_site.settings.get("portal_postgresql_database", "occupy")
    port = str(booted_site.port("redmine_server_postgresql_port"))
    answer = booted_site.host.run("runuser", "-u", "postgres", "--", "psql", "-p", port, "-d", database,
                                  "-tAc", "SELECT version_num FROM alembic_version")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split() == [head]


def test_the_volunteer_approved_before_the_upgrade_binds_and_keeps_her_groups(booted_site):
    early = booted_site.before_upgrade
    base = booted_site.base_dn
    url = f"ldap://127.0.0.1:{booted_site.port('openldap_ldap_port')}"
    with ldap_session(url, f"uid={early.volunteer},ou=people,{base}", VOLUNTEER_PASSWORD) as conn:
        assert conn is not None, f"{early.volunteer} no longer binds after the upgrade"
        conn.search(f"uid={early.volunteer},ou=people,{base}", "(objectClass=*)", attributes=["memberOf"])
        groups = {dn.split(",")[0].removeprefix("cn=wg-") for dn in conn.entries[0].memberOf.values}
    assert set(early.groups) <= groups


def test_her_grant_job_is_listed_as_before(booted_site, sysadmin):
    early = booted_site.before_upgrade
    assert early.grant["state"] == "succeeded", early.grant
    assert sysadmin.job_for("grant", early.volunteer) == early.grant["job"]
    assert sysadmin.finished_job(early.grant["job"])["state"] == "succeeded"


def test_she_still_logs_in_to_redmine_as_a_member_of_her_projects(booted_site):
    early = booted_site.before_upgrade
    credentials = base64.b64encode(f"{early.volunteer}:{VOLUNTEER_PASSWORD}".encode()).decode()
    redmine = booted_site.site("redmine_hostname")
    answer = redmine.get("/users/current.json", headers={"Authorization": f"Basic {credentials}"})
    assert answer.status == 200, answer.status
    assert json.loads(answer.body)["user"]["login"] == early.volunteer
    for slug in early.groups:
        project = redmine.get(f"/projects/wg-{slug}.json", headers={"Authorization": f"Basic {credentials}"})
        assert project.status == 200, (slug, project.status)
