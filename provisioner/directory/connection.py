"""One connection to the LDAP server, with ldap3's errors turned into ours.

A fresh `ldap3.Server` is made for each connection: a Server object remembers an
address that refused it for minutes, so a long-lived one would keep failing after
slapd comes back.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import ldap3
from ldap3.core import exceptions as ldap_errors

from .errors import AlreadyExists, DirectoryError, DirectoryUnavailable, InvalidValue, NotFound

_INVALID_RESULTS = (
    ldap_errors.LDAPInvalidAttributeSyntaxResult,
    ldap_errors.LDAPInvalidDNSyntaxResult,
    ldap_errors.LDAPNamingViolationResult,
    ldap_errors.LDAPObjectClassViolationResult,
    ldap_errors.LDAPUndefinedAttributeTypeResult,
    ldap_errors.LDAPInvalidDnError,
    ldap_errors.LDAPInvalidValueError,
    ldap_errors.LDAPAttributeError,
)
_UNREACHABLE = (
    ldap_errors.LDAPCommunicationError,
    ldap_errors.LDAPSocketOpenError,
    ldap_errors.LDAPResponseTimeoutError,
    ldap_errors.LDAPUnavailableResult,
    ldap_errors.LDAPBusyResult,
)


@dataclass(frozen=True)
class DirectorySettings:
    url: str
    base_dn: str
    bind_dn: str
    bind_password: str = field(repr=False)
    timeout: float = 5.0


@dataclass(frozen=True)
class Record:
    """One entry as read: its DN and attributes, every value a list."""

    dn: str
    attributes: dict[str, list]

    def first(self, name: str, default=None):
        values = self.attributes.get(name) or []
        return values[0] if values else default

    def all(self, name: str) -> tuple:
        return tuple(self.attributes.get(name) or ())


class DirectoryConnection:
    """Opens on first use, reopens after the server went away, closes on `close()`."""

    def __init__(self, settings: DirectorySettings):
        self.settings = settings
        self._conn: ldap3.Connection | None = None

    def _server(self) -> ldap3.Server:
        return ldap3.Server(self.settings.url, get_info=ldap3.NONE,
                            connect_timeout=self.settings.timeout)

    @property
    def _receive_timeout(self) -> int:
        return max(1, math.ceil(self.settings.timeout))  # ldap3 packs it as an integer

    def _connection(self) -> ldap3.Connection:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        conn = ldap3.Connection(
            self._server(), user=self.settings.bind_dn, password=self.settings.bind_password,
            raise_exceptions=True, receive_timeout=self._receive_timeout,
        )
        with self._translated("connect"):
            try:
                conn.open()
                conn.bind()
            except ldap_errors.LDAPException:
                _discard(conn)
                raise
        self._conn = conn
        return conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _discard(conn)

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except DirectoryError:
            raise
        except _UNREACHABLE as error:
            self.close()
            raise DirectoryUnavailable(
                f"the directory at {self.settings.url} does not answer ({action}: {error}); "
                "is slapd running and PROVISIONER_LDAP_URL right?"
            ) from None
        except ldap_errors.LDAPInvalidCredentialsResult:
            raise DirectoryUnavailable(
                f"the directory at {self.settings.url} refused the portal's bind as "
                f"{self.settings.bind_dn}: check PROVISIONER_LDAP_BIND_DN and its password"
            ) from None
        except ldap_errors.LDAPEntryAlreadyExistsResult:
            raise AlreadyExists(f"{action}: the entry already exists") from None
        except ldap_errors.LDAPNoSuchObjectResult:
            raise NotFound(f"{action}: no such entry") from None
        except ldap_errors.LDAPConstraintViolationResult as error:
            if "unique" in str(error.message):  # the unique overlay
                raise AlreadyExists(f"{action}: another entry has the same uid or mail") from None
            raise InvalidValue(f"{action}: the directory refused it ({error.message})") from None
        except _INVALID_RESULTS as error:
            detail = getattr(error, "message", None) or str(error)
            raise InvalidValue(f"{action}: the directory refused a value ({detail})") from None
        except ldap_errors.LDAPInsufficientAccessRightsResult:
            raise DirectoryError(
                f"{action}: the portal's bind account {self.settings.bind_dn} may not do this"
            ) from None
        except ldap_errors.LDAPException as error:
            raise DirectoryError(f"{action} failed: {error}") from None

    # Operations. Each takes DNs and filters already built and escaped by the caller.

    def search(self, base: str, search_filter: str, *, attributes: list[str],
               scope: str = ldap3.SUBTREE) -> list[Record]:
        with self._translated("search"):
            conn = self._connection()
            conn.search(base, search_filter, search_scope=scope, attributes=attributes)
            return [
                Record(item["dn"], {k: list(v) if isinstance(v, list) else [v]
                                    for k, v in item["attributes"].items()})
                for item in conn.response if item["type"] == "searchResEntry"
            ]

    def read(self, dn: str, *, attributes: list[str]) -> Record | None:
        try:
            found = self.search(dn, "(objectClass=*)", attributes=attributes, scope=ldap3.BASE)
        except NotFound:
            return None
        return found[0] if found else None

    def add(self, dn: str, object_classes: list[str], attributes: dict) -> None:
        with self._translated(f"add {dn}"):
            present = {name: value for name, value in attributes.items() if value not in (None, [], ())}
            self._connection().add(dn, object_classes, present)

    def modify(self, dn: str, changes: dict) -> None:
        with self._translated(f"modify {dn}"):
            self._connection().modify(dn, changes)

    def add_value(self, dn: str, attribute: str, value: str) -> bool:
        """Add one value; False when it was there already."""
        with self._translated(f"modify {dn}"):
            try:
                self._connection().modify(dn, {attribute: [(ldap3.MODIFY_ADD, [value])]})
            except ldap_errors.LDAPAttributeOrValueExistsResult:
                return False
        return True

    def delete_value(self, dn: str, attribute: str, value: str) -> bool:
        """Remove one value; False when it was not there."""
        with self._translated(f"modify {dn}"):
            try:
                self._connection().modify(dn, {attribute: [(ldap3.MODIFY_DELETE, [value])]})
            except ldap_errors.LDAPNoSuchAttributeResult:
                return False
        return True

    def move(self, dn: str, new_rdn: str, new_parent: str) -> None:
        with self._translated(f"move {dn}"):
            self._connection().modify_dn(dn, new_rdn, delete_old_dn=True, new_superior=new_parent)

    def delete(self, dn: str) -> None:
        with self._translated(f"delete {dn}"):
            self._connection().delete(dn)

    def set_password(self, dn: str, password: str) -> None:
        """RFC 3062 password modify: slapd hashes it; we never see a hash."""
        with self._translated(f"set the password of {dn}"):
            self._connection().extend.standard.modify_password(user=dn, new_password=password)

    def check_password(self, dn: str, password: str) -> bool:
        """Bind as `dn` on a connection of its own. Never an unauthenticated bind."""
        if not password:
            return False
        conn = ldap3.Connection(self._server(), user=dn, password=password,
                                receive_timeout=self._receive_timeout)
        with self._translated("check a password"):
            try:
                return conn.bind()
            finally:
                _discard(conn)


def _discard(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket that ldap3 leaves open after a refused connect."""
    try:
        if not conn.closed:
            conn.unbind()
    except ldap_errors.LDAPException:
        pass
    if conn.socket is not None:
        conn.socket.close()
