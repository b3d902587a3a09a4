"""Two-step login with TOTP (RFC 6238) and single-use recovery codes.

The secret lives in the person's LDAP entry (OATH-LDAP attributes, readable by the
portal only), next to the time step of the last code accepted: a code is accepted
once, so a replayed or shoulder-surfed code fails. Recovery codes live in the
store as salted hashes. Sysadmins and working-group coordinators must enrol.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from pyotp.utils import strings_equal

from ..directory import Person
from ..directory.people import TotpToken
from ..languages import Text
from ..mail import MailError
from ..store import recovery_codes, sessions
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .permissions import has_open_account, is_sysadmin, require_sysadmin

PERIOD = 30          # seconds per time step, what every authenticator app assumes
DIGITS = 6
WINDOW = 1           # steps accepted either side of now, for clocks a little off
RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_CHARS = 12  # base32: 60 random bits
# How long the code page stays open after the password, and an enrolment's secret waits.
LOGIN_CODE_TIME = timedelta(minutes=5)
ENROLMENT_TIME = timedelta(minutes=15)
SECRET_PATTERN = re.compile(r"[A-Z2-7]{32}")
WORKING_GROUP_PREFIX = "wg-"

WRONG_CODE = Text("That code is not right. Enter the 6-digit code your authenticator app shows "
                  "now, or one of your recovery codes.")
USED_CODE = Text("That code was used already. Wait for your app to show the next one and enter that.")
NOT_A_CODE = Text("Enter the 6-digit code from your authenticator app, or a recovery code "
                  "(12 letters and digits).")


@dataclass(frozen=True)
class SecondFactor:
    """A second step that succeeded: who, and whether it took a recovery code."""

    person: Person
    recovery_code_used: bool = False
    recovery_codes_left: int | None = None


@dataclass(frozen=True)
class TotpStatus:
    enrolled_at: datetime | None
    recovery_codes_left: int


def new_secret() -> str:
    """A fresh base32 secret (160 bits) for an enrolment; stored only once confirmed."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, uid: str, issuer: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD).provisioning_uri(
        name=uid, issuer_name=issuer)


def totp_status(portal: Portal, uid: str) -> TotpStatus | None:
    """When the person enrolled and how many recovery codes are left; None if not enrolled."""
    token = portal.directory.people.totp(uid)
    if token is None:
        return None
    with portal.store.begin() as connection:
        left = recovery_codes.remaining(connection, uid)
    return TotpStatus(enrolled_at=token.enrolled_at, recovery_codes_left=left)


def has_totp(portal: Portal, uid: str) -> bool:
    return portal.directory.people.has_totp(uid)


def totp_required(portal: Portal, person: Person) -> bool:
    """Sysadmins and working-group coordinators (owners of a wg-* group) must use TOTP."""
    if is_sysadmin(portal, person):
        return True
    return any(name.startswith(WORKING_GROUP_PREFIX)
               for name in portal.directory.groups.owned_by(person.uid))


def must_enrol(portal: Portal, person: Person) -> bool:
    """True for someone who must use TOTP and has not set it up yet (`person` as just read)."""
    return not person.totp and totp_required(portal, person)


def enrolled_uids(portal: Portal) -> set[str]:
    return portal.directory.people.with_totp()


def confirm_enrolment(portal: Portal, uid: str, secret: str, code: str, *,
                      remote_addr: str | None = None) -> list[str]:
    """Store `secret` once `code` proves the app has it; returns new recovery codes, to show once.

    An earlier secret and its recovery codes are replaced.
    """
    person = _active(portal, uid)
    if not isinstance(secret, str) or not SECRET_PATTERN.fullmatch(secret):
        raise WorkflowError(Text("This set-up is not valid any more: start again."))
    digits = _normalise(code)
    if not re.fullmatch(rf"\d{{{DIGITS}}}", digits):
        raise InvalidInput({"code": Text("Enter the 6-digit code your authenticator app shows.")})
    now = portal.clock()
    steps = _matching_steps(secret, digits, now)
    if not steps:
        raise InvalidInput({"code": Text("That code is not right. Check that the clock of your phone is "
                                         "right, then enter the code the app shows now.")})
    replacing = has_totp(portal, uid)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    # The directory first: if the store then fails, the new secret works and the person
    # keeps their earlier codes rather than holding codes that were never saved.
    portal.directory.people.set_totp(uid, base64.b32decode(secret), enrolled_at=now,
                                     last_step=max(steps))
    with portal.store.begin() as connection:
        recovery_codes.replace(connection, uid, [_normalise(c) for c in codes], now=now)
    portal.audit("totp-enrolled", actor=person.uid, subject=person.uid, remote_addr=remote_addr,
                 detail="replaced the earlier authenticator" if replacing else None)
    return codes


def check_second_factor(portal: Portal, uid: str, code: str, *,
                        remote_addr: str | None = None) -> SecondFactor:
    """The login's second step: a TOTP code not used before, or an unused recovery code.

    InvalidInput (field `code`) says what was wrong; WorkflowError means the login must
    start again (the account was suspended or its TOTP reset in between).
    """
    person = _active(portal, uid)
    token = portal.directory.people.totp(uid)
    if token is None:
        raise WorkflowError(Text("Two-step login is no longer set up for this account: log in again."))
    entered = _normalise(code)
    if re.fullmatch(rf"\d{{{DIGITS}}}", entered):
        return _check_totp(portal, person, token, entered, remote_addr)
    if re.fullmatch(rf"[a-z2-7]{{{RECOVERY_CODE_CHARS}}}", entered):
        return _check_recovery_code(portal, person, entered, remote_addr)
    _failed(portal, uid, "not a code", remote_addr)
    raise InvalidInput({"code": NOT_A_CODE})


def reset_totp(portal: Portal, uid: str, *, actor: str, remote_addr: str | None = None) -> None:
    """A sysadmin removes someone's TOTP (a lost phone): secret, recovery codes and sessions go.

    The person logs in with their password alone, and enrols again if they must. The
    host's operator may do it too: the way back when the last sysadmin is locked out.
    """
    require_sysadmin(portal, actor)
    if uid == actor:
        raise WorkflowError(Text("you cannot reset your own two-step login: ask another sysadmin"))
    person = portal.directory.people.get(uid)
    if person.pending or not portal.directory.people.remove_totp(uid):
        raise WorkflowError(Text("%(uid)s has no two-step login to reset", uid=uid))
    now = portal.clock()
    with portal.store.begin() as connection:
        recovery_codes.forget(connection, uid)
        ended = sessions.end_all(connection, uid, now=now)
    portal.audit("totp-reset", actor=actor, subject=uid, remote_addr=remote_addr,
                 detail=f"{ended} session(s) ended")
    _mail(portal, person, "totp_reset", actor=actor, login_link=portal.link("/login"),
          must_enrol=totp_required(portal, person))


def _check_totp(portal: Portal, person: Person, token: TotpToken, entered: str,
                remote_addr: str | None) -> SecondFactor:
    secret = base64.b32encode(token.secret).decode()
    steps = _matching_steps(secret, entered, portal.clock())
    if not steps:
        _failed(portal, person.uid, "wrong code", remote_addr)
        raise InvalidInput({"code": WRONG_CODE})
    fresh = [step for step in steps if token.last_step is None or step > token.last_step]
    if not fresh or not portal.directory.people.advance_totp_step(person.uid, token.last_step, max(fresh)):
        _failed(portal, person.uid, "code used already", remote_addr)
        raise InvalidInput({"code": USED_CODE})
    portal.audit("totp-login", actor=person.uid, subject=person.uid, remote_addr=remote_addr)
    return SecondFactor(person)


def _check_recovery_code(portal: Portal, person: Person, entered: str,
                         remote_addr: str | None) -> SecondFactor:
    now = portal.clock()
    with portal.store.begin() as connection:
        used = recovery_codes.use(connection, person.uid, entered, now=now)
        left = recovery_codes.remaining(connection, person.uid)
    if not used:
        _failed(portal, person.uid, "recovery code wrong or used already", remote_addr)
        raise InvalidInput({"code": WRONG_CODE})
    portal.audit("totp-recovery-code-used", actor=person.uid, subject=person.uid,
                 remote_addr=remote_addr, detail=f"{left} left")
    _mail(portal, person, "totp_recovery_code_used", at=now.strftime("%Y-%m-%d %H:%M UTC"),
          remote_addr=remote_addr, left=left,
          totp_link=portal.link("/account/totp"))
    return SecondFactor(person, recovery_code_used=True, recovery_codes_left=left)


def _matching_steps(secret: str, digits: str, now: datetime) -> list[int]:
    """The time steps within the window whose code is `digits` (usually one, or none)."""
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=PERIOD)
    if not totp.verify(digits, for_time=now, valid_window=WINDOW):
        return []
    current = totp.timecode(now)
    return [step for step in range(current - WINDOW, current + WINDOW + 1)
            if strings_equal(totp.generate_otp(step), digits)]


def _active(portal: Portal, uid: str) -> Person:
    person = portal.directory.people.find(uid)
    if not has_open_account(person):
        raise WorkflowError(Text("This account cannot log in now."))
    return person


def _failed(portal: Portal, uid: str, why: str, remote_addr: str | None) -> None:
    portal.audit("totp-failed", subject=uid, remote_addr=remote_addr, detail=why)


def _mail(portal: Portal, person: Person, template: str, **context: object) -> None:
    try:
        portal.mailer.send(person.mail, template, language=person.language,
                           display_name=person.display_name, uid=person.uid,
                           **context)
    except MailError as error:
        portal.audit("mail-failed", subject=person.uid, detail=f"{template}: {error}")


def _normalise(code: object) -> str:
    """What was typed, without spaces or hyphens, lowercase (recovery codes are shown grouped)."""
    if not isinstance(code, str):
        return ""
    return re.sub(r"[\s-]", "", code).lower()[:64]


def _new_recovery_code() -> str:
    """12 base32 characters in groups of four: `abcd-efgh-ijkm`."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode().lower()[:RECOVERY_CODE_CHARS]
    return "-".join(raw[i:i + 4] for i in range(0, RECOVERY_CODE_CHARS, 4))
