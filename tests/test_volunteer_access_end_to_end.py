"""Approval to working access on all three real services, and suspension taking it all away."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from provisioner.jobs import GRANT
from provisioner.resources import get_store
from provisioner.store import jobs

from job_helpers import make_worker, queue
from portal_actions import VOLUNTEER_PASSWORD
from service_fixtures import offer
from service_views import assert_access, log_in, members, roster, save_page


@pytest.fixture
def approved(app, sysadmin, visitor, inbox, directory, mailman, wiki, redmine, tmp_path):
    """Vera registered, verified and approved into kitchen and tech, on an inventory offering all."""
    offer(app, tmp_path / "inventory", mailman, wiki, redmine)
    visitor.register(groups=["kitchen", "tech"])
    visitor.confirm(inbox.link_in("vera@example.org"))
    sysadmin.approve("vera", ["kitchen", "tech"])
    return make_worker(app, directory)


def latest_job(app, uid="vera") -> jobs.Job:
    with app.app_context(), get_store().begin() as connection:
        return jobs.latest_for(connection, uid)


def test_an_approved_volunteer_gets_lists_redmine_and_wiki_for_both_groups(
        app, approved, mailman, wiki, redmine):
    assert approved.run_once() == 1
    grant = latest_job(app)
    assert (grant.kind, grant.state) == ("grant", "succeeded"), grant.error
    assert {result.service for result in grant.results} == {"directory", "lists", "wiki", "redmine"}

    assert_access(mailman, redmine, wiki, "vera", VOLUNTEER_PASSWORD, name="Vera Volunteer", held=True)
    assert save_page(wiki, "vera", VOLUNTEER_PASSWORD, "wg:media:notes", "Hello") == 403


def test_a_second_run_of_the_same_grant_changes_nothing(app, approved):
    approved.run_once()
    first = latest_job(app)
    queue(app, GRANT, first.targets)            # the same batch again
    approved.run_once()
    again = latest_job(app)
    assert again.id != first.id and again.state == "succeeded"
    assert {result.service for result in again.results} == {"directory", "lists", "wiki", "redmine"}
    assert {result.status for result in again.results} == {"ok"}


def test_suspension_takes_lists_redmine_and_wiki_away(app, approved, sysadmin, mailman, wiki,
                                                      redmine):
    approved.run_once()
    sysadmin.submit("/admin/people", {"reason": "Left the occupation"},
                    action="/admin/people/vera/suspend")
    assert approved.run_once() == 1
    revoke = latest_job(app)
    assert (revoke.kind, revoke.state) == ("revoke", "succeeded"), revoke.error

    assert_access(mailman, redmine, wiki, "vera", VOLUNTEER_PASSWORD, name="Vera Volunteer", held=False)


def test_a_service_down_fails_the_job_naming_it_the_others_are_done_and_a_retry_completes(
        app, approved, mailman, wiki, redmine):
    mailman.stop()
    approved.run_once()
    failed = latest_job(app)
    assert failed.state == "queued" and "Mailman REST API" in failed.error    # a retry is planned
    mailman.start()
    assert log_in(redmine, "vera", VOLUNTEER_PASSWORD) == 200                  # the others went on
    assert save_page(wiki, "vera", VOLUNTEER_PASSWORD, "wg:tech:notes", "Cables") is True

    approved.clock = lambda: failed.not_before.replace(tzinfo=UTC) + timedelta(seconds=1)
    assert approved.run_once() == 1
    done = latest_job(app)
    assert done.id == failed.id and done.state == "succeeded" and done.attempts == 2
    assert "vera@example.org" in roster(mailman, "kitchen")
    assert members(redmine, "wg-kitchen") == {"Vera Volunteer": ["Developer"]}   # not twice
