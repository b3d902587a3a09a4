"""What a new password must be. slapd's password policy checks the length again."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
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
ADVICE = Text("Use four or more words that do not belong together, or let a password manager make one.")
# zxcvbn's feedback (its feedback.py) is fixed English sentences: each is a message here, so a
# page shows it in its own language. A sentence not listed (a newer zxcvbn's) is left out, for
# ADVICE when it was the advice: never English on a page in another language.
ZXCVBN_FEEDBACK: dict[str, Text] = {str(sentence): sentence for sentence in (
    Text("Use a few words, avoid common phrases."),
    Text("No need for symbols, digits, or uppercase letters."),
    Text("Add another word or two. Uncommon words are better."),
    Text("Straight rows of keys are easy to guess."),
    Text("Short keyboard patterns are easy to guess."),
    Text("Use a longer keyboard pattern with more turns."),
    Text('Repeats like "aaa" are easy to guess.'),
    Text('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    Text("Avoid repeated words and characters."),
    Text('Sequences like "abc" or "6543" are easy to guess.'),
    Text("Avoid sequences."),
    Text("Recent years are easy to guess."),
    Text("Avoid recent years."),
    Text("Avoid years that are associated with you."),
    Text("Dates are often easy to guess."),
    Text("Avoid dates and years that are associated with you."),
    Text("This is a top-10 common password."),
    Text("This is a top-100 common password."),
    Text("This is a very common password."),
    Text("This is similar to a commonly used password."),
    Text("A word by itself is easy to guess."),
    Text("Names and surnames by themselves are easy to guess."),
    Text("Common names and surnames are easy to guess."),
    Text("Capitalization doesn't help very much."),
    Text("All-uppercase is almost as easy to guess as all-lowercase."),
    Text("Reversed words aren't much harder to guess."),
    Text("Predictable substitutions like '@' instead of 'a' don't help very much."),
)}


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
    # zxcvbn's feedback never quotes the password.
    raise WeakPassword(guessability_refusal(result["feedback"]["warning"], result["feedback"]["suggestions"]))


def guessability_refusal(warning: str, suggestions: Sequence[str]) -> Text:
    """Why zxcvbn guesses a password, from its warning and first suggestion, each as a message."""
    known_warning = ZXCVBN_FEEDBACK.get(warning)
    advice = next((ZXCVBN_FEEDBACK[suggestion] for suggestion in suggestions[:1]
                   if suggestion in ZXCVBN_FEEDBACK), ADVICE)
    if known_warning is None:
        return Text("this password is too easy to guess. %(advice)s", advice=advice)
    return Text("this password is too easy to guess. %(warning)s %(advice)s", warning=known_warning,
                advice=advice)
