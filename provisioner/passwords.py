"""What a new password must be. slapd's password policy checks the length again."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from importlib import resources

from zxcvbn import zxcvbn

from .directory import usable_password
from .languages import Text

MIN_LENGTH = 12
MAX_LENGTH = 1024
# Shorter personal strings ("anna", "bob") would refuse too many good passwords.
MIN_PERSONAL_LENGTH = 4
# zxcvbn's score: 3 means "safely unguessable" (about 10^8 guesses and more); 4 is "very".
MIN_SCORE = 3
# zxcvbn's time grows with the square of the length times the number of l33t readings
# (up to 736 when many of ! $ % ( + 0-9 < @ [ { | appear): on 2 shared cores, 20 such
# characters repeated cost 1.4 s at 32 characters and 9 s at 100, and anyone can post the
# registration form. So only the first 32 characters are scored: any password we would
# call strong (four words, 20 random characters) is strong there already, and one whose
# strength starts later is refused with zxcvbn's reason. The whole password still goes
# through the length, blocklist and personal checks.
SCORED_LENGTH = 32
TOO_GUESSABLE = "this password is too easy to guess."
ADVICE = "Use four or more words that do not belong together, or let a password manager make one."


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
        raise WeakPassword(Text("a password needs at least %(least)d characters", least=MIN_LENGTH))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(Text("a password has at most %(most)d characters", most=MAX_LENGTH))
    if not usable_password(password):
        raise WeakPassword(Text("a password cannot contain control characters (such as line breaks) "
                                "or mix right-to-left and left-to-right letters: the directory "
                                "could not check it at login"))
    lowered = password.lower()
    if lowered in common_passwords():
        raise WeakPassword(Text("a password cannot be one of the most common passwords"))
    personal = [item.strip().lower() for item in personal if item.strip()]
    if any(len(item) >= MIN_PERSONAL_LENGTH and item in lowered for item in personal):
        raise WeakPassword(Text("a password cannot contain your username, email or name"))
    _check_guessability(password, personal)


def _check_guessability(password: str, personal: list[str]) -> None:
    """zxcvbn's estimate, with the person's own data counted as words an attacker tries first."""
    scored = password[:SCORED_LENGTH]
    result = zxcvbn(scored, user_inputs=personal, max_length=SCORED_LENGTH)
    if result["score"] >= MIN_SCORE:
        return
    # zxcvbn's feedback is fixed English sentences; it never quotes the password.
    feedback = result["feedback"]
    reasons = [reason for reason in (feedback["warning"], *feedback["suggestions"][:1]) if reason]
    raise WeakPassword(" ".join([TOO_GUESSABLE, *(reasons or [ADVICE])]))
