"""The directory site.yml leaves on the booted host: cn=config, the tree, who reads what."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import ldap3

from provisioner.catalogue import load_catalogue

from ldap_session import ldap_session


@contextmanager
def bind(deployment, account: str, password: str | None = None, *, tls: bool = False
         ) -> Iterator[ldap3.Connection]:
    """A connection bound as one of the service accounts; fails the test when refused."""
    dn = f"cn={account},ou=services,{deployment.base_dn}"
    password = password or deployment.secrets[f"vault_ldap_{account}_password"]
    url = (f"ldaps://127.0.0.1:{deployment.port('openldap_ldaps_port')}" if tls
           else f"ldap://127.0.0.1:{deployment.port('openldap_ldap_port')}")
    with ldap_session(url, dn, password) as conn:
        assert conn is not None, f"{dn} could not bind at {url}"
        yield conn


def dns_under(conn: ldap3.Connection, base: str, search_filter: str = "(objectClass=*)",
              attributes=None) -> dict[str, dict]:
    conn.search(base, search_filter, attributes=attributes or [])
    return {entry["dn"]: entry["attributes"] for entry in conn.response if entry["type"] == "searchResEntry"}


def config_search(deployment, base: str, search_filter: str, *attributes: str) -> str:
    result = deployment.host.run("ldapsearch", "-Q", "-LLL", "-o", "ldif-wrap=no", "-Y", "EXTERNAL",
                               "-H", "ldapi:///", "-b", base, search_filter, *attributes)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_schema_overlays_and_hashing_are_in_cn_config(booted_site):
    overlays = config_search(booted_site, "olcDatabase={1}mdb,cn=config", "(objectClass=olcOverlayConfig)",
                             "olcOverlay")
    assert re.findall(r"^olcOverlay: \{\d+\}(\w+)$", overlays, re.M) == [
        "memberof", "refint", "unique", "ppolicy", "syncprov"]
    schema = config_search(booted_site, "cn=schema,cn=config", "(cn=*occupy)", "olcObjectClasses")
    assert "NAME 'occupyVolunteer'" in schema
    frontend = config_search(booted_site, "olcDatabase={-1}frontend,cn=config", "(objectClass=*)",
                             "olcPasswordHash")
    assert "olcPasswordHash: {ARGON2}" in frontend


def test_the_tree_and_the_working_groups_are_there(booted_site):
    base = booted_site.base_dn
    units = config_search(booted_site, base, "(objectClass=organizationalUnit)", "ou")
    assert sorted(re.findall(r"^ou: (\w+)$", units, re.M)) == [
        "groups", "pending", "people", "policies", "services"]
    with bind(booted_site, "portal") as portal:
        groups = dns_under(portal, f"ou=groups,{base}", "(objectClass=groupOfNames)")
        assert not dns_under(portal, f"ou=services,{base}"), "the portal reads the bind accounts"
    example_groups = ["facilitation", "outreach", "media", "tech", "kitchen", "logistics"]
    # The standard catalogue's teams come with their working group, nested under it.
    teams = [team for team in load_catalogue().defined_teams() if team.parent.slug in example_groups]
    assert teams, "the standard catalogue has a team in the example's groups"
    assert sorted(groups) == sorted([f"cn=sysadmins,ou=groups,{base}"]
                                    + [f"cn=wg-{slug},ou=groups,{base}" for slug in example_groups]
                                    + [f"cn={team.group},cn={team.parent.group},ou=groups,{base}"
                                       for team in teams])


def test_services_read_people_over_tls_but_never_pending_entries_or_passwords(booted_site):
    base = booted_site.base_dn
    pending = f"uid=newcomer,ou=pending,{base}"
    robot = f"uid=wiki-provisioner,ou=people,{base}"
    with bind(booted_site, "portal") as portal:
        assert portal.add(pending, ["inetOrgPerson"], {"uid": "newcomer", "cn": "New", "sn": "Comer",
                                                       "userPassword": "not-a-real-one"}), portal.result
        for service in ("wiki", "redmine"):
            with bind(booted_site, service, tls=True) as conn:
                people = dns_under(conn, base, attributes=["uid", "userPassword"])
                assert robot in people and pending not in people
                assert not people[robot].get("userPassword")
                assert not dns_under(conn, f"ou=services,{base}", "(cn=portal)")
                assert not conn.modify(robot, {"cn": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
                assert conn.result["description"] == "insufficientAccessRights"
        assert portal.delete(pending)


def test_anonymous_sees_nothing_and_a_wrong_password_does_not_bind(booted_site):
    url = f"ldap://127.0.0.1:{booted_site.port('openldap_ldap_port')}"
    with ldap_session(url) as anonymous:
        assert dns_under(anonymous, booted_site.base_dn) == {}
    wiki = f"cn=wiki,ou=services,{booted_site.base_dn}"
    with ldap_session(url, wiki, "wrong-password-for-the-wiki") as refused:
        assert refused is None


def test_overlays_work_for_the_portal(booted_site):
    base = booted_site.base_dn
    person = f"uid=tester,ou=people,{base}"
    group = f"cn=wg-kitchen,ou=groups,{base}"
    with bind(booted_site, "portal") as portal:
        assert portal.add(person, ["inetOrgPerson"], {"uid": "tester", "cn": "T", "sn": "T",
                                                      "mail": "tester@example.org"}), portal.result
        assert portal.modify(group, {"member": [(ldap3.MODIFY_ADD, [person])]}), portal.result
        assert dns_under(portal, person, attributes=["memberOf"])[person]["memberOf"] == [group]
        twin = f"uid=tester,ou=pending,{base}"
        assert not portal.add(twin, ["inetOrgPerson"], {"uid": "tester", "cn": "T", "sn": "T"})
        assert portal.result["description"] == "constraintViolation"  # the unique overlay
        assert portal.delete(person)
        # refint removes the member in a thread of its own, just after the delete.
        deadline = time.monotonic() + 10
        while person in dns_under(portal, group, attributes=["member"])[group].get("member", []):
            assert time.monotonic() < deadline, "refint left the deleted person in the group"
            time.sleep(0.1)
