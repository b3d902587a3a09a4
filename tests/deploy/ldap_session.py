"""A connection to a deployed slapd that never leaks its socket, bound or refused."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import ldap3
from ldap3.core.exceptions import LDAPException


@contextmanager
def ldap_session(url: str, dn: str | None = None, password: str | None = None
                 ) -> Iterator[ldap3.Connection | None]:
    """A bound connection, or None when the server refuses the bind or does not answer.

    ldaps certificates are not checked: the deployed ones are self-signed or from a test CA.
    """
    server = ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=2,
                          tls=ldap3.Tls(validate=ssl.CERT_NONE))
    conn = ldap3.Connection(server, dn, password, raise_exceptions=False, receive_timeout=5)
    try:
        try:
            bound = conn.bind()
        except LDAPException:
            bound = False
        yield conn if bound else None
    finally:
        if not conn.closed:
            conn.unbind()
        if conn.socket is not None:
            conn.socket.close()
