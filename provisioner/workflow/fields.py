"""What each field a person types may hold: one rule per field, used by registration,
self-service, password reset and the command line alike.

Each `check_*` returns why a value is refused, in words for the form, or None. These
rules keep out what a field cannot hold; they are not what keeps a value from being
read as code (escaping in directory/, data files for playbooks do that).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date

from ..directory import InvalidValue
from ..directory.people import check_mail
from ..languages import Text
from ..passwords import WeakPassword, check_new_password

USERNAME_PATTERN = re.compile(r"[a-z][a-z0-9-]{2,31}")
# Names that look official, belong to the system or the mail server, or could be
# confused with a working group's list (wg-<slug>).
RESERVED_USERNAMES = frozenset([
    "abuse", "admin", "administrator", "anonymous", "daemon", "dokuwiki", "ftp", "guest", "help",
    "hostmaster", "info", "list", "lists", "mail", "mailer-daemon", "mailman", "moderator",
    "no-reply", "nobody", "noc", "noreply", "operator", "portal", "postmaster", "redmine", "root",
    "security", "staff", "support", "sysadmin", "sysadmins", "system", "webmaster", "wiki", "www",
])
RESERVED_PREFIXES = ("wg-",)

MAX_DISPLAY_NAME = 128
# Letters, marks and digits of any script, spaces, and the punctuation names use. A name
# travels into Mailman, Redmine's first and last name and mail headers: everything else
# (filter characters, quotes, angle brackets, braces, controls) is refused.
NAME_PUNCTUATION = frozenset(" .,'’-()/&")

# RFC 5322 dot-atom local part and a DNS host name: no quotes, parentheses,
# backslashes or spaces, which no one needs in an address and filters dislike.
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
ADDRESS_PATTERN = re.compile(
    rf"{ATEXT}(?:\.{ATEXT})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}")
ADDRESS_HINT = Text("an email address such as name@example.org")

MAX_SKILLS = 20
MAX_SKILL_LENGTH = 64
MAX_NOTE = 2000


def check_username(uid: str) -> str | None:
    if not USERNAME_PATTERN.fullmatch(uid):
        return Text("3 to 32 characters: lowercase letters, digits and hyphens, "
                    "starting with a letter")
    if uid in RESERVED_USERNAMES or uid.startswith(RESERVED_PREFIXES):
        return Text("this username is reserved, please choose another")
    return None


def normalise_display_name(name: str) -> str:
    """Runs of spaces, and spaces at either end, go."""
    return " ".join(name.split())


def check_display_name(name: str) -> str | None:
    """For a name already normalised."""
    if not name or len(name) > MAX_DISPLAY_NAME:
        return Text("your name, 1 to %(most)d characters", most=MAX_DISPLAY_NAME)
    if any(ch not in NAME_PUNCTUATION and unicodedata.category(ch)[0] not in "LMN" for ch in name):
        return Text("use letters, digits, spaces and . , ' - ( ) / & only")
    return None


def check_address(mail: str) -> str | None:
    """Why this is not an address the portal mails to, or None."""
    try:
        check_mail(mail)
    except InvalidValue:
        return ADDRESS_HINT
    return None if ADDRESS_PATTERN.fullmatch(mail) else ADDRESS_HINT


def personal_words(uid: str, mail: str, display_name: str) -> tuple[str, ...]:
    """What others know about a person, which their password must not lean on."""
    return (uid, mail.partition("@")[0], *display_name.split())


def check_password(password: str, personal: Iterable[str]) -> str | None:
    try:
        check_new_password(password, personal=personal)
    except WeakPassword as error:
        reason: str = error.args[0]  # a Text, which a page shows in its language
        return reason
    return None


def check_skills(skills: Iterable[str]) -> str | None:
    skills = list(skills)
    if len(skills) > MAX_SKILLS or any(len(skill) > MAX_SKILL_LENGTH or not skill.isprintable()
                                       for skill in skills):
        return Text("up to %(skills)d skills of up to %(most)d characters", skills=MAX_SKILLS,
                    most=MAX_SKILL_LENGTH)
    return None


def check_note(note: str) -> str | None:
    if len(note) > MAX_NOTE:
        return Text("at most %(most)d characters", most=MAX_NOTE)
    return None


DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def read_day(text: str) -> date | None:
    """A day typed as YYYY-MM-DD; None for anything else (another format, no such day).
    Python's fromisoformat alone would also take 20261231 or a week date such as 2026-W01-1."""
    if not DAY.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
