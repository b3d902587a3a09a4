"""What slapd alone can do for the portal's two argon2-bound pages, measured with raw ldap3
in the same run as the pages (issue 18's floors):

- password sets: what a registration asks of slapd, an entry added in `ou=pending` and
  its password set by RFC 3062 password modify (slapd hashes it with argon2), bound as
  the portal's service account;
- simple binds: what a password login asks of slapd, a bind as the account (slapd checks
  its argon2 hash), each thread on a connection of its own as its own account.

Each thread has its own connection; all start together. The rate is operations over the
time from the start to the last thread's end.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import ldap3

from provisioner.directory.layout import Layout
from provisioner.private_services.slapd import PrivateSlapd


def _connection(slapd: PrivateSlapd, user: str, password: str) -> ldap3.Connection:
    server = ldap3.Server(slapd.url, get_info=ldap3.NONE)
    return ldap3.Connection(server, user, password, raise_exceptions=True, auto_bind=True)


def _rate(work: list[Callable[[], None]]) -> float:
    """Operations a second: one thread per list item, each calling its function once."""
    start = threading.Barrier(len(work) + 1)
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        start.wait()
        try:
            job()
        except BaseException as error:   # re-raised below, in the bench's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - began


def password_sets_per_second(slapd: PrivateSlapd, layout: Layout, prefix: str, password: str,
                             threads: int, each: int) -> float:
    """`threads` connections, bound as the portal, each adding `each` requests with a password."""
    connections = [_connection(slapd, slapd.service_dn("portal"), slapd.service_passwords["portal"])
                   for _ in range(threads)]

    def adder(number: int, connection: ldap3.Connection) -> Callable[[], None]:
        def add_all() -> None:
            for count in range(each):
                uid = f"{prefix}x{number}x{count}"
                dn = layout.person_dn(uid, pending=True)
                connection.add(dn, ["inetOrgPerson", "occupyVolunteer"], {
                    "uid": uid, "cn": f"Floor {uid}", "sn": uid, "mail": f"{uid}@example.org",
                    "occupyStatus": "unverified"})
                connection.extend.standard.modify_password(user=dn, new_password=password)
        return add_all

    try:
        seconds = _rate([adder(number, connection) for number, connection in enumerate(connections)])
    finally:
        for connection in connections:
            connection.unbind()
    return threads * each / seconds


def binds_per_second(slapd: PrivateSlapd, dns: list[str], password: str, each: int) -> float:
    """One connection per DN, each binding as its account `each` times."""
    connections = [_connection(slapd, dn, password) for dn in dns]

    def binder(connection: ldap3.Connection) -> Callable[[], None]:
        def bind_all() -> None:
            for _ in range(each):
                connection.rebind(connection.user, password)
        return bind_all

    try:
        seconds = _rate([binder(connection) for connection in connections])
    finally:
        for connection in connections:
            connection.unbind()
    return len(dns) * each / seconds
