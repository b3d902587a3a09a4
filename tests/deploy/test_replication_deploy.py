"""Two LDAP hosts in ldap_servers: the openldap role makes them replicate each other.

Two fresh roots, each a host of the inventory with its own loopback ports and a
certificate signed by one test CA (the role refuses replication without one);
site.yml runs only the directory play there, since the other groups are empty.
"""

from __future__ import annotations

import ldap3
import pytest
import yaml

from provisioner.private_services.process import free_port

from certificates import make_certificates
from debian_roots import random_secrets, run_site, write_vault
from ldap_helpers import eventually
from ldap_session import ldap_session

BASE_DN = "dc=replicated,dc=example"
HOSTS = ("ldap-a", "ldap-b")


@pytest.fixture(scope="module")
def servers(work_folder, fresh_root):
    certificates = work_folder / "replication-certificates"
    make_certificates(certificates, *HOSTS)
    inventory = work_folder / "replication-inventory"
    hosts, ports = {}, {}
    for host in HOSTS:
        root = fresh_root(host)
        ldap_port, ldaps_port = free_port(), free_port()
        ports[host] = (root, ldap_port, ldaps_port)
        hosts[host] = {
            **root.host_vars(),
            "openldap_listen": f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/ ldapi:///",
            "openldap_replication_url": f"ldaps://127.0.0.1:{ldaps_port}/",
            "openldap_tls_certificate": str(certificates / f"{host}.crt"),
            "openldap_tls_certificate_key": str(certificates / f"{host}.key"),
        }
    settings = {"occupation_name": "Replicated", "occupation_domain": "replicated.example",
                "ldap_base_dn": BASE_DN, "openldap_tls_ca_certificate": str(certificates / "ca.crt")}
    (inventory / "group_vars" / "all").mkdir(parents=True)
    (inventory / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(settings))
    passwords = random_secrets("vault_ldap_portal_password", "vault_ldap_wiki_password",
                               "vault_ldap_redmine_password", "vault_ldap_replicator_password",
                               "vault_wiki_robot_password")
    write_vault(inventory, passwords)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(
        {"all": {"hosts": hosts, "children": {"ldap_servers": {"hosts": dict.fromkeys(HOSTS)}}}}))
    run_site(inventory, work_folder / "replication-run.log")
    return {host: Server(*ports[host], passwords["vault_ldap_portal_password"]) for host in HOSTS}


class Server:
    def __init__(self, root, ldap_port: int, ldaps_port: int, portal_password: str):
        self.root, self.ldap_port, self.ldaps_port = root, ldap_port, ldaps_port
        self.portal_password = portal_password

    def portal(self):
        """The portal's connection, or None while its account has not reached this server."""
        return ldap_session(f"ldap://127.0.0.1:{self.ldap_port}", f"cn=portal,ou=services,{BASE_DN}",
                            self.portal_password)

    def binds(self) -> bool:
        with self.portal() as conn:
            return conn is not None

    def has(self, dn: str) -> bool:
        with self.portal() as conn:
            if conn is None:
                return False
            conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE)
            return any(entry["type"] == "searchResEntry" for entry in conn.response)

    def add_person(self, uid: str) -> str:
        dn = f"uid={uid},ou=people,{BASE_DN}"
        with self.portal() as conn:
            assert conn is not None and conn.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": uid, "sn": uid})
        return dn

    def stop(self) -> None:
        self.root.stop_processes()

    def start(self) -> None:
        urls = f"ldap://127.0.0.1:{self.ldap_port}/ ldaps://127.0.0.1:{self.ldaps_port}/ ldapi:///"
        started = self.root.chroot("/usr/sbin/slapd", "-h", urls, "-u", "openldap", "-g", "openldap",
                                   "-F", "/etc/ldap/slapd.d")
        assert started.returncode == 0, started.stderr


def test_the_accounts_written_on_the_first_server_reach_the_second(servers):
    eventually(servers["ldap-b"].binds, timeout=30)


def test_a_write_on_either_server_appears_on_the_other(servers):
    a, b = servers["ldap-a"], servers["ldap-b"]
    eventually(b.binds, timeout=30)
    on_a = a.add_person("written-on-a")
    eventually(lambda: b.has(on_a), timeout=30)
    on_b = b.add_person("written-on-b")
    eventually(lambda: a.has(on_b), timeout=30)


def test_a_stopped_server_catches_up_when_it_returns(servers):
    a, b = servers["ldap-a"], servers["ldap-b"]
    eventually(b.binds, timeout=30)
    b.stop()
    while_away = a.add_person("written-while-b-was-away")
    b.start()
    eventually(b.binds, timeout=30)
    eventually(lambda: b.has(while_away), timeout=30)
