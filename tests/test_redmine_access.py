"""The redmine role on a real Redmine, run by the worker through ansible-runner.

The session's Redmine starts from a "golden" database (migrated, default data
loaded) kept in pytest's cache per Redmine version, and is set up by the real
redmine_setup role: REST API, the administrator's API key, an LDAP source
reading the suite's slapd. Every test queues jobs and runs the real
playbooks/volunteer_access.yml with an inventory offering this Redmine; what
Redmine then does is checked as a volunteer meets it (logging in with their
directory password) and as Redmine's administrator sees it (REST).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.directory import Status
from provisioner.jobs import GRANT, REVOKE
from provisioner.private_services.redmine import PrivateRedmine

from job_helpers import Clock, add_volunteers, job, make_worker, queue, runs
from library_modules import library_module
from service_fixtures import offer
from service_views import account, edit_project, log_in, members

ROLE_TASK = "Give volunteers access to their working groups' Redmine projects"
PASSWORD = "correct horse battery staple 42"
LOCKED = 3


@pytest.fixture
def redmine_app(app, redmine, tmp_path):
    """The app, its worker pointed at an inventory that offers Redmine (and nothing else)."""
    return offer(app, tmp_path / "inventory", redmine)


def outcomes(app, job_id: int, attempt: int = 1) -> dict[str, tuple[str, str]]:
    return {result.uid: (result.status, result.message) for result in job(app, job_id).results
            if result.service == "redmine" and result.attempt == attempt}


def role_task_changed(app) -> bool:
    """Whether the last run's redmine task reported a change."""
    last = max(runs(app), key=lambda run: run.stat().st_mtime)   # runs() sorts by (random) name
    for path in (last / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and data.get("task") == ROLE_TASK:
            return data["res"]["changed"]
    raise AssertionError(f"no result of “{ROLE_TASK}” in the last run")


def test_grant_makes_volunteers_members_who_log_in_with_their_directory_password(
        redmine_app, redmine, directory):
    targets = add_volunteers(directory, 3)
    directory.people.set_password("vol0000", PASSWORD)
    job_id = queue(redmine_app, GRANT, targets)
    make_worker(redmine_app, directory).run_once()

    assert job(redmine_app, job_id).state == "succeeded"
    assert outcomes(redmine_app, job_id)["vol0000"] == (
        "changed", "Redmine account created; member of wg-kitchen, wg-tech")
    assert {status for status, _ in outcomes(redmine_app, job_id).values()} == {"changed"}
    assert log_in(redmine, "vol0000", PASSWORD) == 200
    assert log_in(redmine, "vol0000", "not the password") == 401
    for project in ("wg-kitchen", "wg-tech"):
        assert members(redmine, project) == {f"Volunteer {n}": ["Developer"] for n in range(3)}
    status, data = redmine.request("GET", "/projects/wg-kitchen.json")
    assert status == 200 and data["project"]["name"] == "Kitchen" and data["project"]["is_public"] is False
    assert account(redmine, "vol0002")["mail"] == "vol0002@example.org"


def test_a_second_run_of_the_same_grant_changes_nothing(redmine_app, redmine, directory):
    targets = add_volunteers(directory, 2)
    worker = make_worker(redmine_app, directory)
    queue(redmine_app, GRANT, targets)
    worker.run_once()
    again = queue(redmine_app, GRANT, targets)
    worker.run_once()

    assert job(redmine_app, again).state == "succeeded"
    assert outcomes(redmine_app, again) == {
        uid: ("ok", "already a member of wg-kitchen, wg-tech") for uid in targets}
    assert role_task_changed(redmine_app) is False
    # The API key is in the inventory only: no_log keeps it out of the runs' records.
    leaks = [str(path) for path in Path(redmine_app.config["RUNNER_DIR"]).rglob("*")
             if path.is_file() and redmine.api_key.encode() in path.read_bytes()]
    assert leaks == []


def test_revoke_removes_the_memberships_and_locks_the_account_and_a_new_grant_unlocks_it(
        redmine_app, redmine, directory):
    targets = add_volunteers(directory, 2)
    directory.people.set_password("vol0000", PASSWORD)
    worker = make_worker(redmine_app, directory)
    queue(redmine_app, GRANT, targets)
    worker.run_once()
    directory.people.set_status("vol0000", Status.SUSPENDED)    # what a revoke follows

    revoked = queue(redmine_app, REVOKE, {"vol0000": targets["vol0000"]})
    worker.run_once()
    assert job(redmine_app, revoked).state == "succeeded"
    assert outcomes(redmine_app, revoked) == {
        "vol0000": ("changed", "left wg-kitchen, wg-tech; Redmine account locked")}
    for project in ("wg-kitchen", "wg-tech"):
        assert members(redmine, project) == {"Volunteer 1": ["Developer"]}
    assert account(redmine, "vol0000")["status"] == LOCKED
    # Redmine refuses the login, though the directory still takes the password.
    assert directory.people.check_password("vol0000", PASSWORD)
    assert log_in(redmine, "vol0000", PASSWORD) == 401

    again = queue(redmine_app, REVOKE, {"vol0000": targets["vol0000"]})
    worker.run_once()
    assert outcomes(redmine_app, again) == {"vol0000": ("ok", "not a member of wg-kitchen, wg-tech")}
    assert role_task_changed(redmine_app) is False

    directory.people.set_status("vol0000", Status.ACTIVE)       # reinstated
    regranted = queue(redmine_app, GRANT, {"vol0000": ["kitchen"]})
    worker.run_once()
    assert outcomes(redmine_app, regranted) == {
        "vol0000": ("changed", "Redmine account unlocked; member of wg-kitchen")}
    assert log_in(redmine, "vol0000", PASSWORD) == 200
    assert "Volunteer 0" in members(redmine, "wg-kitchen")


def test_a_volunteer_redmine_refuses_fails_alone(redmine_app, redmine, directory):
    status, _ = redmine.request("POST", "/users.json", {"user": {
        "login": "someone", "firstname": "Some", "lastname": "One", "mail": "vol0001@example.org",
        "password": "a local password 123"}})
    assert status == 201
    targets = add_volunteers(directory, 2)
    job_id = queue(redmine_app, GRANT, targets, max_attempts=1)
    make_worker(redmine_app, directory).run_once()

    assert outcomes(redmine_app, job_id) == {
        "vol0000": ("changed", "Redmine account created; member of wg-kitchen, wg-tech"),
        "vol0001": ("failed", "Redmine did not create an account for vol0001: Email has already been taken"),
    }
    failed = job(redmine_app, job_id)
    assert failed.state == "failed"
    assert failed.error == ("vol0001: Redmine did not create an account for vol0001: "
                            "Email has already been taken")
    assert set(members(redmine, "wg-kitchen")) == {"Volunteer 0"}


def test_a_batch_larger_than_the_connections_in_flight_gives_each_volunteer_their_own_outcome(
        redmine_app, redmine, directory):
    """The module works on 8 volunteers at once: outcomes must not mix up or go missing."""
    status, _ = redmine.request("POST", "/users.json", {"user": {
        "login": "someone", "firstname": "Some", "lastname": "One", "mail": "vol0005@example.org",
        "password": "a local password 123"}})
    assert status == 201
    targets = add_volunteers(directory, 10)
    job_id = queue(redmine_app, GRANT, targets, max_attempts=1)
    make_worker(redmine_app, directory).run_once()

    refused = ("failed", "Redmine did not create an account for vol0005: Email has already been taken")
    granted = ("changed", "Redmine account created; member of wg-kitchen, wg-tech")
    assert outcomes(redmine_app, job_id) == {uid: refused if uid == "vol0005" else granted for uid in targets}
    for project in ("wg-kitchen", "wg-tech"):
        assert members(redmine, project) == {f"Volunteer {n}": ["Developer"] for n in range(10) if n != 5}


def test_redmine_down_fails_the_job_naming_it_and_a_retry_once_it_is_back_completes(
        redmine_app, redmine, directory):
    targets = add_volunteers(directory, 2)
    clock = Clock()
    worker = make_worker(redmine_app, directory, clock, retry_seconds=60)
    job_id = queue(redmine_app, GRANT, targets, now=clock(), max_attempts=3)
    redmine.stop()
    worker.run_once()

    failed = job(redmine_app, job_id)
    assert failed.state == "queued" and failed.attempts == 1
    assert failed.error.startswith(f"The step “{ROLE_TASK}” failed: Redmine REST API at {redmine.url} "
                                   "does not answer: ")
    assert {status for status, _ in outcomes(redmine_app, job_id).values()} == {"failed"}

    redmine.start()
    clock.advance(seconds=61)
    worker.run_once()
    assert job(redmine_app, job_id).state == "succeeded"
    assert set(members(redmine, "wg-tech")) == {"Volunteer 0", "Volunteer 1"}


def test_a_wrong_api_key_or_role_fails_the_job_naming_redmine(redmine_app, redmine, directory,
                                                              tmp_path):
    targets = add_volunteers(directory, 1)
    worker = make_worker(redmine_app, directory)
    wrong = {"redmine_api_key": "0" * 40, "redmine_role": "Chef", "redmine_coordinator_role": "Boss"}
    for name, value in wrong.items():
        offer(redmine_app, tmp_path / "inventory", {**redmine.inventory_vars(), name: value})
        job_id = queue(redmine_app, GRANT, targets, max_attempts=1)
        worker.run_once()
        assert job(redmine_app, job_id).state == "failed"
        assert outcomes(redmine_app, job_id)["vol0000"][0] == "failed"
        assert job(redmine_app, job_id).error == f"The step “{ROLE_TASK}” failed: " + {
            "redmine_api_key": f"Redmine at {redmine.url} refused the API key (HTTP 401)",
            "redmine_role": f"Redmine at {redmine.url} has no role named 'Chef' "
                            "(it has Developer, Manager, Reporter)",
            "redmine_coordinator_role": f"Redmine at {redmine.url} has no role named 'Boss' "
                                        "(it has Developer, Manager, Reporter)"}[name]
    assert account_count(redmine) == 0


def account_count(redmine: PrivateRedmine) -> int:
    status, data = redmine.request("GET", "/users.json?status=")
    assert status == 200
    return sum(1 for user in data["users"] if user["login"] != "admin")


def test_the_setup_role_made_the_api_key_and_ldap_source_and_a_second_run_changes_nothing(redmine):
    assert redmine.setup_report.changed is True          # the run that set this instance up
    key, source = redmine.api_key, redmine.auth_source_id
    assert redmine.configure().changed is False
    assert (redmine.api_key, redmine.auth_source_id) == (key, source)
    status, data = redmine.request("GET", "/users/current.json")
    assert status == 200 and data["user"]["login"] == "admin"


# Coordinators (the owners of a group's LDAP group, as the batch says) manage its project.

def test_a_coordinator_is_manager_of_the_groups_project_until_no_longer_one_and_a_revoke_ends_both(
        redmine_app, redmine, directory):
    targets = add_volunteers(directory, 2, prefix="cook")
    directory.people.set_password("cook0000", PASSWORD)
    directory.groups.add_owner("wg-kitchen", "cook0000")
    worker = make_worker(redmine_app, directory)
    granted = queue(redmine_app, GRANT, targets)
    worker.run_once()
    assert outcomes(redmine_app, granted) == {
        "cook0000": ("changed",
                     "Redmine account created; member of wg-kitchen, wg-tech; Manager of wg-kitchen"),
        "cook0001": ("changed", "Redmine account created; member of wg-kitchen, wg-tech")}
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Manager"],
                                              "Volunteer 1": ["Developer"]}
    assert members(redmine, "wg-tech") == {"Volunteer 0": ["Developer"], "Volunteer 1": ["Developer"]}
    assert edit_project(redmine, "cook0000", PASSWORD, "wg-kitchen") == 204
    assert edit_project(redmine, "cook0000", PASSWORD, "wg-tech") == 403

    again = queue(redmine_app, GRANT, {"cook0000": ["kitchen", "tech"]})
    worker.run_once()
    assert outcomes(redmine_app, again) == {
        "cook0000": ("ok", "already a member of wg-kitchen, wg-tech; Manager of wg-kitchen")}
    assert role_task_changed(redmine_app) is False

    directory.groups.remove_owner("wg-kitchen", "cook0000")
    stopped = queue(redmine_app, GRANT, {"cook0000": ["kitchen"]})
    worker.run_once()
    assert outcomes(redmine_app, stopped) == {"cook0000": ("changed", "no longer Manager of wg-kitchen")}
    assert members(redmine, "wg-kitchen")["Volunteer 0"] == ["Developer"]
    assert edit_project(redmine, "cook0000", PASSWORD, "wg-kitchen") == 403

    directory.groups.add_owner("wg-kitchen", "cook0000")
    directory.people.set_status("cook0000", Status.SUSPENDED)
    revoked = queue(redmine_app, REVOKE, {"cook0000": ["kitchen", "tech"]})
    worker.run_once()
    assert outcomes(redmine_app, revoked) == {
        "cook0000": ("changed", "left wg-kitchen, wg-tech; Redmine account locked")}
    assert members(redmine, "wg-kitchen") == {"Volunteer 1": ["Developer"]}


def test_roles_given_by_hand_stay_and_a_member_left_with_manager_alone_keeps_the_member_role(
        redmine_app, redmine, directory):
    targets = add_volunteers(directory, 2, groups=("kitchen",), prefix="hand")
    worker = make_worker(redmine_app, directory)
    queue(redmine_app, GRANT, targets)
    worker.run_once()
    roles = {role["name"]: role["id"] for role in redmine.request("GET", "/roles.json")[1]["roles"]}
    ids = {membership["user"]["name"]: membership["id"] for membership in
           redmine.request("GET", "/projects/wg-kitchen/memberships.json")[1]["memberships"]}
    # By hand in Redmine: Reporter added to one; the other made Manager alone.
    assert redmine.request("PUT", f"/memberships/{ids['Volunteer 0']}.json", {"membership": {
        "role_ids": [roles["Developer"], roles["Reporter"]]}})[0] == 204
    assert redmine.request("PUT", f"/memberships/{ids['Volunteer 1']}.json", {"membership": {
        "role_ids": [roles["Manager"]]}})[0] == 204

    directory.groups.add_owner("wg-kitchen", "hand0000")
    job_id = queue(redmine_app, GRANT, targets)
    worker.run_once()
    assert outcomes(redmine_app, job_id) == {"hand0000": ("changed", "Manager of wg-kitchen"),
                                             "hand0001": ("changed", "no longer Manager of wg-kitchen")}
    assert members(redmine, "wg-kitchen") == {"Volunteer 0": ["Developer", "Reporter", "Manager"],
                                              "Volunteer 1": ["Developer"]}


def test_check_mode_writes_nothing_and_says_what_the_run_then_does(redmine):
    """The approval preview's ground: a check-mode grant or revoke names what a real run
    does, word for word, and Redmine is left as it was."""
    module = library_module("redmine_members")
    volunteer = {"uid": "preview1", "action": "grant", "mail": "preview1@example.org",
                 "display_name": "Pre View", "groups": [
                     {"slug": "preview", "name": "Preview", "redmine_project": "wg-preview",
                      "coordinator": True}]}

    def act(volunteer: dict, *, check_mode: bool) -> tuple[dict, bool]:
        client = module.RedmineClient(redmine.url, redmine.api_key, 30, False)
        access = module.RedmineAccess(client, redmine.auth_source_id, False, check_mode=check_mode)
        try:
            access.check_administrator()
            access.resolve_roles("Developer", "Manager")
            access.ensure_projects(module.batch_projects([volunteer]))
            act = access.grant if volunteer["action"] == "grant" else access.revoke
            return act(volunteer), access.changed
        finally:
            client.close()

    def project_status() -> int:
        return redmine.request("GET", "/projects/wg-preview.json")[0]

    preview, changes = act(volunteer, check_mode=True)
    assert changes and preview == {"status": "changed", "message": "would be done: Redmine account "
                                   "created; member of wg-preview; Manager of wg-preview"}
    assert project_status() == 404
    assert redmine.request("GET", "/users.json?status=&name=preview1")[1]["users"] == []
    done, _ = act(volunteer, check_mode=True)
    assert done == preview                     # nothing was written, so nothing moved on

    done, changes = act(volunteer, check_mode=False)
    assert changes and done["message"] == preview["message"].removeprefix("would be done: ")
    assert act(volunteer, check_mode=True) == ({"status": "ok", "message": (
        "already a member of wg-preview; Manager of wg-preview")}, False)

    revoking = {**volunteer, "action": "revoke"}
    preview, changes = act(revoking, check_mode=True)
    assert changes and preview["message"] == ("would be done: left wg-preview; "
                                              "Redmine account locked")
    assert members(redmine, "wg-preview") == {"Pre View": ["Developer", "Manager"]}
    assert account(redmine, "preview1")["status"] != LOCKED
    done, _ = act(revoking, check_mode=False)
    assert done["message"] == preview["message"].removeprefix("would be done: ")
