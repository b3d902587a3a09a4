"""The lifecycle table (workflow/lifecycle.py) against the code that runs it.

From every status (none, unverified, verified, active, suspended, expired), every transition
is tried through the workflow's own function, on a real slapd, store and mail sink:
one the table lists does what it says (the status it names, exactly its audit action,
one log line saying done); any other is refused and changes nothing: not the
directory, not the audit log, the jobs, the decisions or the used links, and no mail
goes. Hypothesis then walks people through random sequences of transitions.
"""

from __future__ import annotations

import itertools
import logging
import re
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.clock import utc_now
from provisioner.directory import NewPerson, NotFound, Status
from provisioner.resources import get_portal
from provisioner.store import invitations, schema
from provisioner.store.throttle import LimitSettings
from provisioner.workflow import (
    InvalidInput,
    LinkInvalid,
    Registration,
    TransitionRefused,
    approve,
    create_sysadmin,
    purge_expired,
    register,
    reinstate,
    reject,
    suspend,
    verify_email,
)
from provisioner.workflow.end_dates import expire_accounts, renew_account
from provisioner.workflow.invitation_acceptance import Acceptance, accept_invitation
from provisioner.workflow.lifecycle import NOBODY, TRANSITIONS
from provisioner.workflow.links import make_token
from provisioner.workflow.own_data import delete_account, pseudonym
from provisioner.workflow.registration import VERIFY_PURPOSE

from ldap_helpers import snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD

SYSADMIN = "sam"
STATUSES = [NOBODY, *Status]
# How each status is reached from none, by transitions the table lists.
PATH = {NOBODY: [], Status.UNVERIFIED: ["register"], Status.VERIFIED: ["register", "verify"],
        Status.ACTIVE: ["register", "verify", "approve"],
        Status.SUSPENDED: ["register", "verify", "approve", "suspend"],
        Status.EXPIRED: ["register", "verify", "approve", "expire-account"]}
# What a refusal may leave behind: the store's tables the lifecycle must not touch.
WATCHED = (schema.audit_log, schema.jobs, schema.job_targets, schema.request_decisions,
           schema.used_tokens)


class Lifecycle:
    """Tries transitions on people through the workflow functions, and checks each
    outcome against the table."""

    def __init__(self, portal, slapd_server, inbox, caplog):
        self.portal = portal
        self.people = portal.directory.people
        self.slapd_server = slapd_server
        self.inbox = inbox
        self.caplog = caplog
        self.tried: set[tuple[Status | None, str]] = set()
        self.passwords: dict[str, str] = {}  # create-admin's, where it set one

    def status(self, uid: str) -> Status | None:
        person = self.people.find(uid)
        return person.status if person else NOBODY

    def state(self, *, links: bool = True) -> tuple:
        with self.portal.store.begin() as connection:
            rows = {table.name: sorted(map(repr, connection.execute(sa.select(table)).all()))
                    for table in WATCHED if links or table is not schema.used_tokens}
        return snapshot(self.slapd_server), rows, len(self.inbox.messages())  # cleared before each try

    def audited(self, uid: str) -> list[str]:
        with self.portal.store.begin() as connection:
            return list(connection.execute(
                sa.select(schema.audit_log.c.action).where(schema.audit_log.c.subject == uid)
                .order_by(schema.audit_log.c.id)).scalars())

    def log_lines(self, uid: str) -> list[str]:
        return [record.getMessage() for record in self.caplog.records
                if record.name == "provisioner.workflow" and f" subject={uid} " in record.getMessage()]

    def reach(self, uid: str, status: Status | None) -> None:
        for name in PATH[status]:
            self.attempt(name, uid)
        assert self.status(uid) == status

    def attempt(self, name: str, uid: str) -> None:
        """Try transition `name` on `uid` and check the outcome against the table."""
        transition = TRANSITIONS[name]
        before_status = self.status(uid)
        self.tried.add((before_status, name))
        allowed = transition.allowed_from(self.people.find(uid))
        rival = f"{uid}-rival"
        if name == "supersede" and before_status is not NOBODY:
            # Another request with the same address, nobody verified yet: its verification
            # removes the requests that share its address.
            self.people.add(NewPerson(uid=rival, display_name="Rival Request", mail=f"{uid}@example.org"))
        self.inbox.clear()
        links = name != "expire"  # purging expired requests forgets old used links too
        before = None if allowed else self.state(links=links)
        audit_before = self.audited(uid)
        self.caplog.clear()
        error = self._call(name, uid, rival)
        after = None if allowed else self.state(links=links)
        lines = self.log_lines(uid)
        if name == "supersede":
            self.forget(rival)
        if allowed:
            assert error is None, f"{name} from {before_status}: {error!r}"
            assert self.status(uid) == transition.target, f"{name} from {before_status}"
            if name == "delete":  # every entry about them now names their pseudonym
                assert self.audited(uid) == []
                assert self.audited(pseudonym(self.portal, uid))[-1] == transition.audit_action
            else:
                assert self.audited(uid)[len(audit_before):] == [transition.audit_action]
            assert len(lines) == 1 and lines[0].startswith(f"transition={name} ")
            assert lines[0].endswith(" outcome=done")
            return
        expected_error = {"register": None, "expire": None, "expire-account": None,
                          "supersede": LinkInvalid, "verify": LinkInvalid,
                          "accept-invitation": InvalidInput}.get(name, TransitionRefused)
        if name == "supersede" and before_status is NOBODY:
            expected_error = None  # no request to supersede
        assert (type(error) if error else None) == expected_error, f"{name} from {before_status}: {error!r}"
        assert self.status(uid) == before_status
        if name == "register":  # answered by mail, as every registration is: the same public answer
            assert self.audited(uid)[len(audit_before):] == ["registration-refused"]
            assert snapshot(self.slapd_server) == before[0]
            # Refused, by the table (the uid is taken) or first for an address someone proved.
            assert len(lines) == 1 and re.search(" outcome=refused error=(TransitionRefused|AddressTaken)$",
                                                 lines[0])
            return
        assert after == before, f"{name} from {before_status} changed something"
        if name in ("expire", "supersede", "expire-account"):
            assert lines == []  # only unverified requests (active accounts) are ever picked
        elif name == "verify" and before_status is NOBODY:
            assert lines == []  # a link to a request that is gone names nobody
        else:
            assert len(lines) == 1 and lines[0].startswith(f"transition={name} "), lines
            assert " outcome=refused " in lines[0]

    def _call(self, name: str, uid: str, rival: str) -> Exception | None:
        portal, mail = self.portal, f"{uid}@example.org"
        if name in ("register", "accept-invitation") and self.status(uid) is NOBODY:
            self.passwords.pop(uid, None)
        try:
            if name == "register":
                register(portal, Registration(uid=uid, display_name=f"{uid.title()} Volunteer", mail=mail,
                                              password=VOLUNTEER_PASSWORD, groups=("kitchen",),
                                              availability="day"))
            elif name in ("verify", "supersede"):
                target = self.people.find(rival if name == "supersede" else uid)
                if target is not None or name == "verify":
                    verify_email(portal, make_token(portal.secret_key, VERIFY_PURPOSE, {
                        "uid": target.uid if target else uid, "mail": mail,
                        "entry": target.entry_id if target else "gone"}, portal.clock()))
            elif name == "expire":
                purge_expired(portal, now=portal.clock() + timedelta(hours=portal.verify_link_hours + 1))
            elif name == "approve":
                approve(portal, uid, None, actor=SYSADMIN)
            elif name == "reject":
                reject(portal, uid, "We have not met you at the assembly yet.", actor=SYSADMIN)
            elif name == "suspend":
                suspend(portal, uid, "Reported by the kitchen.", actor=SYSADMIN)
            elif name == "reinstate":
                reinstate(portal, uid, actor=SYSADMIN)
            elif name == "delete":
                delete_account(portal, uid, self.passwords.get(uid, VOLUNTEER_PASSWORD), actor=uid)
            elif name == "create-admin":
                create_sysadmin(portal.directory, uid, mail, f"{uid.title()} Admin", ADMIN_PASSWORD,
                                portal=portal)
                self.passwords[uid] = ADMIN_PASSWORD
            elif name == "accept-invitation":
                accept_invitation(portal, self.invitation(mail), Acceptance(
                    uid, f"{uid.title()} Volunteer", VOLUNTEER_PASSWORD))
            elif name == "expire-account":   # far beyond the end date approval gave (availability "day")
                person = self.people.find(uid)
                if person and person.status == Status.ACTIVE and person.end_date is None:  # create-admin's
                    self.people.set_end_date(uid, utc_now().date())
                expire_accounts(replace(portal, clock=lambda: utc_now() + timedelta(days=400)))
            elif name == "renew":
                renew_account(portal, uid, utc_now().date() + timedelta(days=30), actor=SYSADMIN)
            else:
                raise AssertionError(f"the test does not know how to {name}")
        except Exception as error:  # noqa: BLE001 - the outcome is what the test looks at
            return error
        return None

    def invitation(self, mail: str) -> str:
        """A fresh invitation's token, stored without its mail or audit entry (an earlier
        open one for the address is closed first)."""
        with self.portal.store.begin() as connection:
            connection.execute(schema.invitations.update().where(
                schema.invitations.c.mail_key == mail, schema.invitations.c.state == "open")
                .values(state="withdrawn"))
            return invitations.create(connection, mail=mail, groups=["kitchen"], end_date=None,
                                      display_name=None, invited_by=SYSADMIN, now=self.portal.clock(),
                                      lifetime=timedelta(days=1))[1]

    def forget(self, uid: str) -> None:
        """Remove a person the test made, so that later transitions see only their own."""
        with suppress(NotFound):
            self.people.delete(uid)


@pytest.fixture
def lifecycle(app, directory, slapd_server, inbox, caplog):
    create_sysadmin(directory, SYSADMIN, "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    caplog.set_level(logging.INFO, logger="provisioner.workflow")
    with app.app_context():
        # Many registrations to one address: the mail limit is not what this test is about.
        portal = replace(get_portal(), limits=LimitSettings(mails_per_address_per_hour=10_000))
        yield Lifecycle(portal, slapd_server, inbox, caplog)


def test_the_table_names_every_status_and_an_audit_action_of_its_own_for_each_transition():
    assert {status for transition in TRANSITIONS.values() for status in transition.sources} == set(STATUSES)
    assert {transition.target for transition in TRANSITIONS.values()} == set(STATUSES)
    assert len({transition.audit_action for transition in TRANSITIONS.values()}) == len(TRANSITIONS)


def test_every_transition_from_every_status_does_what_the_table_says(lifecycle):
    for number, (status, name) in enumerate(itertools.product(STATUSES, TRANSITIONS)):
        uid = f"pair{number}"
        lifecycle.reach(uid, status)
        lifecycle.attempt(name, uid)
        lifecycle.forget(uid)
    assert lifecycle.tried >= set(itertools.product(STATUSES, TRANSITIONS))


def test_any_sequence_of_transitions_follows_the_table(lifecycle):
    uids = (f"walk{number}" for number in itertools.count())

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(st.lists(st.sampled_from(sorted(TRANSITIONS)), min_size=1, max_size=8))
    def walk(names):
        uid = next(uids)
        try:
            for name in names:
                lifecycle.attempt(name, uid)
        finally:
            lifecycle.forget(uid)

    walk()


def test_a_refusal_names_the_person_the_status_and_the_transition(lifecycle):
    lifecycle.reach("vera", Status.SUSPENDED)
    with pytest.raises(TransitionRefused, match="^vera is suspended: cannot approve$"):
        approve(lifecycle.portal, "vera", None, actor=SYSADMIN)
    with pytest.raises(TransitionRefused, match="^nadia is not registered: cannot suspend$"):
        suspend(lifecycle.portal, "nadia", "no reason", actor=SYSADMIN)


def test_create_admin_does_not_unlock_a_suspended_account(lifecycle):
    """It sets the password, and slapd clears every lock when a password is set."""
    lifecycle.reach("vera", Status.SUSPENDED)
    with pytest.raises(TransitionRefused, match="vera is suspended: cannot create-admin"):
        create_sysadmin(lifecycle.portal.directory, "vera", "vera@example.org", "Vera", ADMIN_PASSWORD)
    assert not lifecycle.people.check_password("vera", ADMIN_PASSWORD)
    assert not lifecycle.people.check_password("vera", VOLUNTEER_PASSWORD)  # still locked
