"""What a new password must be. slapd's password policy checks the length again."""

from __future__ import annotations

MIN_LENGTH = 12
MAX_LENGTH = 1024


class WeakPassword(ValueError):
    """The message says what to change."""


def check_new_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if "\x00" in password:
        raise WeakPassword("a password cannot contain a NUL character")
