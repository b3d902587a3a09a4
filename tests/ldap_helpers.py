"""Raw LDAP access for tests: reading what the product code wrote, as the root DN."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ldap3

from provisioner.slapd import PrivateSlapd


@contextmanager
def root_connection(server: PrivateSlapd) -> Iterator[ldap3.Connection]:
    conn = ldap3.Connection(
        ldap3.Server(server.url, get_info=ldap3.NONE), server.root_dn, server.root_password,
        auto_bind=True, raise_exceptions=True,
    )
    try:
        yield conn
    finally:
        conn.unbind()


def snapshot(server: PrivateSlapd) -> dict[str, dict]:
    """Every entry with its operational attributes (entryCSN, modifyTimestamp...)."""
    with root_connection(server) as conn:
        conn.search(server.base_dn, "(objectClass=*)", attributes=["*", "+"])
        return {item["dn"]: dict(item["raw_attributes"]) for item in conn.response}


def wipe(server: PrivateSlapd) -> None:
    """Delete every entry, the deepest first."""
    with root_connection(server) as conn:
        try:
            conn.search(server.base_dn, "(objectClass=*)", attributes=["1.1"])
        except ldap3.core.exceptions.LDAPNoSuchObjectResult:
            return
        dns = [item["dn"] for item in conn.response]
        for dn in sorted(dns, key=lambda dn: dn.count(","), reverse=True):
            conn.delete(dn)
