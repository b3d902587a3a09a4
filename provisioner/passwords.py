"""What a new password must be. slapd's password policy checks the length again."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources

MIN_LENGTH = 12
MAX_LENGTH = 1024
# Shorter personal strings ("anna", "bob") would refuse too many good passwords.
MIN_PERSONAL_LENGTH = 4


class WeakPassword(ValueError):
    """The message says what to change."""


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list, lowercased; data/common-passwords.SOURCE says where it is from."""
    text = resources.files(__package__).joinpath("data", "common-passwords.txt").read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def check_new_password(password: str, *, personal: Iterable[str] = ()) -> None:
    """Raise WeakPassword unless the password will do.

    personal holds what others know about the person (username, email local part,
    words of the display name); the messages never repeat the password.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise WeakPassword("a password cannot contain a NUL character")
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword("a password cannot be one of the most common passwords")
    for item in personal:
        item = item.strip().lower()
        if len(item) >= MIN_PERSONAL_LENGTH and item in lowered:
            raise WeakPassword("a password cannot contain your username, email or name")
