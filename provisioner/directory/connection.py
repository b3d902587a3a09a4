"""One connection to the LDAP servers, with ldap3's errors turned into ours.

The settings may name several servers (replicas of each other): the connection
uses the first that answers, starting with the one it used last, and when that one
stops answering in the middle of an operation, runs the operation once more on
the next. A fresh `ldap3.Server` is made for each connection: a Server object (and
ldap3's ServerPool) remembers an address that refused it for minutes, so a
long-lived one would keep failing after slapd comes back.
"""

from __future__ import annotations

import math
import re
import ssl
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import ldap3
from ldap3.core import exceptions as ldap_errors
from ldap3.protocol.sasl.sasl import validate_simple_password

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

T = TypeVar("T")
# A value as ldap3 hands it back without the schema: text when its bytes are UTF-8, else bytes.
Value = str | bytes
Attributes = Mapping[str, Value | Sequence[Value] | None]   # for an add; None or empty: left out
# attribute -> [(ldap3.MODIFY_ADD, MODIFY_DELETE or MODIFY_REPLACE, values), ...]
Changes = Mapping[str, Sequence[tuple[str, Sequence[Value]]]]
Scope = Literal["BASE", "LEVEL", "SUBTREE"]


@dataclass(frozen=True)
class DirectorySettings:
    url: str      # one URL, or several separated by spaces or commas, tried in order
    base_dn: str
    bind_dn: str
    bind_password: str = field(repr=False)
    timeout: float = 5.0
    ca_file: str = ""  # the CA of the servers' ldaps certificates; empty: the system's CAs

    @property
    def urls(self) -> tuple[str, ...]:
        return tuple(url for url in re.split(r"[\s,]+", self.url) if url)

    def server(self, url: str) -> ldap3.Server:
        """ldaps certificates are always checked, name included (ldap3 leaves them unchecked)."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=self.ca_file or None)
        return ldap3.Server(url, get_info=ldap3.NONE, connect_timeout=self.timeout, tls=tls)


class _NoServerAnswers(Exception):
    """Every server was tried; the message lists each with its error."""


@dataclass(frozen=True)
class Record:
    """One entry as read: its DN and attributes, every value a list."""

    dn: str
    attributes: dict[str, list[Value]]

    def first(self, name: str, default: Value | None = None) -> Value | None:
        values = self.attributes.get(name) or []
        return values[0] if values else default

    def all(self, name: str) -> tuple[Value, ...]:
        return tuple(self.attributes.get(name) or ())

    def text(self, name: str) -> str | None:
        """The first value of an attribute of a string syntax, which slapd keeps as UTF-8."""
        return _text(value) if (value := self.first(name)) is not None else None

    def texts(self, name: str) -> tuple[str, ...]:
        return tuple(_text(value) for value in self.all(name))


def _text(value: Value) -> str:
    return value.decode() if isinstance(value, bytes) else value


class DirectoryConnection:
    """Opens on first use, reopens after the server went away, closes on `close()`."""

    def __init__(self, settings: DirectorySettings):
        self.settings = settings
        self._conn: ldap3.Connection | None = None
        self._checker: ldap3.Connection | None = None   # binds as whoever logs in; nothing else
        self._current = 0      # index in settings.urls of the server used last

    @property
    def url(self) -> str:
        """The server in use, or to be tried first."""
        return self.settings.urls[self._current]

    @property
    def _receive_timeout(self) -> int:
        return max(1, math.ceil(self.settings.timeout))  # ldap3 packs it as an integer

    def _open(self, user: str, password: str, *, raise_exceptions: bool) -> tuple[ldap3.Connection, bool]:
        """Connect to the first server that answers, from the one used last; bind as `user`."""
        urls = self.settings.urls
        failures: list[str] = []
        for step in range(len(urls)):
            index = (self._current + step) % len(urls)
            conn = ldap3.Connection(self.settings.server(urls[index]), user=user, password=password,
                                    raise_exceptions=raise_exceptions, receive_timeout=self._receive_timeout)
            try:
                conn.open()
                self._current = index
                return conn, conn.bind()
            except _UNREACHABLE as error:
                _discard(conn)
                failures.append(f"{urls[index]}: {error}")
            except ldap_errors.LDAPException:
                _discard(conn)
                raise
        raise _NoServerAnswers("; ".join(failures))

    def _connection(self) -> ldap3.Connection:
        if self._conn is None or self._conn.closed:
            self._conn, _ = self._open(self.settings.bind_dn, self.settings.bind_password,
                                       raise_exceptions=True)
        return self._conn

    def _run(self, action: str, operation: Callable[[ldap3.Connection], T]) -> T:
        """`operation` on the connection; once more, on the next server, if this one went away.

        A write the first server took just before it went away is then tried again:
        an add may answer AlreadyExists once replication has brought it over.
        """
        with self._translated(action):
            try:
                return operation(self._connection())
            except _UNREACHABLE:
                self.close()
                self._current = (self._current + 1) % len(self.settings.urls)
            return operation(self._connection())

    def close(self) -> None:
        self._close_checker()
        conn, self._conn = self._conn, None
        if conn is not None:
            _discard(conn)

    def _close_checker(self) -> None:
        checker, self._checker = self._checker, None
        if checker is not None:
            _discard(checker)

    def abandon(self) -> None:
        """Forget the connections, closing only this process's file descriptors of their sockets."""
        for conn in (self._conn, self._checker):
            if conn is not None and conn.socket is not None:
                conn.socket.close()
        self._conn = self._checker = None

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        try:
            yield
        except DirectoryError:
            raise
        except _NoServerAnswers as error:
            raise DirectoryUnavailable(
                f"the directory does not answer ({action}); tried {error}; "
                "is slapd running and PROVISIONER_LDAP_URL right?"
            ) from None
        except _UNREACHABLE as error:
            self.close()
            raise DirectoryUnavailable(
                f"the directory at {self.url} does not answer ({action}: {error}); "
                "is slapd running and PROVISIONER_LDAP_URL right?"
            ) from None
        except ldap_errors.LDAPInvalidCredentialsResult:
            raise DirectoryUnavailable(
                f"the directory at {self.url} refused the portal's bind as "
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
               scope: Scope = ldap3.SUBTREE) -> list[Record]:
        def run(conn: ldap3.Connection) -> list[Record]:
            conn.search(base, search_filter, search_scope=scope, attributes=attributes)
            return [
                Record(item["dn"], {k: list(v) if isinstance(v, list) else [v]
                                    for k, v in item["attributes"].items()})
                for item in conn.response or () if item["type"] == "searchResEntry"
            ]
        return self._run("search", run)

    def read(self, dn: str, *, attributes: list[str]) -> Record | None:
        try:
            found = self.search(dn, "(objectClass=*)", attributes=attributes, scope=ldap3.BASE)
        except NotFound:
            return None
        return found[0] if found else None

    def add(self, dn: str, object_classes: list[str], attributes: Attributes) -> None:
        present = {name: value for name, value in attributes.items() if value not in (None, [], ())}
        self._run(f"add {dn}", lambda conn: conn.add(dn, object_classes, present))

    def modify(self, dn: str, changes: Changes) -> None:
        self._run(f"modify {dn}", lambda conn: conn.modify(dn, changes))

    def add_value(self, dn: str, attribute: str, value: str) -> bool:
        """Add one value; False when it was there already."""
        def run(conn: ldap3.Connection) -> bool:
            try:
                return bool(conn.modify(dn, {attribute: [(ldap3.MODIFY_ADD, [value])]}))
            except ldap_errors.LDAPAttributeOrValueExistsResult:
                return False
        return self._run(f"modify {dn}", run)

    def delete_value(self, dn: str, attribute: str, value: str) -> bool:
        """Remove one value; False when it was not there."""
        def run(conn: ldap3.Connection) -> bool:
            try:
                return bool(conn.modify(dn, {attribute: [(ldap3.MODIFY_DELETE, [value])]}))
            except ldap_errors.LDAPNoSuchAttributeResult:
                return False
        return self._run(f"modify {dn}", run)

    def move(self, dn: str, new_rdn: str, new_parent: str) -> None:
        self._run(f"move {dn}", lambda conn: conn.modify_dn(dn, new_rdn, delete_old_dn=True,
                                                           new_superior=new_parent))

    def delete(self, dn: str) -> None:
        self._run(f"delete {dn}", lambda conn: conn.delete(dn))

    def set_password(self, dn: str, password: str) -> None:
        """RFC 3062 password modify: slapd hashes it; we never see a hash."""
        self._run(f"set the password of {dn}",
                  lambda conn: conn.extend.standard.modify_password(user=dn, new_password=password))

    def check_password(self, dn: str, password: str) -> bool:
        """Bind as `dn` on a connection of its own, to the server the portal uses (or the
        next that answers). Never an unauthenticated bind.

        That connection is kept for the next check, which binds again on it: a login then
        costs slapd no TCP handshake, no new connection and no unbind, only the bind. It
        never does anything but bind, so whose identity it holds between checks matters
        to nobody; the password is dropped from it as soon as slapd has answered.
        """
        if not password or not usable_password(password):
            return False
        with self._translated("check a password"):
            try:
                return self._bind_checker(dn, password)
            except _UNREACHABLE:
                self._close_checker()     # went away since the last check: open anew
            return self._bind_checker(dn, password)

    def _bind_checker(self, dn: str, password: str) -> bool:
        checker = self._checker
        try:
            if checker is None or checker.closed:
                self._checker, bound = self._open(dn, password, raise_exceptions=False)
                return bound
            checker.user, checker.password = dn, password
            return bool(checker.bind())
        finally:
            if self._checker is not None:
                self._checker.password = None


def usable_password(password: str) -> bool:
    """Whether ldap3 can send it (SASLprep, RFC 4013): no control characters, no mix of
    right-to-left and left-to-right letters... One it cannot send was never set either."""
    try:
        validate_simple_password(password)
    except ldap_errors.LDAPSASLPrepError:
        return False
    return True


def _discard(conn: ldap3.Connection) -> None:
    """Unbind, and close the socket that ldap3 leaves open after a refused connect."""
    try:
        if not conn.closed:
            conn.unbind()
    except ldap_errors.LDAPException:
        pass
    if conn.socket is not None:
        conn.socket.close()
