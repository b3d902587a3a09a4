"""Raw LDAP access for tests: reading what the product code wrote, as the root DN or another."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import ldap3
from ldap3.core.exceptions import LDAPNoSuchObjectResult

from provisioner.private_services.slapd import PrivateSlapd


@contextmanager
def bound_connection(server: PrivateSlapd, dn: str, password: str, *,
                     raise_exceptions: bool = True) -> Iterator[ldap3.Connection]:
    conn = ldap3.Connection(ldap3.Server(server.url, get_info=ldap3.NONE), dn, password,
                            auto_bind=True, raise_exceptions=raise_exceptions)
    try:
        yield conn
    finally:
        conn.unbind()


def root_connection(server: PrivateSlapd):
    return bound_connection(server, server.root_dn, server.root_password)


def snapshot(server: PrivateSlapd) -> dict[str, dict]:
    """Every entry with its operational attributes (entryCSN, modifyTimestamp...).

    The login decoy is left out: slapd records every failed login that cannot succeed
    on it, by design (tests/security/test_login_timing.py watches it). So is the base
    entry's contextCSN, syncprov's mark of the latest write anywhere in the tree (the
    decoy's included), as on a deployed server."""
    decoy = server.layout.login_decoy.lower()
    with root_connection(server) as conn:
        conn.search(server.base_dn, "(objectClass=*)", attributes=["*", "+"])
        return {item["dn"]: {name: values for name, values in item["raw_attributes"].items()
                             if name.lower() != "contextcsn"}
                for item in conn.response if item["dn"].lower() != decoy}


def wipe(server: PrivateSlapd) -> None:
    """Delete every entry the portal made, the deepest first.

    The base entry and ou=services stay: the deploy role makes them before the
    portal runs, and the portal binds as one of their accounts.
    """
    kept = {server.base_dn.lower(), server.layout.services.lower()}
    with root_connection(server) as conn:
        try:
            conn.search(server.base_dn, "(objectClass=*)", attributes=["1.1"])
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            return
        dns = [item["dn"] for item in conn.response
               if item["dn"].lower() not in kept and not item["dn"].lower().endswith(
                   "," + server.layout.services.lower())]
        for dn in sorted(dns, key=lambda dn: dn.count(","), reverse=True):
            conn.delete(dn)


def holds(server: PrivateSlapd, dn: str) -> bool:
    """Whether `server` has the entry `dn` (read as the root DN)."""
    with root_connection(server) as conn:
        try:
            return conn.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["1.1"])
        except LDAPNoSuchObjectResult:
            return False


def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait until `condition()` holds (replication is asynchronous); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not so after {timeout} s"
        time.sleep(0.05)
