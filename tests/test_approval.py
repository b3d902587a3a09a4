"""Sysadmins approve and reject verified requests; nobody else can."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_store
from provisioner.store import audit, jobs
from provisioner.store.schema import audit_log

from ldap_helpers import snapshot
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD, Visitor

ADMIN_PAGES = [
    ("get", "/admin/requests"),
    ("get", "/admin/audit"),
    ("post", "/admin/requests/vera/approve"),
    ("post", "/admin/requests/approve-selected"),
    ("post", "/admin/requests/vera/reject"),
    ("post", "/admin/requests/reject-selected"),
    ("get", "/admin/audit.csv"),
    ("get", "/admin/people"),
    ("post", "/admin/people/vera/suspend"),
    ("post", "/admin/people/vera/reinstate"),
    ("get", "/admin/coordinators"),
    ("post", "/admin/coordinators"),
    ("post", "/admin/coordinators/kitchen/vera/remove"),
    ("get", "/admin/jobs"),
    ("get", "/admin/jobs/1"),
    ("get", "/admin/jobs/1.json"),
    ("post", "/admin/jobs/1/retry"),
    ("post", "/admin/jobs/1/cancel"),
]


def queued_grants(app) -> list[dict[str, list[str]]]:
    """The targets of each queued grant job, oldest first."""
    with app.app_context(), get_store().begin() as connection:
        return [job.targets for job in reversed(jobs.recent(connection, state="queued"))
                if job.kind == "grant"]


def test_the_queue_shows_verified_requests_with_what_they_wrote(sysadmin, verified, visitor):
    verified()
    visitor.register(uid="uma", mail="uma@example.org")  # not verified: not in the queue
    page = sysadmin.client.get("/admin/requests").get_data(as_text=True)
    assert 'id="request-vera"' in page and "Vera Volunteer" in page
    assert "Free on weekends" in page and "cooking" in page
    assert 'id="request-uma"' not in page


def test_approving_moves_the_person_adds_groups_mails_and_queues_provisioning(
        app, sysadmin, verified, directory, inbox):
    verified()
    inbox.clear()
    response = sysadmin.approve("vera", ["kitchen", "media"])  # the sysadmin changes the groups
    assert response.status_code == 302
    person = directory.people.get("vera")
    assert not person.pending and person.status == Status.ACTIVE
    assert directory.groups.of("vera") == ["wg-kitchen", "wg-media"]
    assert "Welcome" in inbox.only_message("vera@example.org")["Subject"]
    assert queued_grants(app) == [{"vera": ["kitchen", "media"]}]
    page = sysadmin.client.get("/admin/requests").get_data(as_text=True)
    assert "vera is approved." in page and 'id="request-vera"' not in page


def test_the_approved_volunteer_logs_in_and_sees_their_groups(sysadmin, verified, app):
    verified()
    sysadmin.approve("vera", ["kitchen", "tech"])
    volunteer = Visitor(app.test_client())
    response = volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    assert response.status_code == 302 and response.location.endswith("/account")
    page = volunteer.client.get("/account").get_data(as_text=True)
    assert "Kitchen" in page and "Tech" in page and "Media" not in page
    assert "Access is being set up" in page


def test_approving_several_at_once_uses_the_groups_they_asked_for(sysadmin, verified, directory):
    verified("vera", groups=["kitchen"])
    verified("victor", groups=["legal", "medics"])
    response = sysadmin.submit("/admin/requests", {"uid": ["vera", "victor"]},
                               action="/admin/requests/approve-selected")
    assert response.status_code == 302
    assert directory.groups.of("vera") == ["wg-kitchen"]
    assert directory.groups.of("victor") == ["wg-legal", "wg-medics"]


def test_approving_again_after_a_failure_half_way_completes_without_duplicates(
        app, sysadmin, verified, directory, inbox):
    verified()
    # The state a failure leaves between the move and the group adds.
    directory.people.activate("vera")
    assert 'id="request-vera"' in sysadmin.client.get("/admin/requests").get_data(as_text=True)
    assert sysadmin.approve("vera", ["kitchen"]).status_code == 302
    assert directory.groups.of("vera") == ["wg-kitchen"]
    assert directory.people.get("vera").status == Status.ACTIVE
    assert queued_grants(app) == [{"vera": ["kitchen"]}]
    again = sysadmin.approve("vera", ["kitchen"])
    assert "vera is active: cannot approve" in sysadmin.client.get(again.location).get_data(as_text=True)
    assert directory.groups.get("wg-kitchen").members == ("vera",)


def test_rejecting_mails_the_reason_and_deletes_the_request(app, sysadmin, verified, directory,
                                                           inbox):
    verified()
    inbox.clear()
    sysadmin.reject("vera", "We only take people we have met at the assembly.")
    assert directory.people.find("vera") is None
    mail = inbox.only_message("vera@example.org")
    assert "We only take people we have met at the assembly." in mail.get_content()
    with app.app_context(), get_store().begin() as connection:
        (entry, *_) = audit.entries(connection, person="vera")
    assert (entry.action, entry.actor) == ("rejected", "sam")


def test_rejecting_without_a_reason_is_refused(sysadmin, verified, directory, inbox, slapd_server):
    verified()
    inbox.clear()
    before = snapshot(slapd_server)
    response = sysadmin.reject("vera", "   ")
    assert "not rejected" in sysadmin.client.get(response.location).get_data(as_text=True)
    assert snapshot(slapd_server) == before and inbox.messages() == []


def test_approving_an_unverified_request_is_refused(sysadmin, visitor, directory):
    visitor.register()
    response = sysadmin.approve("vera", ["kitchen"])
    assert "not verified yet" in sysadmin.client.get(response.location).get_data(as_text=True)
    assert directory.people.get("vera").pending


def test_approving_a_request_whose_address_an_account_took_meanwhile_changes_nothing(
        app, sysadmin, verified, directory, inbox, slapd_server):
    verified()
    directory.people.add(NewPerson(uid="vic", display_name="Vic Other", mail="VERA@example.org",
                                   status=Status.ACTIVE), pending=False)
    inbox.clear()
    before = snapshot(slapd_server)
    response = sysadmin.approve("vera", ["kitchen"])
    page = sysadmin.client.get(response.location).get_data(as_text=True)
    assert "vera: not approved: another account has the address of" in page
    assert snapshot(slapd_server) == before
    assert queued_grants(app) == [] and inbox.messages() == []
    assert 'id="request-vera"' in page                     # still queued, to be rejected


@pytest.mark.parametrize("method, path", ADMIN_PAGES)
def test_a_volunteer_gets_403_on_every_admin_page(app, sysadmin, verified, directory, method,
                                                  path, slapd_server):
    verified()
    sysadmin.approve("vera", ["kitchen"])
    verified("victor")
    volunteer = Visitor(app.test_client())
    volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    before = snapshot(slapd_server)
    token = volunteer.csrf_token("/account")
    response = getattr(volunteer.client, method)(path.replace("vera", "victor"),
                                                 data={"csrf_token": token, "reason": "no",
                                                       "uid": "victor", "groups": "kitchen"})
    assert response.status_code == 403
    assert snapshot(slapd_server) == before


@pytest.mark.parametrize("method, path", ADMIN_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, directory, method, path):
    response = getattr(client, method)(path)
    if method == "get":
        assert response.status_code == 302 and "/login?next=" in response.location
    else:
        assert response.status_code == 400  # no CSRF token: refused before anything else


def test_the_audit_log_lists_newest_first_and_filters_by_person(app, sysadmin, verified):
    verified()
    verified("victor")
    sysadmin.approve("vera", ["kitchen"])
    page = sysadmin.client.get("/admin/audit?person=vera").get_data(as_text=True)
    actions = [action for action in ("approved", "email-verified", "registered") if action in page]
    assert actions == ["approved", "email-verified", "registered"]
    assert page.index("approved") < page.index("email-verified") < page.index("registered")
    assert "victor" not in page
    assert "victor" in sysadmin.client.get("/admin/audit").get_data(as_text=True)


def test_no_password_or_token_reaches_the_audit_log(app, sysadmin, verified, inbox, visitor):
    verified()
    link = inbox.link_in("vera@example.org")
    visitor.log_in("vera", "a wrong password for vera")
    sysadmin.approve("vera", ["kitchen"])
    with app.app_context(), get_store().begin() as connection:
        rows = connection.execute(sa.select(audit_log)).all()
    dumped = repr(rows)
    for secret in (VOLUNTEER_PASSWORD, ADMIN_PASSWORD, "a wrong password for vera",
                   link.rsplit("/", 1)[1]):
        assert secret not in dumped
    assert {"registered", "email-verified", "login", "login-failed", "approved"} <= {
        row.action for row in rows}
