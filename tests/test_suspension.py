"""Suspending locks the account and revokes access; reinstating gives both back."""

from __future__ import annotations

from provisioner.directory import Status
from provisioner.resources import get_store
from provisioner.store import jobs

from job_helpers import add_volunteers, make_worker
from portal_actions import Visitor

PASSWORD = "a volunteer's long password"


def latest_job(app, uid):
    with app.app_context(), get_store().begin() as connection:
        return jobs.latest_for(connection, uid)


def test_suspending_locks_the_ldap_account_and_revokes_access(app, sysadmin, directory):
    add_volunteers(directory, 1)
    directory.people.set_password("vol0000", PASSWORD)
    assert directory.people.check_password("vol0000", PASSWORD)
    response = sysadmin.submit("/admin/people", {"reason": "Harassment at the kitchen"},
                               action="/admin/people/vol0000/suspend")
    assert "vol0000 is suspended" in sysadmin.client.get(response.location).get_data(as_text=True)
    assert directory.people.get("vol0000").status == Status.SUSPENDED
    assert not directory.people.check_password("vol0000", PASSWORD)   # ppolicy lock: no bind
    revoke = latest_job(app, "vol0000")
    assert (revoke.kind, revoke.state, revoke.targets) == ("revoke", "queued",
                                                           {"vol0000": ["kitchen", "tech"]})
    make_worker(app, directory).run_once()
    assert latest_job(app, "vol0000").state == "succeeded"
    assert Visitor(app.test_client()).log_in("vol0000", PASSWORD).status_code == 401


def test_reinstating_unlocks_and_grants_again(app, sysadmin, directory):
    add_volunteers(directory, 1)
    directory.people.set_password("vol0000", PASSWORD)
    sysadmin.submit("/admin/people", {"reason": "Pending review"}, action="/admin/people/vol0000/suspend")
    sysadmin.submit("/admin/people", {}, action="/admin/people/vol0000/reinstate")
    assert directory.people.get("vol0000").status == Status.ACTIVE
    assert directory.people.check_password("vol0000", PASSWORD)
    make_worker(app, directory).run_once()
    grant = latest_job(app, "vol0000")
    assert (grant.kind, grant.state) == ("grant", "succeeded")
    assert Visitor(app.test_client()).log_in("vol0000", PASSWORD).status_code == 302


def test_suspending_needs_a_reason_and_nobody_suspends_themselves(app, sysadmin, directory):
    add_volunteers(directory, 1)
    response = sysadmin.submit("/admin/people", {"reason": " "}, action="/admin/people/vol0000/suspend")
    assert "not suspended" in sysadmin.client.get(response.location).get_data(as_text=True)
    response = sysadmin.submit("/admin/people", {"reason": "test"}, action="/admin/people/sam/suspend")
    assert "cannot suspend yourself" in sysadmin.client.get(response.location).get_data(as_text=True)
    assert directory.people.get("sam").status == Status.ACTIVE
    assert latest_job(app, "vol0000") is None


def test_the_newest_decision_wins_over_a_queued_older_one(app, sysadmin, directory):
    add_volunteers(directory, 1)
    sysadmin.submit("/admin/people", {"reason": "Pending review"}, action="/admin/people/vol0000/suspend")
    with app.app_context(), get_store().begin() as connection:
        (revoke,) = jobs.recent(connection)
    sysadmin.submit("/admin/people", {}, action="/admin/people/vol0000/reinstate")
    with app.app_context(), get_store().begin() as connection:
        superseded = jobs.get(connection, revoke.id)
    assert superseded.state == "cancelled" and superseded.error == "superseded by a newer grant"
