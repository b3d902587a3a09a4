"""TOTP recovery codes, kept as salted scrypt hashes; each code works once.

A code is random (60 bits), so the hash only has to make a stolen table useless,
not to slow a guess of a chosen password; scrypt with a salt per code does that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .schema import totp_recovery_codes

# 16 MiB and about 50 ms per hash.
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}


def _hash(code: str, salt: bytes) -> str:
    return hashlib.scrypt(code.encode(), salt=salt, **SCRYPT).hex()


def replace(connection: Connection, uid: str, codes: list[str], *, now: datetime) -> None:
    """The person's codes become `codes`; any earlier ones stop working."""
    connection.execute(totp_recovery_codes.delete().where(totp_recovery_codes.c.uid == uid))
    rows = []
    for code in codes:
        salt = secrets.token_bytes(16)
        rows.append({"uid": uid, "salt": salt.hex(), "digest": _hash(code, salt), "created_at": now})
    if rows:
        connection.execute(totp_recovery_codes.insert(), rows)


def use(connection: Connection, uid: str, code: str, *, now: datetime) -> bool:
    """Mark the matching unused code used; False when none matches (wrong, or used already).

    The update only takes a row still unused, so of two logins with the same code, in
    this process or another, one wins.
    """
    unused = connection.execute(sa.select(totp_recovery_codes.c.id, totp_recovery_codes.c.salt,
                                          totp_recovery_codes.c.digest)
                                .where(totp_recovery_codes.c.uid == uid,
                                       totp_recovery_codes.c.used_at.is_(None))).all()
    for row in unused:
        if hmac.compare_digest(_hash(code, bytes.fromhex(row.salt)), row.digest):
            taken = connection.execute(totp_recovery_codes.update().where(
                totp_recovery_codes.c.id == row.id, totp_recovery_codes.c.used_at.is_(None),
            ).values(used_at=now))
            return taken.rowcount == 1
    return False


def remaining(connection: Connection, uid: str) -> int:
    query = sa.select(sa.func.count()).select_from(totp_recovery_codes).where(
        totp_recovery_codes.c.uid == uid, totp_recovery_codes.c.used_at.is_(None))
    return connection.execute(query).scalar_one()


def forget(connection: Connection, uid: str) -> int:
    """Delete every code of this person (their TOTP was reset); returns how many."""
    return connection.execute(
        totp_recovery_codes.delete().where(totp_recovery_codes.c.uid == uid)).rowcount
