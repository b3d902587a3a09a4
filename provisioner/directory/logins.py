"""Checking a login's password with the same work whoever is named.

A wrong password for an account costs slapd an argon2 hash and ppolicy's failure
bookkeeping (a write); a name nobody has would cost neither, and the difference
tells anyone with a stopwatch which names exist. So every login binds exactly
once: as the account when it may log in, else as the login decoy, an entry with
a password nobody knows (made by ensure_tree), hashed and counted like an
account's, that never locks.

An account that ppolicy has locked binds as the decoy too: slapd refuses a locked
entry without hashing, so binding to it would answer quicker, and the answer is
no either way.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..clock import utc_now
from .connection import DirectoryConnection
from .layout import Layout
from .people import LOCKED_UNTIL_UNLOCKED, Person
from .tree import PASSWORD_POLICY

LOCKOUT = timedelta(seconds=int(PASSWORD_POLICY["pwdLockoutDuration"]))


def locked_by_policy(person: Person, now: datetime) -> bool:
    """Whether slapd would refuse this account's bind unchecked (ppolicy's lock, in slapd's time)."""
    if person.locked_at is None:
        return False
    return person.locked_at == LOCKED_UNTIL_UNLOCKED or now < person.locked_at + LOCKOUT


class Logins:
    def __init__(self, connection: DirectoryConnection, layout: Layout):
        self._conn = connection
        self._layout = layout

    def password_opens(self, person: Person | None, password: str) -> bool:
        """Whether `person`'s account binds with `password`; one bind, whoever it is.

        `person` is who may log in, or None when nobody may (no such name, a
        request, an account not active): then the bind goes to the decoy, whose
        success, should anyone ever learn its password, still opens nothing.
        """
        usable = person is not None and not person.pending and not locked_by_policy(person, utc_now())
        dn = person.dn if usable and person is not None else self._layout.login_decoy
        return self._conn.check_password(dn, password) and usable
