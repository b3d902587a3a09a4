"""The provisioning worker with real ansible-runner runs of playbooks/volunteer_access.yml."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.clock import utc_now
from provisioner.directory import Directory
from provisioner.directory.connection import DirectoryConnection
from provisioner.jobs import GRANT, REVOKE
from provisioner.resources import get_store, runner_settings
from provisioner.runner import PlaybookRunner, Volunteer
from provisioner.store import jobs

from job_helpers import (
    Clock,
    add_volunteers,
    job,
    make_worker,
    queue,
    runs,
    start_worker,
    worker_environment,
)
from service_fixtures import offer


def test_one_job_for_50_volunteers_is_one_playbook_run(app, directory):
    targets = add_volunteers(directory, 50)
    job_id = queue(app, GRANT, targets)
    assert make_worker(app, directory).run_once() == 1
    done = job(app, job_id)
    assert done.state == "succeeded" and done.attempts == 1 and done.error is None
    assert len(runs(app)) == 1
    checked = {result.uid for result in done.results if result.service == "directory"}
    assert checked == set(targets)
    assert {result.status for result in done.results if result.service == "directory"} == {"ok"}
    # inventory/local offers no list, wiki or Redmine: each is reported as not offered
    not_offered = {(result.service, result.status) for result in done.results
                   if result.service != "directory"}
    assert not_offered == {("lists", "not_offered"), ("wiki", "not_offered"), ("redmine", "not_offered")}


def test_every_queued_job_goes_into_the_same_run(app, directory):
    targets = add_volunteers(directory, 6)
    job_ids = [queue(app, GRANT, {uid: groups}) for uid, groups in targets.items()]
    assert make_worker(app, directory).run_once() == 6
    assert len(runs(app)) == 1
    assert {job(app, job_id).state for job_id in job_ids} == {"succeeded"}


def test_a_failing_task_fails_the_job_with_its_message_and_a_retry_after_the_fix_succeeds(
        app, directory):
    targets = add_volunteers(directory, 3)
    directory.groups.remove_member("wg-tech", "vol0001")    # the cause
    clock = Clock()
    worker = make_worker(app, directory, clock, retry_seconds=60)
    job_id = queue(app, GRANT, targets, now=clock(), max_attempts=3)
    worker.run_once()
    failed = job(app, job_id)
    assert failed.state == "queued" and failed.attempts == 1      # a retry is planned
    assert failed.error == "vol0001: vol0001 is not in the LDAP group(s) wg-tech"
    assert worker.run_once() == 0                                 # not before its delay
    directory.groups.add_member("wg-tech", "vol0001")             # the fix
    clock.advance(seconds=61)
    worker.run_once()
    assert job(app, job_id).state == "succeeded"
    assert job(app, job_id).attempts == 2


def test_a_job_stays_failed_after_its_last_attempt_and_other_jobs_in_the_run_succeed(app, directory):
    ok = queue(app, GRANT, add_volunteers(directory, 2, prefix="ok"))
    broken = queue(app, GRANT, {"ghost": ["kitchen"]}, max_attempts=1)  # nobody by that name
    make_worker(app, directory).run_once()
    assert job(app, ok).state == "succeeded"
    lost = job(app, broken)
    assert lost.state == "failed" and lost.error == "ghost: ghost is not an account in ou=people"


def test_a_run_that_cannot_reach_the_directory_fails_every_job_in_plain_words(app, directory):
    job_id = queue(app, GRANT, add_volunteers(directory, 2), max_attempts=1)
    app.extensions["directory_settings"] = replace(app.extensions["directory_settings"],
                                                   url="ldap://127.0.0.1:1")
    make_worker(app, directory).run_once()
    failed = job(app, job_id)
    assert failed.state == "failed"
    assert failed.error.startswith("The step “Check the volunteers in the directory” failed: "
                                   "cannot bind to the directory: ldap://127.0.0.1:1: ")


def test_a_directory_that_does_not_answer_as_the_batch_is_read_leaves_the_jobs_to_their_retry(
        app, directory):
    """slapd restarting between a claim and its run (a fault bench/faults.py makes): the worker
    goes on, and the jobs wait for their retry rather than for the end of a dead worker's lease."""
    job_id = queue(app, GRANT, add_volunteers(directory, 2), max_attempts=3)
    unreachable = Directory(replace(directory.settings, url="ldap://127.0.0.1:1"))
    assert make_worker(app, unreachable, retry_seconds=60).run_once() == 1
    waiting = job(app, job_id)
    assert (waiting.state, waiting.attempts, waiting.lease_owner) == ("queued", 1, None)
    assert waiting.error.startswith("The worker could not read the batch from the directory: "
                                    "the directory does not answer")
    assert runs(app) == []


def test_a_revoke_checks_the_person_is_no_longer_active(app, directory):
    targets = add_volunteers(directory, 1)
    job_id = queue(app, REVOKE, targets, max_attempts=1)
    make_worker(app, directory).run_once()
    assert job(app, job_id).error == "vol0000: vol0000 is still active and in wg-kitchen, wg-tech"


def test_a_revoke_for_groups_someone_left_succeeds_while_they_stay_active(app, directory):
    add_volunteers(directory, 1)
    directory.groups.remove_member("wg-tech", "vol0000")
    job_id = queue(app, REVOKE, {"vol0000": ["tech"]}, max_attempts=1)
    make_worker(app, directory).run_once()
    assert job(app, job_id).state == "succeeded"


def test_old_run_artifacts_are_removed(app, directory):
    app.config["RUNNER_KEEP"] = 2
    targets = add_volunteers(directory, 1)
    worker = make_worker(app, directory)
    for _ in range(3):
        queue(app, GRANT, targets)
        worker.run_once()
    assert len(runs(app)) == 2


def test_a_worker_killed_mid_run_leaves_the_job_to_another_worker(app, directory, slapd_server,
                                                                 tmp_path):
    job_id = queue(app, GRANT, add_volunteers(directory, 20))
    killed = start_worker(worker_environment(app, slapd_server, tmp_path, JOB_LEASE_SECONDS=3))
    deadline = time.monotonic() + 30
    while job(app, job_id).state != "running":
        assert time.monotonic() < deadline and killed.poll() is None, killed.communicate()[0]
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.communicate()
    orphan = job(app, job_id)
    assert orphan.state == "running" and orphan.lease_owner is not None

    clock = Clock()
    second = make_worker(app, directory, clock)
    assert second.run_once() == 0                   # the lease still holds
    clock.advance(seconds=4)
    assert second.run_once() == 1
    finished = job(app, job_id)
    assert finished.state == "succeeded" and finished.attempts == 2
    assert {result.worker for result in finished.results if result.attempt == 2} == {second.name}


def test_no_secret_reaches_the_artifacts_or_the_store(app, directory, slapd_server, tmp_path,
                                                      monkeypatch):
    environment = worker_environment(app, slapd_server, tmp_path)
    secret = environment["PROVISIONER_LDAP_BIND_PASSWORD"]     # the portal account's, as the worker binds
    queue(app, GRANT, add_volunteers(directory, 2))
    # The installed command, configured by environment, as a sysadmin runs it.
    finished = subprocess.run([str(Path(sys.executable).parent / "provisioner"), "worker", "--once"],
                              env=environment,
                              capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0 and "ran 1 job(s)" in finished.stdout, finished.stderr
    # And in-process, with a secret left in this process's environment.
    monkeypatch.setenv("PROVISIONER_LDAP_BIND_PASSWORD", secret)
    queue(app, GRANT, add_volunteers(directory, 1, prefix="more"))
    make_worker(app, directory).run_once()

    assert len(runs(app)) == 2
    places = [*Path(app.config["RUNNER_DIR"]).rglob("*"), tmp_path / "store.sqlite"]
    leaks = [str(path) for path in places
             if path.is_file() and secret.encode() in path.read_bytes()]
    assert leaks == []
    assert not list(Path(app.config["RUNNER_DIR"]).glob("handoff-*"))   # the secrets file is gone


def test_an_idle_worker_stops_cleanly_on_sigterm(app, directory, slapd_server, tmp_path):
    environment = worker_environment(app, slapd_server, tmp_path, WORKER_POLL_SECONDS=0.1)
    worker = start_worker({**environment, "PYTHONUNBUFFERED": "1"})
    assert worker.stdout.readline().startswith("worker ")  # its handler is set: it is listening
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def test_a_worker_that_has_run_a_job_still_stops_on_sigterm(app, directory, slapd_server, tmp_path):
    """ansible-runner installs its own signal handlers unless given a cancel callback."""
    job_id = queue(app, GRANT, add_volunteers(directory, 1))
    worker = start_worker(worker_environment(app, slapd_server, tmp_path, WORKER_POLL_SECONDS=0.1))
    deadline = time.monotonic() + 60
    while job(app, job_id).state != "succeeded":
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.1)
    worker.send_signal(signal.SIGTERM)
    output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


@contextmanager
def silent_server():
    """A server on loopback that accepts connections and never answers: a hung service."""
    listener = socket.create_server(("127.0.0.1", 0))
    held, stop = [], threading.Event()

    def hold() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            with suppress(TimeoutError):
                held.append(listener.accept()[0])
    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_cancelling_every_job_of_a_running_run_stops_the_run(app, directory, tmp_path):
    with silent_server() as url:
        offer(app, tmp_path / "inventory", {"mailing_lists_url": url, "mailing_lists_password": "x",
                                            "mailing_lists_domain": "lists.example.org",
                                            "mailing_lists_timeout": 120})
        job_id = queue(app, GRANT, add_volunteers(directory, 1))
        worker = make_worker(app, directory)
        finished = threading.Event()
        thread = threading.Thread(target=lambda: (worker.run_once(), finished.set()), daemon=True)
        started = time.monotonic()
        thread.start()
        while job(app, job_id).state != "running":
            time.sleep(0.1)
        time.sleep(3)  # the run is under way, waiting on the silent list server
        with app.app_context(), get_store().begin() as connection:
            assert jobs.cancel(connection, job_id, now=utc_now())
        assert finished.wait(60), "the run went on after its only job was cancelled"
        assert time.monotonic() - started < 60  # well before the list server's 120 s timeout
    assert job(app, job_id).state == "cancelled"


def test_the_worker_logs_each_claim_run_and_outcome_by_job_id_without_volunteer_data(app, directory,
                                                                                   caplog):
    ok = queue(app, GRANT, add_volunteers(directory, 2))
    caplog.set_level("INFO", logger="provisioner.worker")
    make_worker(app, directory).run_once()
    lines = [record.getMessage() for record in caplog.records if record.name == "provisioner.worker"]
    assert lines[0].startswith(f"claimed jobs={ok} volunteers=2 runs=1")
    assert f"run started jobs={ok} volunteers=2" in lines
    assert f"run ended jobs={ok} succeeded=True failed_jobs=-" in lines
    assert f"job finished job={ok} kind=grant attempt=1/5 outcome=succeeded" in lines
    assert not any("vol0000" in line for line in lines)


class RecordingRunner(PlaybookRunner):
    """The real runner, remembering each batch it was handed."""

    def __init__(self, settings):
        super().__init__(settings)
        self.batches = []

    def run(self, playbook, volunteers, *args, **kwargs):
        volunteers = list(volunteers)
        self.batches.append(volunteers)
        return super().run(playbook, volunteers, *args, **kwargs)


def test_the_batch_says_who_coordinates_each_group_read_in_one_search_for_the_whole_batch(
        app, directory, monkeypatch):
    targets = add_volunteers(directory, 200)
    directory.groups.add_owner("wg-kitchen", "vol0007")
    directory.groups.add_owner("wg-tech", "vol0007")
    directory.groups.add_owner("wg-tech", "vol0150")
    queue(app, GRANT, targets)
    worker = make_worker(app, directory)
    worker.runner = RecordingRunner(worker.runner.settings)
    groups_base = directory.layout.groups.lower()
    searches = []
    search = DirectoryConnection.search

    def counted(self, base, *args, **kwargs):
        if base.lower().endswith(groups_base):
            searches.append(base)
        return search(self, base, *args, **kwargs)

    monkeypatch.setattr(DirectoryConnection, "search", counted)
    assert worker.run_once() == 1
    [batch] = worker.runner.batches
    flags = {(volunteer.uid, group["slug"]): group["coordinator"] for volunteer in batch
             for group in volunteer.groups}
    assert {key for key, coordinates in flags.items() if coordinates} == {
        ("vol0007", "kitchen"), ("vol0007", "tech"), ("vol0150", "tech")}
    assert len(flags) == 400 and {type(flag) for flag in flags.values()} == {bool}
    assert len(searches) == 1, searches


def test_outcomes_slow_to_record_neither_fail_the_run_nor_go_missing(app, directory):
    """After the playbook ends, ansible-runner reads what it wrote last for at most 5 s:
    outcomes are handed on off that read, so a store slow to write them (a batch of
    10,000) cannot fail the run; every outcome still arrives before `run` returns."""
    targets = add_volunteers(directory, 5)
    volunteers = [Volunteer(uid=uid, action=GRANT, mail=f"{uid}@example.org", display_name=uid, groups=[])
                  for uid in targets]
    recorded, threads = [], set()

    def record_slowly(outcomes):
        threads.add(threading.get_ident())
        time.sleep(6)
        recorded.extend(outcomes)

    with app.app_context():
        runner = PlaybookRunner(runner_settings(app))
    result = runner.run("volunteer_access.yml", volunteers, record_slowly,
                        extravars={"provisioner_ldap_people_dn": directory.layout.people})
    assert result.succeeded, result.error
    assert threads and threading.get_ident() not in threads
    assert {(outcome.uid, outcome.service) for outcome in recorded} == {
        (uid, service) for uid in targets for service in ("directory", "lists", "wiki", "redmine")}


def test_an_error_recording_outcomes_comes_out_of_the_run(app, directory):
    targets = add_volunteers(directory, 2)
    volunteers = [Volunteer(uid=uid, action=GRANT, mail=f"{uid}@example.org", display_name=uid, groups=[])
                  for uid in targets]

    def refuse(outcomes):
        raise RuntimeError("the store is full")

    with app.app_context():
        runner = PlaybookRunner(runner_settings(app))
    with pytest.raises(RuntimeError, match="the store is full"):
        runner.run("volunteer_access.yml", volunteers, refuse,
                   extravars={"provisioner_ldap_people_dn": directory.layout.people})
