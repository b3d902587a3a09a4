"""Drift between the directory and the services (issue 17): `provisioner reconcile`, the
sysadmins' drift page, the kept checks and the reconcile job, against the real services."""

from __future__ import annotations

from datetime import timedelta

import pytest

from provisioner.cli import cli
from provisioner.clock import utc_now
from provisioner.resources import get_store
from provisioner.store import audit, drift
from provisioner.store import jobs as queue
from provisioner.store.drift import Difference

from job_helpers import make_worker
from portal_actions import VOLUNTEER_PASSWORD, Visitor
from service_fixtures import LIST_DOMAIN, offer
from service_views import acl_lines, add_stranger, remove_from_roster, roster

KITCHEN_LIST = f"wg-kitchen@{LIST_DOMAIN}"


@pytest.fixture
def reconcile(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(cli, ["reconcile", *args])


def jobs_of(app, kind: str = queue.RECONCILE) -> list[queue.Job]:
    with app.app_context(), get_store().begin() as connection:
        return [job for job in queue.recent(connection) if job.kind == kind]


def stored_job(app, job_id: int) -> queue.Job:
    with app.app_context(), get_store().begin() as connection:
        found = queue.get(connection, job_id)
    assert found is not None
    return found


def test_the_store_keeps_the_newest_checks_with_their_differences_in_order(any_store_app):
    start = utc_now()
    with any_store_app.app_context(), get_store().begin() as connection:
        assert drift.last_check(connection) is None
        for number in range(drift.KEEP_CHECKS + 2):
            drift.record_check(connection, at=start + timedelta(days=number), services=["lists", "wiki"],
                               differences=[Difference("wiki", f"uid{number}", "would go"),
                                            Difference("lists", "x@example.net", "would be removed")])
        last = drift.record_check(connection, at=start + timedelta(days=40), services=["redmine"],
                                  differences=[], error="The step “Redmine” failed: refused")
        kept = connection.execute(drift.drift_checks.select()).all()
        kept_differences = connection.execute(drift.drift_differences.select()).all()
        newest = drift.last_check(connection)
    assert len(kept) == drift.KEEP_CHECKS and max(row.id for row in kept) == last
    assert len(kept_differences) == 2 * (drift.KEEP_CHECKS - 1)    # the deleted checks' went with them
    assert newest == drift.DriftCheck(last, newest.checked_at, ("redmine",), (),
                                      "The step “Redmine” failed: refused")
    with any_store_app.app_context(), get_store().begin() as connection:
        connection.execute(drift.drift_checks.delete().where(drift.drift_checks.c.id == last))
        before = drift.last_check(connection)
    assert before.services == ("lists", "wiki") and before.error is None
    assert before.differences == (Difference("wiki", f"uid{drift.KEEP_CHECKS + 1}", "would go"),
                                  Difference("lists", "x@example.net", "would be removed"))


def test_one_repair_waits_or_runs_at_a_time_and_a_failed_one_is_not_retried_beside_it(any_store_app):
    now = utc_now()
    with any_store_app.app_context(), get_store().begin() as connection:
        first, queued = queue.enqueue_reconcile(connection, ["lists"], created_by="sam", now=now,
                                                max_attempts=5)
        assert queued is True
        assert queue.enqueue_reconcile(connection, ["wiki", "lists"], created_by="sam", now=now,
                                       max_attempts=5) == (first, False)
        assert queue.get(connection, first).services == ("lists", "wiki")    # it took on the wiki
        assert queue.claim(connection, "w1", now=now, lease=timedelta(minutes=5))[0].id == first
        assert queue.enqueue_reconcile(connection, ["redmine"], created_by="sam", now=now,
                                       max_attempts=5) == (first, False)      # running: that one repairs
        assert queue.get(connection, first).services == ("lists", "wiki")
        queue.finish(connection, first, "w1", succeeded=False, error="down", now=now, retry_at=None)
        second, queued = queue.enqueue_reconcile(connection, ["redmine"], created_by="sam", now=now,
                                                 max_attempts=5)
        assert queued is True and second != first
        assert queue.retry(connection, first, now=now) is False               # the second repairs
        assert queue.get(connection, first).state == queue.FAILED
        assert queue.cancel(connection, second, now=now) is True
        assert queue.retry(connection, first, now=now) is True


def test_a_service_the_playbook_does_not_know_is_refused_before_anything_runs(app, reconcile):
    result = reconcile("--check", "--service", "mail")
    assert result.exit_code == 1
    assert "There is no service 'mail': name one of lists, wiki, redmine." in result.output
    with app.app_context(), get_store().begin() as connection:
        assert drift.last_check(connection) is None


def test_a_clean_check_exits_0_the_page_says_so_and_nothing_is_queued(app, reconcile, sysadmin):
    # inventory/local offers no list, wiki or Redmine: every account is only checked in LDAP
    assert "No check has run yet." in sysadmin.client.get("/admin/drift").get_data(as_text=True)
    result = reconcile("--check", "--service", "wiki")
    assert result.exit_code == 0, result.output
    assert result.output == "0 difference(s) on wiki.\n"
    page = sysadmin.client.get("/admin/drift").get_data(as_text=True)
    assert "Every service matches the directory." in page and 'id="drift-services">Wiki<' in page
    assert "Repair:" not in page

    result = reconcile()
    assert result.exit_code == 0, result.output
    assert result.output == "0 difference(s) on lists, wiki, redmine.\nNothing to repair.\n"
    response = sysadmin.submit("/admin/drift", {}, action="/admin/drift/repair")
    assert response.status_code == 302 and response.location == "/admin/drift"
    assert "nothing to repair" in sysadmin.client.get("/admin/drift").get_data(as_text=True)
    assert jobs_of(app) == []


def edit_acl(wiki, old: str, new: str) -> None:
    """A wiki superuser editing acl.auth.php by hand."""
    text = wiki.acl_path.read_text()
    assert old in text
    wiki.acl_path.write_text(text.replace(old, new))


def test_reconcile_names_hand_made_drift_repairs_it_in_one_job_and_refills_an_emptied_list(
        app, sysadmin, visitor, inbox, directory, mailman, wiki, redmine, tmp_path, reconcile):
    offer(app, tmp_path / "inventory", mailman, wiki, redmine)
    for uid in ("vera", "otto"):
        visitor.register(uid=uid, mail=f"{uid}@example.org", display_name=f"{uid.title()} Volunteer",
                         groups=["kitchen", "tech"])
        visitor.confirm(inbox.link_in(f"{uid}@example.org"))
        sysadmin.approve(uid, ["kitchen", "tech"])
    worker = make_worker(app, directory)
    assert worker.run_once() == 2
    # The services are the suite's: earlier tests' people are drift to this directory. A
    # first repair takes them away, then the check is clean.
    assert reconcile().exit_code == 0
    worker.run_once()
    clean = reconcile("--check")
    assert clean.exit_code == 0, clean.output
    earlier = len(jobs_of(app))

    remove_from_roster(mailman, "kitchen", "vera@example.org")
    add_stranger(redmine, "wg-kitchen", "mallory")
    group_line = "wg:tech:*\t@wg%2dtech\t8"
    edit_acl(wiki, group_line, "wg:tech:*\t@wg%2dtech\t16")

    check = reconcile("--check")
    assert check.exit_code == 1, check.output
    lines = check.output.splitlines()
    assert f"lists: vera: would be subscribed to {KITCHEN_LIST}; already on wg-tech@{LIST_DOMAIN}" in lines
    assert any(line.startswith("redmine: mallory: ") for line in lines), lines
    assert ("wiki: @wg-tech: put back to permission 8 on wg:tech:* (it was 16): the provisioner's line for "
            "this group") in lines
    assert lines[-1] == "3 difference(s) on lists, wiki, redmine."
    assert not any("would be done: " in line for line in lines)       # the module's prefix is gone

    page = sysadmin.client.get("/admin/drift").get_data(as_text=True)
    assert "3 difference(s)" in page and "mallory" in page and "@wg-tech" in page
    assert Visitor(app.test_client()).log_in("vera", VOLUNTEER_PASSWORD).status_code == 302
    volunteer = Visitor(app.test_client())
    volunteer.log_in("vera", VOLUNTEER_PASSWORD)
    assert volunteer.client.get("/admin/drift").status_code == 403        # sysadmins only
    refused = sysadmin.client.post("/admin/drift/repair", headers={"Origin": "https://evil.example"},
                                   data={"csrf_token": sysadmin.csrf_token("/admin/drift")})
    assert refused.status_code == 403 and len(jobs_of(app)) == earlier

    asked = reconcile()                                # the CLI's repair...
    assert asked.exit_code == 0, asked.output
    job_id = jobs_of(app)[0].id
    assert asked.output.splitlines()[-1] == f"Repair queued as job {job_id}."
    twice = sysadmin.submit("/admin/drift", {}, action="/admin/drift/repair")   # ...and the page's
    assert twice.location == f"/admin/jobs/{job_id}" and len(jobs_of(app)) == earlier + 1
    with app.app_context(), get_store().begin() as connection:
        asks = [entry for entry in audit.entries(connection) if entry.action == "reconcile-asked"
                and entry.detail.startswith(f"job {job_id}")]
    assert {(entry.actor, entry.detail) for entry in asks} == {
        ("(command line)", f"job {job_id}: lists wiki redmine"),
        ("sam", f"job {job_id} (already queued): lists wiki redmine")}

    assert worker.run_once() == 1                      # one run repairs all three
    repaired = stored_job(app, job_id)
    assert (repaired.state, repaired.attempts) == ("succeeded", 1), repaired.error
    assert set(repaired.services) == {"lists", "wiki", "redmine"}
    changed = {(result.service, result.uid) for result in repaired.results if result.status == "changed"}
    assert {("lists", "vera"), ("redmine", "mallory"), ("wiki", "@wg-tech")} <= changed
    assert "vera@example.org" in roster(mailman, "kitchen")
    assert group_line in acl_lines(wiki, "wg:tech:*")
    job_page = sysadmin.client.get(f"/admin/jobs/{job_id}").get_data(as_text=True)
    assert "repair of the services" in job_page and "mallory" in job_page

    again = reconcile("--check")
    assert again.exit_code == 0 and again.output == "0 difference(s) on lists, wiki, redmine.\n", again.output

    for address in roster(mailman, "kitchen"):        # Mailman emptied of the list's members
        remove_from_roster(mailman, "kitchen", address)
    refill = reconcile("--service", "lists")
    assert refill.exit_code == 0, refill.output
    assert {line.split(": ")[1] for line in refill.output.splitlines()[:-2]} == {"vera", "otto"}
    assert worker.run_once() == 1
    assert roster(mailman, "kitchen") == {"vera@example.org", "otto@example.org"}
    assert reconcile("--check", "--service", "lists").exit_code == 0
