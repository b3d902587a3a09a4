"""What sysadmins and volunteers see of provisioning: job list, job progress, retry, cancel."""

from __future__ import annotations

from provisioner.jobs import GRANT

from job_helpers import add_volunteers, job, make_worker, queue
from portal_actions import VOLUNTEER_PASSWORD, Visitor


def test_the_job_page_shows_each_volunteers_result_per_service(app, sysadmin, directory):
    job_id = queue(app, GRANT, add_volunteers(directory, 2))
    page = sysadmin.client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Waiting" in page and "Nothing has run yet." in page
    make_worker(app, directory).run_once()
    page = sysadmin.client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Done" in page
    assert page.count("Account check") == 2 and "vol0000" in page and "vol0001" in page
    listing = sysadmin.client.get("/admin/jobs").get_data(as_text=True)
    assert f"#{job_id}" in listing and "vol0000, vol0001" in listing


def test_the_progress_feed_gives_state_and_results_as_json(app, sysadmin, directory):
    job_id = queue(app, GRANT, add_volunteers(directory, 1))
    progress = sysadmin.client.get(f"/admin/jobs/{job_id}.json").json
    assert (progress["state"], progress["finished"], progress["results"]) == ("queued", False, [])
    make_worker(app, directory).run_once()
    progress = sysadmin.client.get(f"/admin/jobs/{job_id}.json").json
    assert progress["finished"] is True
    assert progress["results"][0] | {"task": None} == {
        "attempt": 1, "uid": "vol0000", "service": "Account check", "task": None, "status": "ok",
        "message": "account and working groups in place"}


def test_a_failed_job_shows_its_error_and_a_sysadmin_retries_it_after_the_fix(app, sysadmin,
                                                                              directory):
    targets = add_volunteers(directory, 1)
    directory.groups.remove_member("wg-kitchen", "vol0000")
    job_id = queue(app, GRANT, targets, max_attempts=1)
    make_worker(app, directory).run_once()
    page = sysadmin.client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "Failed" in page and "vol0000 is not in the LDAP group(s) wg-kitchen" in page
    directory.groups.add_member("wg-kitchen", "vol0000")
    sysadmin.submit(f"/admin/jobs/{job_id}", {}, action=f"/admin/jobs/{job_id}/retry")
    assert job(app, job_id).state == "queued"
    make_worker(app, directory).run_once()
    assert job(app, job_id).state == "succeeded"


def test_a_sysadmin_cancels_a_queued_job_and_the_worker_leaves_it(app, sysadmin, directory):
    job_id = queue(app, GRANT, add_volunteers(directory, 1))
    sysadmin.submit(f"/admin/jobs/{job_id}", {}, action=f"/admin/jobs/{job_id}/cancel")
    assert job(app, job_id).state == "cancelled"
    assert make_worker(app, directory).run_once() == 0


def test_the_volunteer_sees_the_state_of_their_access(app, sysadmin, directory, visitor, inbox):
    visitor.register()
    visitor.confirm(inbox.link_in("vera@example.org"))
    sysadmin.approve("vera", ["kitchen"])
    volunteer = Visitor(app.test_client())
    volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    assert "Access is being set up" in volunteer.client.get("/account").get_data(as_text=True)
    make_worker(app, directory).run_once()
    page = volunteer.client.get("/account").get_data(as_text=True)
    assert "Account check" in page and "Done" in page and "being set up" not in page
