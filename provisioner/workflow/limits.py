"""Abuse limits: failed logins and codes, registrations and mails, counted in the SQL store.

The counts live in the store, so several portal processes share them; events
count while they are younger than their window (a sliding window), so every
limit ends by itself.

Failed passwords (and, counted apart, failed second-step codes):

- per account, a hard limit: after `max_failures` in the window an attempt is
  refused before the password or code is looked at, so guessing stops. A success
  clears the account's count.
- per client address, a slow-down, never a lockout: a camp's Wi-Fi puts hundreds
  of people behind one address, and one prankster there must not lock them all
  out. Past `address_failures_before_delay` failures in the window, an attempt
  for an account that has failures of its own waits, after that account's latest
  failure, a delay that doubles with every further failure from the address (up
  to `address_max_delay`). An account with no recent failure is checked at once,
  whatever its neighbours did. Unknown names are treated exactly like accounts,
  so the limits tell nobody which names exist.

Client addresses are counted by network where one holder has many: an IPv6
address by its /64.

The start of an account lockout ("login-locked") and of an address slow-down
("login-slowed") is audited once; each refusal is audited too.
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from ..directory import Person
from ..directory.layout import UID_PATTERN
from ..languages import SOURCE_LANGUAGE, Text, duration
from ..store import throttle
from ..store.throttle import LimitSettings
from .accounts import log_in
from .context import Portal
from .errors import InvalidInput, WorkflowError
from .totp import SecondFactor, check_second_factor

LOGIN = "login"       # failed passwords
CODE = "code"         # failed second-step codes (TOTP or recovery)
MAIL = "mail"         # mails sent to an address: registration, reset
REGISTRATION = "registration:addr"  # registrations from a client address
_STEP = {LOGIN: "passwords", CODE: "codes"}
# Beyond this many doublings every delay is the longest anyway.
_MAX_DOUBLINGS = 32


class TooManyAttempts(WorkflowError):
    """Refused without checking: too many lately. The message (a Text, its `wait` written in
    the page's language) says how long to wait."""

    def __init__(self, wait: timedelta, message: Text):
        super().__init__(message)
        self.wait = wait

    @property
    def retry_after(self) -> int:
        """Whole seconds, for an HTTP Retry-After header."""
        return max(1, math.ceil(self.wait.total_seconds()))


def address_key(remote_addr: str | None) -> str | None:
    """What a client address is counted under: IPv4 as is, IPv6 by its /64 (one
    subscriber's share, which they can hop around in at will)."""
    if not remote_addr:
        return None
    try:
        address = ipaddress.ip_address(remote_addr.strip())
    except ValueError:
        return remote_addr.strip()
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _subject(uid: str) -> str | None:
    """The uid as counted and audited; None for one nobody can have (counted by address only)."""
    uid = uid.strip().lower()
    return uid if UID_PATTERN.fullmatch(uid) else None


def _account_wait(connection: Connection, settings: LimitSettings, kind: str, uid: str, count: int,
                  now: datetime) -> timedelta | None:
    """How long the account, with `count` failures in the window, stays locked, or None."""
    since = now - settings.window
    if count < settings.max_failures:
        return None
    # Attempts come back when all but max_failures-1 of the counted failures are gone.
    freeing = throttle.nth_since(connection, f"{kind}:uid", uid, since, count - settings.max_failures)
    return (freeing + settings.window - now) if freeing else settings.window


def address_delay(settings: LimitSettings, failures: int) -> timedelta | None:
    """The delay a client address with this many failures in the window must leave."""
    past = failures - settings.address_failures_before_delay
    if past < 0:
        return None
    doublings: int = 2 ** min(past, _MAX_DOUBLINGS)  # int: the exponent is never negative
    return min(settings.address_first_delay * doublings, settings.address_max_delay)


def _address_wait(connection: Connection, settings: LimitSettings, kind: str, uid: str | None,
                  address: str | None, now: datetime) -> timedelta | None:
    """How long this attempt must still wait because its address is slowed down, or None."""
    if address is None:
        return None
    since = now - settings.window
    delay = address_delay(settings, throttle.count(connection, f"{kind}:addr", address, since))
    if delay is None:
        return None
    if uid is not None:
        latest = throttle.latest_since(connection, f"{kind}:uid", uid, since)
    else:
        latest = throttle.latest_since(connection, f"{kind}:addr", address, since)
    # No failures of its own: checked, however slowed its address. Without a uid, the address
    # may have none either when LOGIN_ADDRESS_FAILURES_BEFORE_DELAY is 0.
    if latest is None:
        return None
    wait = latest + delay - now
    return wait if wait > timedelta(0) else None


def _refuse_if_limited(portal: Portal, kind: str, uid: str, remote_addr: str | None) -> int:
    """TooManyAttempts (audited) when the account is locked or the address must wait; else
    the account's failures in the window, which a success then clears (when there are any)."""
    settings, now, subject = portal.limits, portal.clock(), _subject(uid)
    with portal.store.begin() as connection:
        failures = throttle.count(connection, f"{kind}:uid", subject, now - settings.window) if subject else 0
        locked = _account_wait(connection, settings, kind, subject, failures, now) if subject else None
        slowed = None if locked else _address_wait(connection, settings, kind, subject,
                                                   address_key(remote_addr), now)
    if locked:
        portal.audit("login-refused", subject=subject, remote_addr=remote_addr,
                     detail=f"locked: too many wrong {_STEP[kind]} for this account")
        raise TooManyAttempts(locked, Text("Too many attempts; try again in %(wait)s.", wait=locked))
    if slowed:
        portal.audit("login-refused", subject=subject, remote_addr=remote_addr,
                     detail=f"slowed: too many wrong {_STEP[kind]} from this client address")
        raise TooManyAttempts(slowed, Text("Too many failed attempts from your network; try again in "
                                           "%(wait)s.", wait=slowed))
    return failures


def _failed(portal: Portal, kind: str, uid: str, remote_addr: str | None) -> None:
    """Count a failure against the account and the address; audit a lockout or slow-down it starts."""
    settings, now, subject = portal.limits, portal.clock(), _subject(uid)
    since = now - settings.window
    address = address_key(remote_addr)
    with portal.store.begin() as connection:
        locks = slows = False
        if subject:
            throttle.record(connection, f"{kind}:uid", subject, now)
            locks = throttle.count(connection, f"{kind}:uid", subject, since) == settings.max_failures
        if address:
            throttle.record(connection, f"{kind}:addr", address, now)
            slows = (throttle.count(connection, f"{kind}:addr", address, since)
                     == settings.address_failures_before_delay)
    minutes = int(settings.window.total_seconds() // 60)
    if locks:
        portal.audit("login-locked", subject=subject, remote_addr=remote_addr,
                     detail=f"too many wrong {_STEP[kind]} for this account; "
                            f"locked for up to {minutes} minutes")
    if slows:
        portal.audit("login-slowed", remote_addr=remote_addr,
                     detail=f"{settings.address_failures_before_delay} wrong {_STEP[kind]} from this "
                            f"client address in {minutes} minutes: accounts with failures of their own "
                            f"wait {duration(settings.address_first_delay, SOURCE_LANGUAGE)} between "
                            f"attempts from it, doubling up to "
                            f"{duration(settings.address_max_delay, SOURCE_LANGUAGE)}")


def _succeeded(portal: Portal, kind: str, uid: str, failures: int) -> None:
    """Clear the account's failures. With none counted before the check, nothing is written:
    a login is then one store write fewer (the portal's writes queue on SQLite's one lock)."""
    if failures:
        with portal.store.begin() as connection:
            throttle.forget(connection, f"{kind}:uid", uid)


def limited_log_in(portal: Portal, uid: str, password: str, *,
                   remote_addr: str | None = None) -> Person | None:
    """log_in, unless the account is locked or its address must wait: then TooManyAttempts, unchecked."""
    failures = _refuse_if_limited(portal, LOGIN, uid, remote_addr)
    person = log_in(portal, uid, password, remote_addr=remote_addr)
    if person is None:
        _failed(portal, LOGIN, uid, remote_addr)
    else:
        _succeeded(portal, LOGIN, person.uid, failures)
    return person


def limited_password_check(portal: Portal, uid: str, password: str, *,
                           remote_addr: str | None = None) -> bool:
    """Whether `password` is the account's, asked again before a grave step (deleting the
    account), under the login limits: a wrong one counts as a failed login, and a locked
    account or a slowed address gets TooManyAttempts without the password being checked."""
    failures = _refuse_if_limited(portal, LOGIN, uid, remote_addr)
    if portal.directory.people.check_password(uid, password):
        _succeeded(portal, LOGIN, uid, failures)
        return True
    _failed(portal, LOGIN, uid, remote_addr)
    return False


def limited_second_factor(portal: Portal, uid: str, code: str, *,
                          remote_addr: str | None = None) -> SecondFactor:
    """check_second_factor, under the same limits as passwords, counted apart."""
    failures = _refuse_if_limited(portal, CODE, uid, remote_addr)
    try:
        done = check_second_factor(portal, uid, code, remote_addr=remote_addr)
    except InvalidInput:
        _failed(portal, CODE, uid, remote_addr)
        raise
    _succeeded(portal, CODE, uid, failures)
    return done


def count_registration(portal: Portal, *, remote_addr: str | None = None) -> None:
    """Count one registration from this client address, or raise TooManyAttempts (audited,
    not counted) when it sent `registrations_per_address_per_hour` in the last hour."""
    address = address_key(remote_addr)
    if address is None:
        return
    now, limit = portal.clock(), portal.limits.registrations_per_address_per_hour
    since = now - timedelta(hours=1)
    with portal.store.begin() as connection:
        count = throttle.count(connection, REGISTRATION, address, since)
        if count < limit:
            throttle.record(connection, REGISTRATION, address, now)
            return
        freeing = throttle.nth_since(connection, REGISTRATION, address, since, count - limit)
    portal.audit("registration-limited", remote_addr=remote_addr,
                 detail=f"more than {limit} registrations from one client address in an hour")
    wait = (freeing + timedelta(hours=1) - now) if freeing else timedelta(hours=1)
    raise TooManyAttempts(wait, Text("Too many registrations from your network; try again in %(wait)s.",
                                     wait=wait))


def mail_allowed(portal: Portal, mail: str, *, purpose: str, subject: str | None = None,
                 remote_addr: str | None = None) -> bool:
    """Whether one more mail may go to this address this hour; counts it when it may.

    When it may not, the refusal is audited and the caller sends nothing but
    answers the public as usual, so the limit tells nobody who has an account.
    """
    now = portal.clock()
    limit = portal.limits.mails_per_address_per_hour
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
    oldest = max(portal.limits.window, timedelta(hours=1))
    with portal.store.begin() as connection:
        return throttle.forget_before(connection, portal.clock() - oldest)
