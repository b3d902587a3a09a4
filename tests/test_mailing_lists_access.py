"""The mailing_lists role on a real Mailman 3 core, run by the worker through ansible-runner.

Every test queues jobs and runs the real playbooks/volunteer_access.yml, with an
inventory offering this file's private Mailman; what Mailman then holds is read
back over its REST API, as Mailman itself sees it. Each test has volunteers of
its own (their uid prefix), since the Mailman instance lives as long as the module.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.directory import Status
from provisioner.jobs import GRANT, REVOKE

from job_helpers import Clock, add_volunteers, job, make_worker, queue, runs
from service_fixtures import LIST_DOMAIN as DOMAIN
from service_fixtures import offer
from service_views import rest, roster

ROLE_TASK = "Subscribe or unsubscribe the volunteers on their working groups' mailing lists"


@pytest.fixture
def lists_app(app, mailman, tmp_path):
    """The app, its worker pointed at an inventory that offers Mailman (and nothing else)."""
    return offer(app, tmp_path / "inventory", mailman)


def mails(targets: dict[str, list[str]]) -> set[str]:
    return {f"{uid}@example.org" for uid in targets}


def lists_results(app, job_id: int, attempt: int | None = None) -> dict[str, tuple[str, str]]:
    done = job(app, job_id)
    return {result.uid: (result.status, result.message) for result in done.results
            if result.service == "lists" and (attempt is None or result.attempt == attempt)}


def role_changed(run: Path) -> bool:
    """The mailing_lists module's own `changed`, from the run's events."""
    for path in (run / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task") == ROLE_TASK:
            return data["res"]["changed"]
    raise AssertionError(f"the mailing_lists task did not end ok in {run}")


def test_a_grant_subscribes_each_volunteer_to_each_working_group_list(lists_app, directory, mailman):
    targets = add_volunteers(directory, 3, prefix="grant")
    job_id = queue(lists_app, GRANT, targets)
    assert make_worker(lists_app, directory).run_once() == 1
    done = job(lists_app, job_id)
    assert done.state == "succeeded", done.error
    assert mails(targets) <= roster(mailman, "kitchen")
    assert mails(targets) <= roster(mailman, "tech")
    results = lists_results(lists_app, job_id)
    assert {status for status, _ in results.values()} == {"changed"}
    assert results["grant0000"][1] == (f"subscribed to wg-kitchen@{DOMAIN}, wg-tech@{DOMAIN}")
    status, member = rest(mailman, f"/lists/wg-kitchen.{DOMAIN}/member/grant0001@example.org")
    assert status == 200 and member["role"] == "member" and member["delivery_mode"] == "regular"
    # The REST password travels only in the inventory: never in the artifacts or the store.
    places = [*Path(lists_app.config["RUNNER_DIR"]).rglob("*")]
    leaks = [str(path) for path in places
             if path.is_file() and mailman.admin_password.encode() in path.read_bytes()]
    assert leaks == []


def test_a_second_run_of_the_same_grant_changes_nothing(lists_app, directory, mailman):
    targets = add_volunteers(directory, 2, prefix="again")
    worker = make_worker(lists_app, directory)
    queue(lists_app, GRANT, targets)
    worker.run_once()
    [first_run] = runs(lists_app)
    second = queue(lists_app, GRANT, targets)
    worker.run_once()
    assert job(lists_app, second).state == "succeeded"
    assert lists_results(lists_app, second) == {
        uid: ("ok", f"already on wg-kitchen@{DOMAIN}, wg-tech@{DOMAIN}") for uid in targets}
    [second_run] = set(runs(lists_app)) - {first_run}
    assert role_changed(first_run) is True
    assert role_changed(second_run) is False
    assert mails(targets) <= roster(mailman, "kitchen")


def test_a_revoke_unsubscribes_only_the_suspended_volunteer(lists_app, directory, mailman):
    targets = add_volunteers(directory, 2, prefix="revoke")
    worker = make_worker(lists_app, directory)
    queue(lists_app, GRANT, targets)
    worker.run_once()
    before = set(runs(lists_app))
    directory.people.set_status("revoke0000", Status.SUSPENDED)   # as suspension leaves it
    revoke = queue(lists_app, REVOKE, {"revoke0000": targets["revoke0000"]})
    worker.run_once()
    assert job(lists_app, revoke).state == "succeeded", job(lists_app, revoke).error
    assert lists_results(lists_app, revoke) == {
        "revoke0000": ("changed", f"unsubscribed from wg-kitchen@{DOMAIN}, wg-tech@{DOMAIN}")}
    for slug in ("kitchen", "tech"):
        members = roster(mailman, slug)
        assert "revoke0000@example.org" not in members
        assert "revoke0001@example.org" in members
    # Revoking again finds nothing to remove: done, unchanged.
    again = queue(lists_app, REVOKE, {"revoke0000": targets["revoke0000"]})
    worker.run_once()
    assert lists_results(lists_app, again) == {
        "revoke0000": ("ok", f"not on wg-kitchen@{DOMAIN}, wg-tech@{DOMAIN}")}
    [revoke_run, again_run] = sorted(set(runs(lists_app)) - before,
                                     key=lambda run: (run / "status").stat().st_mtime)
    assert role_changed(revoke_run) is True
    assert role_changed(again_run) is False


def test_mailman_down_fails_the_job_naming_it_and_a_retry_after_it_is_back_completes(
        lists_app, directory, mailman):
    targets = add_volunteers(directory, 2, prefix="down")
    clock = Clock()
    worker = make_worker(lists_app, directory, clock, retry_seconds=60)
    job_id = queue(lists_app, GRANT, targets, now=clock(), max_attempts=3)
    mailman.stop()
    try:
        assert mailman.processes() == []
        worker.run_once()
    finally:
        mailman.start()
    failed = job(lists_app, job_id)
    assert failed.state == "queued" and failed.attempts == 1          # a retry is planned
    assert failed.error.startswith(f"The step “{ROLE_TASK}” failed: Mailman REST API at "
                                   f"{mailman.url} does not answer: "), failed.error
    assert {status for status, _ in lists_results(lists_app, job_id, attempt=1).values()} == {"failed"}

    clock.advance(seconds=61)
    assert worker.run_once() == 1
    retried = job(lists_app, job_id)
    assert retried.state == "succeeded" and retried.attempts == 2, retried.error
    assert {status for status, _ in lists_results(lists_app, job_id, attempt=2).values()} == {"changed"}
    assert mails(targets) <= roster(mailman, "kitchen")
    assert mails(targets) <= roster(mailman, "tech")
