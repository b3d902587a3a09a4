"""schema/access.conf against the real slapd: each bind account sees and changes only its share.

Every "cannot" is checked next to a root DN (or portal) read showing the thing is
there, so a rule that let it through would fail the test.
"""

from __future__ import annotations

from datetime import UTC, datetime

import ldap3
import pytest
from ldap3.core.exceptions import LDAPInsufficientAccessRightsResult, LDAPNoSuchObjectResult

from provisioner.directory import NewPerson
from provisioner.schema.directory_server import access_rules

from ldap_helpers import bound_connection, root_connection

PASSWORD = "correct horse battery staple"
READERS = ("wiki", "redmine")
SECRETS = ("userPassword", "oathSecret", "oathSecretTime", "oathTOTPLastTimeStep")


@pytest.fixture
def people(directory):
    """alice (active, in wg-kitchen, with TOTP), bob (active) and pat (pending)."""
    for uid in ("alice", "bob"):
        directory.people.add(NewPerson(uid=uid, display_name=uid.title(), mail=f"{uid}@example.org"),
                             pending=False)
        directory.people.set_password(uid, PASSWORD)
    directory.people.set_totp("alice", b"0123456789abcdef0123", enrolled_at=datetime.now(UTC),
                              last_step=1)
    directory.groups.add_member("wg-kitchen", "alice")
    directory.people.add(NewPerson(uid="pat", display_name="Pat", mail="pat@example.org"))
    return directory.layout


def service(slapd_server, name: str):
    return bound_connection(slapd_server, slapd_server.service_dn(name),
                            slapd_server.service_passwords[name], raise_exceptions=False)


def person(slapd_server, uid: str):
    return bound_connection(slapd_server, f"uid={uid},ou=people,{slapd_server.base_dn}", PASSWORD,
                            raise_exceptions=False)


def found(conn: ldap3.Connection, base: str, attributes=("uid",), search_filter="(objectClass=*)"):
    """{dn: attributes} of what `conn` may see under `base` (nothing when refused)."""
    conn.search(base, search_filter, attributes=list(attributes))
    return {item["dn"]: item["attributes"] for item in conn.response or []
            if item["type"] == "searchResEntry"}


def values(attributes: dict, name: str) -> list:
    return [value for key, value in attributes.items() if key.lower() == name.lower() and value]


def test_the_rules_are_read_from_access_conf_with_the_base_dn_in_place():
    rules = access_rules("dc=a,dc=b")
    assert rules[-1] == 'to * by dn.exact="cn=replicator,ou=services,dc=a,dc=b" read by * none'
    assert all(rule.startswith("to ") and "{base}" not in rule and "#" not in rule for rule in rules)
    assert len(rules) == 12


@pytest.mark.parametrize("name", READERS)
def test_wiki_and_redmine_read_people_and_groups(slapd_server, people, name):
    with service(slapd_server, name) as conn:
        seen = found(conn, people.people, ["uid", "mail", "cn", "memberOf"])
        groups = found(conn, people.groups, ["cn", "member"])
    alice = seen[f"uid=alice,{people.people}"]
    assert values(alice, "mail") == [["alice@example.org"]]
    assert values(alice, "memberOf") == [[f"cn=wg-kitchen,{people.groups}"]]
    assert f"uid=bob,{people.people}" in seen
    assert f"uid=alice,{people.people}" in groups[f"cn=wg-kitchen,{people.groups}"]["member"]


@pytest.mark.parametrize("name", READERS)
def test_wiki_and_redmine_see_no_pending_request_nor_secret(slapd_server, people, name):
    with root_connection(slapd_server) as root:
        assert f"uid=pat,{people.pending}" in found(root, people.pending)
        assert all(values(found(root, f"uid=alice,{people.people}", SECRETS)[f"uid=alice,{people.people}"],
                          secret) for secret in SECRETS)
    with service(slapd_server, name) as conn:
        assert found(conn, people.pending) == {}
        assert found(conn, people.base_dn, search_filter="(uid=pat)") == {}
        alice = found(conn, f"uid=alice,{people.people}", SECRETS)[f"uid=alice,{people.people}"]
        assert [secret for secret in SECRETS if values(alice, secret)] == []
        assert found(conn, people.services) == {}


@pytest.mark.parametrize("name", READERS)
def test_wiki_and_redmine_change_nothing(slapd_server, people, name):
    alice = f"uid=alice,{people.people}"
    kitchen = f"cn=wg-kitchen,{people.groups}"
    with service(slapd_server, name) as conn:
        assert not conn.modify(alice, {"mail": [(ldap3.MODIFY_REPLACE, ["eve@example.org"])]})
        assert conn.result["result"] == 50          # insufficientAccessRights
        assert not conn.modify(kitchen, {"member": [(ldap3.MODIFY_ADD, [f"uid=bob,{people.people}"])]})
        assert conn.result["result"] == 50
        assert not conn.add(f"uid=eve,{people.people}", ["inetOrgPerson"],
                            {"cn": "Eve", "sn": "Eve", "mail": "eve@example.org"})
        assert conn.result["result"] == 50
        assert not conn.extend.standard.modify_password(alice, new_password="eve's own password")
        assert not conn.delete(alice)
    assert found_as_root(slapd_server, alice, ["mail"])[alice]["mail"] == ["alice@example.org"]


def found_as_root(slapd_server, base, attributes):
    with root_connection(slapd_server) as root:
        return found(root, base, attributes)


def test_the_portal_writes_people_pending_and_groups(slapd_server, people):
    with service(slapd_server, "portal") as conn:
        assert conn.add(f"uid=quinn,{people.pending}", ["inetOrgPerson"],
                        {"cn": "Quinn", "sn": "Quinn", "mail": "quinn@example.org"}), conn.result
        assert conn.modify_dn(f"uid=quinn,{people.pending}", "uid=quinn",
                              new_superior=people.people), conn.result
        assert conn.modify(f"cn=wg-kitchen,{people.groups}",
                           {"member": [(ldap3.MODIFY_ADD, [f"uid=quinn,{people.people}"])]}), conn.result
        assert conn.modify(f"uid=bob,{people.people}",
                           {"pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, ["000001010000Z"])]}), conn.result
        assert conn.extend.standard.modify_password(f"uid=bob,{people.people}",
                                                    new_password=PASSWORD + " anew"), conn.result
    quinn = found_as_root(slapd_server, f"uid=quinn,{people.people}", ["memberOf"])
    assert quinn[f"uid=quinn,{people.people}"]["memberOf"] == [f"cn=wg-kitchen,{people.groups}"]


def test_the_portal_neither_reads_nor_changes_the_service_accounts(slapd_server, people):
    wiki = slapd_server.service_dn("wiki")
    assert wiki in found_as_root(slapd_server, people.services, ["cn"])
    with service(slapd_server, "portal") as conn:
        assert found(conn, people.services) == {}
        assert found(conn, wiki, ["cn", "userPassword"]) == {}
        assert not conn.modify(wiki, {"description": [(ldap3.MODIFY_REPLACE, ["taken"])]})
        assert not conn.extend.standard.modify_password(wiki, new_password="the portal's choice")
        assert not conn.add(f"cn=intruder,{people.services}", ["applicationProcess"], {"cn": "intruder"})
        assert not conn.delete(wiki)
    with service(slapd_server, "wiki") as conn:     # still its own password
        assert conn.bound


def test_a_person_reads_their_own_entry_only(slapd_server, people):
    with person(slapd_server, "alice") as conn:
        own = found(conn, f"uid=alice,{people.people}", ["mail", "userPassword", "oathSecret"])
        assert own[f"uid=alice,{people.people}"]["mail"] == ["alice@example.org"]
        assert not values(own[f"uid=alice,{people.people}"], "userPassword")
        assert not values(own[f"uid=alice,{people.people}"], "oathSecret")
        assert found(conn, f"uid=bob,{people.people}", ["mail"]) == {}
        assert found(conn, f"uid=pat,{people.pending}", ["mail"]) == {}
        assert not conn.modify(f"uid=bob,{people.people}", {"mail": [(ldap3.MODIFY_REPLACE, ["x@y.org"])]})
        assert not conn.modify(f"cn=sysadmins,{people.groups}",
                               {"member": [(ldap3.MODIFY_ADD, [f"uid=alice,{people.people}"])]})
    with person(slapd_server, "bob") as conn:
        assert f"uid=bob,{people.people}" in found(conn, f"uid=bob,{people.people}")
        assert found(conn, f"uid=alice,{people.people}") == {}


def test_an_unknown_bind_sees_nothing(slapd_server, people):
    anonymous = ldap3.Connection(ldap3.Server(slapd_server.url, get_info=ldap3.NONE), auto_bind=True)
    try:
        assert found(anonymous, people.base_dn) == {}
        with pytest.raises((LDAPNoSuchObjectResult, LDAPInsufficientAccessRightsResult)):
            anonymous.raise_exceptions = True
            anonymous.search(people.people, "(uid=alice)")
    finally:
        anonymous.unbind()
