"""Abuse limits: failed logins and codes per account and per client address, mails per address.

The counts live in the SQL store, so several portal processes share them. Past a
limit a login attempt is refused before the password or code is looked at, so
guessing stops; the lockout ends by itself when the oldest failures leave the
window (a sliding window), and a success clears the account's failures (not the
address's, or one known account would unlock guessing at all the others). The
start of a lockout is audited once ("login-locked").
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from ..directory import Person
from ..directory.layout import UID_PATTERN
from ..store import throttle
from ..store.throttle import LimitSettings
from .accounts import log_in
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .totp import SecondFactor, check_second_factor

LOGIN = "login"       # failed passwords
CODE = "code"         # failed second-step codes (TOTP or recovery)
MAIL = "mail"         # mails sent to an address: registration, reset


class TooManyAttempts(WorkflowError):
    """Refused without checking: too many failures lately. The message says how long to wait."""

    def __init__(self, wait: timedelta):
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        super().__init__(f"Too many attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}.")
        self.wait = wait


def _settings(portal: Portal) -> LimitSettings:
    return portal.limits


def _keys(portal: Portal, kind: str, uid: str, remote_addr: str | None) -> list[tuple[str, str, int]]:
    """(kind, key, limit) for the account and the client address that an attempt counts against."""
    settings = _settings(portal)
    keys = []
    uid = uid.strip().lower()
    if UID_PATTERN.fullmatch(uid):  # junk is counted against the address only
        keys.append((f"{kind}:uid", uid, settings.max_failures))
    if remote_addr:
        keys.append((f"{kind}:addr", remote_addr, settings.max_failures_per_address))
    return keys


def _wait(portal: Portal, kind: str, uid: str, remote_addr: str | None, now: datetime) -> timedelta | None:
    """How long until the next attempt may be checked, or None when it may be now."""
    since = now - _settings(portal).window
    longest = None
    with portal.store.begin() as connection:
        for key_kind, key, limit in _keys(portal, kind, uid, remote_addr):
            count = throttle.count(connection, key_kind, key, since)
            if count < limit:
                continue
            # Attempts come back when all but limit-1 of the counted failures are gone.
            freeing = throttle.nth_since(connection, key_kind, key, since, count - limit)
            wait = (freeing + _settings(portal).window - now) if freeing else _settings(portal).window
            longest = wait if longest is None else max(longest, wait)
    return longest


def _failed(portal: Portal, kind: str, uid: str, remote_addr: str | None) -> None:
    """Count a failure; audit the lockout it starts, once."""
    now = portal.clock()
    since = now - _settings(portal).window
    started = []
    with portal.store.begin() as connection:
        for key_kind, key, limit in _keys(portal, kind, uid, remote_addr):
            throttle.record(connection, key_kind, key, now)
            if throttle.count(connection, key_kind, key, since) == limit:
                started.append(key_kind)
    subject = uid.strip().lower() if UID_PATTERN.fullmatch(uid.strip().lower()) else None
    for key_kind in started:
        what = "account" if key_kind.endswith(":uid") else "client address"
        step = "passwords" if kind == LOGIN else "codes"
        portal.audit("login-locked", subject=subject if what == "account" else None,
                     remote_addr=remote_addr,
                     detail=f"too many wrong {step} for this {what}; "
                            f"locked for up to {int(_settings(portal).window.total_seconds() // 60)} minutes")


def _succeeded(portal: Portal, kind: str, uid: str) -> None:
    with portal.store.begin() as connection:
        throttle.forget(connection, f"{kind}:uid", uid)


def limited_log_in(portal: Portal, uid: str, password: str, *,
                   remote_addr: str | None = None) -> Person | None:
    """log_in, unless the account or the address is locked: then TooManyAttempts, unchecked."""
    if (wait := _wait(portal, LOGIN, uid, remote_addr, portal.clock())) is not None:
        portal.audit("login-refused", subject=_subject(uid), remote_addr=remote_addr,
                     detail="locked: too many wrong passwords")
        raise TooManyAttempts(wait)
    person = log_in(portal, uid, password, remote_addr=remote_addr)
    if person is None:
        _failed(portal, LOGIN, uid, remote_addr)
    else:
        _succeeded(portal, LOGIN, person.uid)
    return person


def limited_second_factor(portal: Portal, uid: str, code: str, *,
                          remote_addr: str | None = None) -> SecondFactor:
    """check_second_factor, unless too many wrong codes came lately: then TooManyAttempts."""
    if (wait := _wait(portal, CODE, uid, remote_addr, portal.clock())) is not None:
        portal.audit("login-refused", subject=_subject(uid), remote_addr=remote_addr,
                     detail="locked: too many wrong codes")
        raise TooManyAttempts(wait)
    try:
        done = check_second_factor(portal, uid, code, remote_addr=remote_addr)
    except InvalidInput:
        _failed(portal, CODE, uid, remote_addr)
        raise
    _succeeded(portal, CODE, uid)
    return done


def _subject(uid: str) -> str | None:
    uid = uid.strip().lower()
    return uid if UID_PATTERN.fullmatch(uid) else None


def mail_allowed(portal: Portal, mail: str, *, purpose: str, subject: str | None = None,
                 remote_addr: str | None = None) -> bool:
    """Whether one more mail may go to this address this hour; counts it when it may.

    When it may not, the refusal is audited and the caller sends nothing but
    answers the public as usual, so the limit tells nobody who has an account.
    """
    now = portal.clock()
    limit = _settings(portal).mails_per_address_per_hour
    with portal.store.begin() as connection:
        if throttle.count(connection, MAIL, mail, now - timedelta(hours=1)) >= limit:
            allowed = False
        else:
            throttle.record(connection, MAIL, mail, now)
            allowed = True
    if not allowed:
        # The address is not written to the log: it may be anyone's.
        portal.audit("mail-limited", subject=subject, remote_addr=remote_addr,
                     detail=f"{purpose}: more than {limit} mails to one address in an hour")
    return allowed


def forget_old_events(portal: Portal) -> int:
    """Drop counted events older than any window (for a periodic clean-up)."""
    oldest = max(_settings(portal).window, timedelta(hours=1))
    with portal.store.begin() as connection:
        return throttle.forget_before(connection, portal.clock() - oldest)
