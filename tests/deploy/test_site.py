"""What site.yml leaves in a fresh Debian root: checked by starting it there."""

from __future__ import annotations

import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import ldap3
import pytest
import yaml

from provisioner.private_services.process import free_port

from ldap_session import ldap_session


def _wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port}")


def test_a_second_run_changes_nothing(deployment):
    first, second = deployment.runs
    assert first["failed"] == 0 and first["changed"] > 0
    changed = re.findall(r"^TASK \[(.+?)\].*?\n(?:.*\n)*?^changed:", second["log"], re.M)
    assert second["changed"] == 0, f"changed on the second run: {changed}"


@pytest.fixture(scope="module")
def slapd(deployment):
    """slapd started from the root's own configuration, as the host's init would."""
    deployment.root.stop_processes()  # the one the openldap role started
    urls = f"ldap://127.0.0.1:{deployment.ldap_port}/ ldaps://127.0.0.1:{deployment.ldaps_port}/ ldapi:///"
    started = deployment.root.chroot("/usr/sbin/slapd", "-h", urls, "-u", "openldap", "-g", "openldap",
                                "-F", "/etc/ldap/slapd.d")
    assert started.returncode == 0, started.stderr
    _wait_for_port(deployment.ldap_port, "slapd")
    yield deployment
    deployment.root.stop_processes()


@contextmanager
def bind(deployment, account: str, password: str | None = None, *, tls: bool = False
         ) -> Iterator[ldap3.Connection]:
    """A connection bound as one of the service accounts; fails the test when refused."""
    dn = f"cn={account},ou=services,{deployment.base_dn}"
    password = password or deployment.secrets[f"vault_ldap_{account}_password"]
    url = (f"ldaps://127.0.0.1:{deployment.ldaps_port}" if tls
           else f"ldap://127.0.0.1:{deployment.ldap_port}")
    with ldap_session(url, dn, password) as conn:
        assert conn is not None, f"{dn} could not bind at {url}"
        yield conn


def dns_under(conn: ldap3.Connection, base: str, search_filter: str = "(objectClass=*)",
              attributes=None) -> dict[str, dict]:
    conn.search(base, search_filter, attributes=attributes or [])
    return {entry["dn"]: entry["attributes"] for entry in conn.response if entry["type"] == "searchResEntry"}


def config_search(deployment, base: str, search_filter: str, *attributes: str) -> str:
    result = deployment.root.chroot("ldapsearch", "-Q", "-LLL", "-o", "ldif-wrap=no", "-Y", "EXTERNAL",
                               "-H", "ldapi:///", "-b", base, search_filter, *attributes)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_schema_overlays_and_hashing_are_in_cn_config(slapd):
    overlays = config_search(slapd, "olcDatabase={1}mdb,cn=config", "(objectClass=olcOverlayConfig)",
                             "olcOverlay")
    assert re.findall(r"^olcOverlay: \{\d+\}(\w+)$", overlays, re.M) == [
        "memberof", "refint", "unique", "ppolicy", "syncprov"]
    schema = config_search(slapd, "cn=schema,cn=config", "(cn=*occupy)", "olcObjectClasses")
    assert "NAME 'occupyVolunteer'" in schema
    frontend = config_search(slapd, "olcDatabase={-1}frontend,cn=config", "(objectClass=*)",
                             "olcPasswordHash")
    assert "olcPasswordHash: {ARGON2}" in frontend


def test_the_tree_and_the_working_groups_are_there(slapd):
    base = slapd.base_dn
    units = config_search(slapd, base, "(objectClass=organizationalUnit)", "ou")
    assert sorted(re.findall(r"^ou: (\w+)$", units, re.M)) == [
        "groups", "pending", "people", "policies", "services"]
    with bind(slapd, "portal") as portal:
        groups = dns_under(portal, f"ou=groups,{base}", "(objectClass=groupOfNames)")
        assert not dns_under(portal, f"ou=services,{base}"), "the portal reads the bind accounts"
    example_groups = ["facilitation", "outreach", "media", "tech", "kitchen", "logistics"]
    assert sorted(groups) == sorted([f"cn=sysadmins,ou=groups,{base}"]
                                    + [f"cn=wg-{slug},ou=groups,{base}" for slug in example_groups])


def test_services_read_people_over_tls_but_never_pending_entries_or_passwords(slapd):
    base = slapd.base_dn
    pending = f"uid=newcomer,ou=pending,{base}"
    robot = f"uid=wiki-provisioner,ou=people,{base}"
    with bind(slapd, "portal") as portal:
        assert portal.add(pending, ["inetOrgPerson"], {"uid": "newcomer", "cn": "New", "sn": "Comer",
                                                       "userPassword": "not-a-real-one"}), portal.result
        for service in ("wiki", "redmine"):
            with bind(slapd, service, tls=True) as conn:
                people = dns_under(conn, base, attributes=["uid", "userPassword"])
                assert robot in people and pending not in people
                assert not people[robot].get("userPassword")
                assert not dns_under(conn, f"ou=services,{base}", "(cn=portal)")
                assert not conn.modify(robot, {"cn": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
                assert conn.result["description"] == "insufficientAccessRights"
        assert portal.delete(pending)


def test_anonymous_sees_nothing_and_a_wrong_password_does_not_bind(slapd):
    url = f"ldap://127.0.0.1:{slapd.ldap_port}"
    with ldap_session(url) as anonymous:
        assert dns_under(anonymous, slapd.base_dn) == {}
    with ldap_session(url, f"cn=wiki,ou=services,{slapd.base_dn}", "wrong-password-for-the-wiki") as refused:
        assert refused is None


def test_overlays_work_for_the_portal(slapd):
    base = slapd.base_dn
    person = f"uid=tester,ou=people,{base}"
    group = f"cn=wg-kitchen,ou=groups,{base}"
    with bind(slapd, "portal") as portal:
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


def test_the_portal_serves_from_its_virtual_environment(slapd):
    port = free_port()
    gunicorn = subprocess.Popen(
        ["chroot", str(slapd.root.path), "runuser", "-u", "occupy-provisioner", "--",
         "env", "PROVISIONER_CONFIG=/etc/occupy-provisioner/config.py",
         "/opt/occupy-provisioner/venv/bin/gunicorn", "--chdir", "/var/lib/occupy-provisioner",
         "--bind", f"127.0.0.1:{port}", "provisioner:create_app()"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_port(port, "gunicorn")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as answer:
            assert answer.status == 200
    finally:
        gunicorn.terminate()
        _, errors = gunicorn.communicate(timeout=10)
    assert "Traceback" not in errors, errors


def test_the_worker_is_given_every_deployed_service_and_only_its_group_reads_the_secrets(deployment):
    settings = deployment.root.path / "etc" / "occupy-provisioner"
    inventory = yaml.safe_load((settings / "inventory" / "hosts.yml").read_text())
    worker = inventory["all"]["hosts"]["localhost"]
    assert worker["mailing_lists_url"] == "http://127.0.0.1:8001"  # Mailman's REST API is on loopback
    assert worker["mailing_lists_password"] == deployment.secrets["vault_mailman_rest_password"]
    assert worker["wiki_url"] == "https://wiki.example.org"
    assert worker["redmine_url"] == "https://redmine.example.org"
    assert len(worker["redmine_api_key"]) == 40 and worker["redmine_auth_source_id"] > 0
    group = deployment.root.chroot("stat", "-c", "%U:%G %a", "/etc/occupy-provisioner/config.py",
                                   "/etc/occupy-provisioner/inventory/hosts.yml").stdout.split("\n")
    assert group[:2] == ["root:occupy-provisioner 640"] * 2
