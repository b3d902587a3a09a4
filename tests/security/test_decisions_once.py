"""Concurrency is an input: clicks at once decide a request once (one job, one audit entry,
one mail), and everyone else is told it was decided already."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from provisioner.directory import DirectoryError, Status
from provisioner.resources import get_portal, get_store
from provisioner.store import decisions
from provisioner.store.schema import audit_log, job_targets, request_decisions
from provisioner.workflow import WorkflowError, approve, initialise_directory, reject

from ldap_helpers import root_connection
from portal_actions import CSRF_TOKEN
from suite_config import ORGANISATION

CLICKS = 4


def at_once(count: int, action) -> list:
    """Run action(i) in `count` threads released together; their results or exceptions."""
    ready = threading.Barrier(count)
    outcomes: list = [None] * count

    def run(i: int) -> None:
        ready.wait(timeout=30)
        try:
            outcomes[i] = action(i)
        except Exception as error:  # noqa: BLE001 - the outcome is what the test looks at
            outcomes[i] = error
    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def browsers_of(app, visitor) -> list:
    """`CLICKS` test clients that share one logged-in browser's cookies (one person, many tabs)."""
    clients = []
    for _ in range(CLICKS):
        client = app.test_client()
        for cookie in visitor.client._cookies.values():
            client.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
        clients.append(client)
    return clients


def counts(app, uid: str) -> tuple[int, int]:
    """(grant jobs for uid, 'approved' audit entries for uid)."""
    with app.app_context(), get_store().begin() as connection:
        jobs = connection.execute(sa.select(sa.func.count()).select_from(job_targets)
                                  .where(job_targets.c.uid == uid)).scalar_one()
        audited = connection.execute(sa.select(sa.func.count()).select_from(audit_log)
                                     .where(audit_log.c.action == "approved",
                                            audit_log.c.subject == uid)).scalar_one()
    return jobs, audited


def welcome_mails(inbox, uid: str) -> int:
    return sum("your account is ready" in message["Subject"] and message["To"] == f"{uid}@example.org"
               for message in inbox.messages())


@pytest.mark.parametrize("bulk", [False, True], ids=["one", "selected"])
def test_four_approvals_at_once_make_one_job_one_audit_entry_one_mail(app, sysadmin, verified, inbox, bulk):
    verified("vera")
    inbox.clear()
    page = sysadmin.client.get("/admin/requests").get_data(as_text=True)
    token = CSRF_TOKEN.search(page).group(1)
    clients = browsers_of(app, sysadmin)
    if bulk:
        url, form = "/admin/requests/approve-selected", {"uid": ["vera"], "csrf_token": token}
    else:
        url, form = "/admin/requests/vera/approve", {"groups": ["kitchen"], "csrf_token": token}
    answers = at_once(CLICKS, lambda i: clients[i].post(url, data=form).status_code)
    assert answers == [302] * CLICKS
    assert counts(app, "vera") == (1, 1)
    assert welcome_mails(inbox, "vera") == 1
    with app.app_context():
        assert get_portal().directory.people.get("vera").status == Status.ACTIVE


def test_concurrent_decisions_tell_the_losers_it_was_decided(app, verified, sysadmin, inbox):
    verified("vera")
    inbox.clear()

    def decide(i: int):
        with app.app_context():
            portal = get_portal()
            if i % 2:
                return reject(portal, "vera", "duplicate request", actor="sam")
            return approve(portal, "vera", ["kitchen"], actor="sam")
    outcomes = at_once(CLICKS, decide)
    refused = [outcome for outcome in outcomes if isinstance(outcome, WorkflowError)]
    assert len(refused) == CLICKS - 1, outcomes
    # Each is told the request was decided: by the claim, or by the status it left.
    decided = ("vera is already approved", "vera is already rejected", "vera is already being ",
               "vera is active: cannot ")
    assert all(str(error).startswith(decided) for error in refused), refused
    winners = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    assert len(winners) == 1
    decided_mails = [m for m in inbox.messages() if m["To"] == "vera@example.org"]
    assert len(decided_mails) == 1


def test_a_decision_after_a_rejection_is_told_it_was_rejected(app, verified, sysadmin, inbox):
    """The rejection deletes the request; a slower click still learns why it is gone."""
    verified("vera")
    with app.app_context():
        portal = get_portal()
        reject(portal, "vera", "duplicate request", actor="sam")
        inbox.clear()
        for late in (lambda: approve(portal, "vera", ["kitchen"], actor="sam"),
                     lambda: reject(portal, "vera", "again", actor="sam")):
            with pytest.raises(WorkflowError, match="vera is already rejected"):
                late()
        assert portal.directory.people.find("vera") is None
    assert inbox.messages() == []


def test_a_rejection_during_an_approval_is_told_it_is_being_approved(app, verified, sysadmin, inbox):
    """The window an approval leaves: the request moved to ou=people, not yet active."""
    verified("vera")
    with app.app_context():
        portal = get_portal()
        portal.directory.people.activate("vera")
        inbox.clear()
        with pytest.raises(WorkflowError, match="vera is already being approved: if that approval"):
            reject(portal, "vera", "duplicate request", actor="sam")
        assert portal.directory.people.find("vera") is not None
    assert inbox.messages() == []


def test_a_decision_during_a_rejection_is_told_it_is_being_rejected(app, verified, sysadmin, inbox):
    """The window a rejection leaves: the request deleted, its claim not yet marked decided."""
    verified("vera")
    with app.app_context():
        portal = get_portal()
        person = portal.directory.people.find("vera")
        assert person is not None and person.entry_id is not None
        with portal.store.begin() as connection:
            assert decisions.claim(connection, person.entry_id, "vera", "reject", actor="sam",
                                   now=portal.clock()).won
        portal.directory.people.delete("vera")
        inbox.clear()
        for late in (lambda: approve(portal, "vera", ["kitchen"], actor="sam"),
                     lambda: reject(portal, "vera", "again", actor="sam")):
            with pytest.raises(WorkflowError, match="vera is already being rejected"):
                late()
    assert inbox.messages() == []


def test_a_failed_approval_releases_its_claim_and_a_retry_completes_it(
        app, verified, sysadmin, slapd_server, catalogue):
    verified("vera")
    kitchen = f"cn=wg-kitchen,{slapd_server.layout.groups}"
    with root_connection(slapd_server) as conn:  # the group vanishes: approval fails half-way
        assert conn.delete(kitchen)
    with app.app_context():
        portal = get_portal()
        with pytest.raises(DirectoryError):
            approve(portal, "vera", ["kitchen"], actor="sam")
        assert portal.directory.people.get("vera").status == Status.VERIFIED
        initialise_directory(portal.directory, catalogue, ORGANISATION)
        approve(portal, "vera", ["kitchen"], actor="sam")
        assert portal.directory.people.get("vera").status == Status.ACTIVE
    assert counts(app, "vera") == (1, 1)


def test_a_stale_claim_is_taken_over(app, verified, sysadmin):
    verified("vera")
    with app.app_context():
        portal = get_portal()
        person = portal.directory.people.get("vera")
        long_ago = portal.clock() - decisions.STALE_AFTER * 2
        with portal.store.begin() as connection:  # a portal process died holding the claim
            connection.execute(request_decisions.insert().values(
                entry_id=person.entry_id, uid="vera", decision="approve", actor="sam",
                claimed_at=long_ago))
        approve(portal, "vera", ["kitchen"], actor="sam")
        assert portal.directory.people.get("vera").status == Status.ACTIVE


def test_a_fresh_claim_is_respected(app, verified, sysadmin):
    verified("vera")
    with app.app_context():
        portal = get_portal()
        person = portal.directory.people.get("vera")
        with portal.store.begin() as connection:  # another sysadmin is approving right now
            decisions.claim(connection, person.entry_id, "vera", "approve", actor="sam",
                            now=portal.clock())
        with pytest.raises(WorkflowError, match="already being approved"):
            reject(portal, "vera", "no", actor="sam")
        assert portal.directory.people.get("vera").status == Status.VERIFIED
