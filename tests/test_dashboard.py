"""The sysadmins' home: per service, the people provisioned, waiting and failed, and the
jobs of the last days, as SVG charts with their numbers. Real slapd and store; the jobs
and their outcomes are written through the queue's own functions, as the worker does."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from provisioner.clock import utc_now
from provisioner.directory import Status
from provisioner.jobs import GRANT
from provisioner.resources import get_portal, get_store
from provisioner.store import drift, jobs
from provisioner.workflow import NotAllowed, create_sysadmin
from provisioner.workflow.dashboard import dashboard

from job_helpers import add_volunteers
from portal_actions import ADMIN_PASSWORD, VOLUNTEER_PASSWORD, Visitor

PAGE = "/admin"


def run_job(app, targets: dict[str, list[str]], outcomes: dict[tuple[str, str], str], *, at=None,
            succeeded: bool = True) -> int:
    """A grant for `targets`, claimed, its outcomes ((uid, service) -> status) recorded and
    finished at `at`, as the worker would."""
    at = at or utc_now()
    with app.app_context(), get_store().begin() as connection:
        job_id = jobs.enqueue(connection, GRANT, targets, created_by="sam", now=at, max_attempts=1)
        [claimed] = jobs.claim(connection, "w", now=at, lease=timedelta(minutes=5))
        jobs.record_results(connection, [
            jobs.JobResult(job_id=job_id, attempt=claimed.attempts, worker="w", uid=uid, service=service,
                           task="t", status=status, message=None, at=at)
            for (uid, service), status in outcomes.items()])
        jobs.finish(connection, job_id, "w", succeeded=succeeded, error=None if succeeded else "x",
                    now=at, retry_at=None)
    assert job_id is not None
    return job_id


@pytest.fixture
def sam(directory):
    create_sysadmin(directory, "sam", "sam@example.org", "Sam Admin", ADMIN_PASSWORD)
    return "sam"


def counted(app, actor: str = "sam"):
    with app.test_request_context():
        return dashboard(get_portal(), actor=actor)


def test_each_service_counts_active_people_in_groups_by_their_newest_outcome(app, directory, sam):
    add_volunteers(directory, 5, groups=("kitchen",))
    directory.people.set_status("vol0004", Status.SUSPENDED)        # not counted, nor sam (no group)
    everywhere = {("vol0000", service): "changed" for service in ("lists", "wiki", "redmine")}
    run_job(app, {"vol0000": ["kitchen"], "vol0001": ["kitchen"]},
            {**everywhere, ("vol0001", "lists"): "failed", ("vol0001", "wiki"): "ok",
             ("vol0001", "redmine"): "ok", ("vol0004", "lists"): "ok"}, succeeded=False)
    # vol0001's list failed, then a later job did it while Redmine failed: the newest counts.
    run_job(app, {"vol0001": ["kitchen"]}, {("vol0001", "lists"): "ok", ("vol0001", "redmine"): "failed"})
    with app.app_context(), get_store().begin() as connection:      # vol0002: a job still to run
        jobs.enqueue(connection, GRANT, {"vol0002": ["kitchen"]}, created_by="sam", now=utc_now(),
                     max_attempts=1)
    # vol0003 has no outcome yet: waiting too.

    found = counted(app)
    assert found.people == 4
    counts = {c.service: (c.provisioned, c.waiting, c.failed) for c in found.services}
    assert counts == {"lists": (2, 2, 0), "wiki": (2, 2, 0), "redmine": (1, 2, 1)}
    assert all(c.offered for c in found.services)


def test_a_service_every_outcome_says_is_not_offered_is_shown_so(app, directory, sam):
    add_volunteers(directory, 2, groups=("kitchen",))
    run_job(app, {"vol0000": ["kitchen"], "vol0001": ["kitchen"]},
            {(uid, service): "not_offered" if service == "wiki" else "ok"
             for uid in ("vol0000", "vol0001") for service in ("lists", "wiki", "redmine")})
    offered = {c.service: c.offered for c in counted(app).services}
    assert offered == {"lists": True, "wiki": False, "redmine": True}


def test_the_days_chart_counts_the_jobs_that_ended_each_day(app, directory, sam):
    add_volunteers(directory, 1, groups=("kitchen",))
    now = utc_now()
    target = {"vol0000": ["kitchen"]}
    for at, succeeded in ((now, True), (now, True), (now, False), (now - timedelta(days=3), False),
                          (now - timedelta(days=20), True)):                 # before the chart
        run_job(app, target, {}, at=at, succeeded=succeeded)
    days = counted(app).days
    assert len(days) == 14 and days[-1].day == now.date()
    assert [(day.succeeded, day.failed) for day in days] == (
        [(0, 0)] * 10 + [(0, 1), (0, 0), (0, 0), (2, 1)])


def number_in_chart(page: str, chart_title: str, label: str) -> int:
    """The number the SVG chart titled `chart_title` says for `label` (its <title> text)."""
    match = re.search(rf"<title id=\"[^\"]+\">{re.escape(chart_title)}: ([^<]*)</title>", page)
    assert match, f"no chart {chart_title!r}"
    return dict((part.rsplit(" ", 1)[0], int(part.rsplit(" ", 1)[1]))
                for part in match.group(1).split(", "))[label]


def test_a_sysadmin_lands_on_the_dashboard_which_draws_the_counts(app, directory, sysadmin):
    add_volunteers(directory, 3, groups=("kitchen",))
    run_job(app, {"vol0000": ["kitchen"]}, {("vol0000", "lists"): "failed", ("vol0000", "redmine"): "ok"})
    response = sysadmin.client.get(PAGE)
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    assert "3 active people are in working groups." in page
    assert number_in_chart(page, "Mailing lists", "Failed") == 1
    assert number_in_chart(page, "Mailing lists", "Waiting") == 2
    assert number_in_chart(page, "Redmine", "Provisioned") == 1
    assert "<script" not in page and page.count("<svg") == 4

    again = Visitor(app.test_client())
    assert again.log_in("sam", ADMIN_PASSWORD).location == PAGE


def test_a_volunteer_cannot_see_the_dashboard_and_lands_on_their_account(app, directory, sam):
    add_volunteers(directory, 1, groups=("kitchen",))
    directory.people.set_password("vol0000", VOLUNTEER_PASSWORD)
    volunteer = Visitor(app.test_client())
    assert volunteer.log_in("vol0000", VOLUNTEER_PASSWORD).location == "/account"
    assert volunteer.client.get(PAGE).status_code == 403
    with pytest.raises(NotAllowed):
        counted(app, actor="vol0000")


def record_drift_check(app, differences: list[tuple[str, str]], *, services=("lists", "wiki", "redmine"),
                       error: str | None = None) -> None:
    with app.app_context(), get_store().begin() as connection:
        drift.record_check(connection, at=utc_now(), services=services, error=error,
                           differences=[drift.Difference(service, identity, "x")
                                        for service, identity in differences])


def test_drifted_counts_whom_the_last_check_found_on_each_service_it_looked_at(app, directory, sam):
    assert [c.drifted for c in counted(app).services] == [None, None, None]    # never checked
    record_drift_check(app, [("lists", "vol0000"), ("lists", "stranger@example.org"), ("lists", "vol0000"),
                             ("redmine", "mallory")], services=("lists", "redmine"))
    assert {c.service: c.drifted for c in counted(app).services} == {"lists": 2, "wiki": None, "redmine": 1}
    record_drift_check(app, [], error="Mailman does not answer")             # the last one counts
    assert [c.drifted for c in counted(app).services] == [None, None, None]


def test_the_page_draws_drifted_beside_the_others_and_names_the_last_check(app, directory, sysadmin):
    record_drift_check(app, [("wiki", "vol0000")])
    page = html.unescape(sysadmin.client.get(PAGE).get_data(as_text=True))
    assert number_in_chart(page, "Wiki", "Drifted") == 1 and number_in_chart(page, "Redmine", "Drifted") == 0
    assert "(1 difference)" in page
    record_drift_check(app, [], error="Mailman does not answer")
    page = html.unescape(sysadmin.client.get(PAGE).get_data(as_text=True))
    assert "could not finish: Mailman does not answer" in page and "Drifted 0" not in page
