"""Two LDAP hosts in ldap_servers: the openldap role makes them replicate each other.

Two booted hosts, each an inventory host with its own loopback ports and a certificate
signed by one test CA (the role refuses replication without one); site.yml runs only
the directory play there, since the other groups are empty.
"""

from __future__ import annotations

from contextlib import ExitStack

import ldap3
import pytest
import yaml

from booted_host import BootedHost
from booted_site import free_ports
from certificates import make_certificates
from ldap_helpers import eventually
from ldap_session import ldap_session
from site_runs import random_secrets, run_site, write_vault

BASE_DN = "dc=replicated,dc=example"
HOSTS = ("ldap-a", "ldap-b")


@pytest.fixture(scope="module")
def servers(work_folder):
    certificates = work_folder / "replication-certificates"
    make_certificates(certificates, *HOSTS)
    inventory = work_folder / "replication-inventory"
    with ExitStack() as running:
        hosts, servers = {}, {}
        for name in HOSTS:
            host = running.enter_context(BootedHost(work_folder / name, name))
            ports = free_ports("openldap_ldap_port", "openldap_ldaps_port")
            servers[name] = host, ports
            hosts[name] = {
                **host.ansible_vars(), **ports,
                "openldap_listen_address": "127.0.0.1",
                "openldap_replication_url": f"ldaps://127.0.0.1:{ports['openldap_ldaps_port']}/",
                "openldap_tls_certificate": str(certificates / f"{name}.crt"),
                "openldap_tls_certificate_key": str(certificates / f"{name}.key"),
            }
        settings = {"occupation_name": "Replicated", "occupation_domain": "replicated.example",
                    "ldap_base_dn": BASE_DN, "openldap_tls_ca_certificate": str(certificates / "ca.crt"),
                    "ansible_python_interpreter": "/usr/bin/python3"}
        (inventory / "group_vars" / "all").mkdir(parents=True)
        (inventory / "group_vars" / "all" / "main.yml").write_text(yaml.safe_dump(settings))
        passwords = random_secrets("vault_ldap_portal_password", "vault_ldap_wiki_password",
                                   "vault_ldap_redmine_password", "vault_ldap_replicator_password",
                                   "vault_wiki_robot_password")
        write_vault(inventory, passwords)
        (inventory / "hosts.yml").write_text(yaml.safe_dump(
            {"all": {"hosts": hosts, "children": {"ldap_servers": {"hosts": dict.fromkeys(HOSTS)}}}}))
        run_site(inventory, work_folder / "replication-run.log")
        yield {name: Server(host, ports["openldap_ldap_port"], passwords["vault_ldap_portal_password"])
               for name, (host, ports) in servers.items()}


class Server:
    def __init__(self, host: BootedHost, ldap_port: int, portal_password: str):
        self.host, self.ldap_port = host, ldap_port
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
        stopped = self.host.run("systemctl", "stop", "slapd.service")
        assert stopped.returncode == 0, stopped.stderr

    def start(self) -> None:
        started = self.host.run("systemctl", "start", "slapd.service")
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
