"""The provisioning queue and the worker that drains it.

A web request only queues a job (and its mail: the worker sends the outbox on each
poll first, outbox.py). `Worker.run_once` claims every runnable job,
puts all their volunteers into ONE playbook run (Ansible's start-up costs about
a second; one run per volunteer would not scale), records each task's outcome
per volunteer and service as the run goes, and closes each job: succeeded,
queued again after a growing delay, or failed once its attempts are spent.
A job that failed for its own volunteers' data (a service refused them, while
the run as a whole went through) is marked to run alone: its retries each get
a run of their own after the shared one, so it never fails the others again.
While it runs, a heartbeat renews the jobs' lease; a worker killed mid-run
stops renewing, and another worker takes the jobs over when the lease ends.
Every playbook is idempotent, so running a job again is safe.
A reconcile job (a repair of drift, issue 17) always runs alone: its batch is the whole
directory, complete (reconciliation.py), for the services it names, and it records
every change and failure, those of people the directory does not know included.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from . import outbox, preview_runs
from .catalogue import Catalogue, Group
from .clock import utc_now
from .directory import Directory, DirectoryUnavailable
from .mail import Mailer
from .reconciliation import complete_batch, only_services
from .runner import Outcome, PlaybookRunner, Volunteer, group_entry
from .store import Store
from .store import jobs as queue
from .teams import needs_teams, read_teams, resolve

PLAYBOOK = "volunteer_access.yml"
CANCEL_POLL_SECONDS = 1.0
# One line per claim, run and job outcome, key=value, for journald and log search. Never
# a volunteer's data: job ids and counts only (the job page has the rest).
log = logging.getLogger("provisioner.worker")
GRANT, REVOKE, RECONCILE = "grant", "revoke", queue.RECONCILE
# What a reconcile job records: the changes and failures, not every account's "ok".
RECONCILE_RECORDS = ("changed", "failed")


@dataclass(frozen=True)
class JobSettings:
    max_attempts: int = 5
    retry_seconds: int = 30
    lease_seconds: int = 300
    poll_seconds: float = 2.0

    def retry_delay(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s... after the 1st, 2nd, 3rd failed attempt."""
        return timedelta(seconds=self.retry_seconds * 2 ** max(0, attempts - 1))


def queue_access(store: Store, kind: str, targets: Mapping[str, Iterable[str]], *,
                 actor: str | None, now: datetime, settings: JobSettings) -> int | None:
    """Queue a grant or revoke for these volunteers (uid -> slugs of working groups and
    qualified slugs of teams)."""
    with store.begin() as connection:
        return queue.enqueue(connection, kind, targets, created_by=actor, now=now,
                             max_attempts=settings.max_attempts)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(self, store: Store, directory: Directory, catalogue: Catalogue,
                 runner: PlaybookRunner, settings: JobSettings, *,
                 clock: Callable[[], datetime] = utc_now, name: str | None = None,
                 mailer: Mailer | None = None):
        self.store = store
        self.mailer = mailer
        self.directory = directory
        self.catalogue = catalogue
        self.runner = runner
        self.settings = settings
        self.clock = clock
        self.name = name or worker_name()
        self.stopping = threading.Event()

    def run(self) -> None:
        """Work until `stopping` is set; a run in progress is finished first."""
        while not self.stopping.is_set():
            if not self.run_once():
                self.stopping.wait(self.settings.poll_seconds)

    def run_once(self) -> int:
        """Send the mail the portal queued (when the worker has a mailer), run every approval
        preview asked for (a check-mode run of their own, first: a sysadmin waits for it),
        then every runnable job, in one shared playbook run and one run for each job that
        runs alone; return how many previews and jobs it ran."""
        self.send_mail()
        previewed = preview_runs.run_pending(self, PLAYBOOK, GRANT)
        lease = timedelta(seconds=self.settings.lease_seconds)
        with self.store.begin() as connection:
            claimed = queue.claim(connection, self.name, now=self.clock(), lease=lease)
        if not claimed:
            return previewed
        shared = [job for job in claimed if not job.runs_alone]
        batches = ([shared] if shared else []) + [[job] for job in claimed if job.runs_alone]
        log.info("claimed jobs=%s volunteers=%d runs=%d worker=%s", _ids(claimed),
                 sum(len(job.targets) for job in claimed), len(batches), self.name)
        heartbeat = _Heartbeat(self, [job.id for job in claimed], lease)
        heartbeat.start()
        try:
            for batch in batches:
                self._run(batch)
        finally:
            heartbeat.stop()
        return previewed + len(claimed)

    def send_mail(self) -> int:
        """Send the outbox's mails that are due; return how many went."""
        if self.mailer is None:
            return 0
        return outbox.deliver_due(self.store, self.mailer, self.name, now=self.clock())

    def _run(self, batch: list[queue.Job]) -> None:
        """One playbook run for these jobs' volunteers, outcomes recorded as they come."""
        job_of = {uid: job for job in batch for uid in job.targets}
        reconcile = batch[0] if batch[0].kind == RECONCILE else None   # a reconcile runs alone
        failed: dict[int, str] = {}

        def record(outcomes: list[Outcome]) -> None:
            if reconcile is not None:
                mine = [(reconcile, outcome) for outcome in outcomes if outcome.status in RECONCILE_RECORDS]
            else:
                mine = [(job_of[outcome.uid], outcome) for outcome in outcomes if outcome.uid in job_of]
            with self.store.begin() as connection:
                queue.record_results(connection, [
                    queue.JobResult(job_id=job.id, attempt=job.attempts, worker=self.name,
                                    uid=outcome.uid, service=outcome.service, task=outcome.task,
                                    status=outcome.status, message=outcome.message, at=self.clock())
                    for job, outcome in mine])
            for job, outcome in mine:
                if outcome.status == "failed":
                    failed.setdefault(job.id, f"{outcome.uid}: {outcome.message or outcome.task}")

        extravars, complete_groups = self._directory_names(), None
        try:
            if reconcile is not None:
                complete = complete_batch(self.directory, self.catalogue)
                volunteers, complete_groups = complete.volunteers, complete.groups
                extravars.update(only_services(reconcile.services))
            else:
                volunteers = self._volunteers(batch)
        except DirectoryUnavailable as error:
            # slapd restarting, say: the jobs wait for their retry like any failed run, rather
            # than the worker dying with them claimed until their lease ends.
            log.info("run not started jobs=%s reason=directory-unavailable", _ids(batch))
            self._finish(batch, f"The worker could not read the batch from the directory: {error}", {})
            return
        log.info("run started jobs=%s volunteers=%d", _ids(batch), len(volunteers))
        result = self.runner.run(PLAYBOOK, volunteers, record,
                                 should_cancel=self._all_cancelled([job.id for job in batch]),
                                 extravars=extravars, complete_groups=complete_groups)
        log.info("run ended jobs=%s succeeded=%s failed_jobs=%s", _ids(batch), result.succeeded,
                 _ids(job for job in batch if job.id in failed))
        self._finish(batch, result.error if not result.succeeded else None, failed)

    def _all_cancelled(self, job_ids: list[int]) -> Callable[[], bool]:
        """ansible-runner's cancel callback: stop the run once a sysadmin cancelled every job
        in it (one cancelled job among others lets the run finish for the rest). Asked
        often, so the store is read at most once per CANCEL_POLL_SECONDS."""
        checked_at, cancelled = -CANCEL_POLL_SECONDS, False

        def check() -> bool:
            nonlocal checked_at, cancelled
            if not cancelled and time.monotonic() - checked_at >= CANCEL_POLL_SECONDS:
                checked_at = time.monotonic()
                with self.store.begin() as connection:
                    cancelled = queue.all_cancelled(connection, job_ids)
            return cancelled
        return check

    def _directory_names(self) -> dict[str, str]:
        """The DNs the playbook needs, from the directory's layout: the roles build none."""
        return {"provisioner_ldap_people_dn": self.directory.layout.people}

    def _volunteers(self, claimed: list[queue.Job]) -> list[Volunteer]:
        """The batch: each volunteer with every name of their groups (working groups and
        teams, the teams read from the directory in one search when the batch names one),
        and whether they coordinate each (own its LDAP group) now, read in one search for
        the whole batch."""
        layout = self.directory.layout
        people = self.directory.people.find_many([uid for job in claimed for uid in job.targets])
        slugs_named = {slug for job in claimed for slugs in job.targets.values() for slug in slugs}
        teams = read_teams(self.directory, self.catalogue) if needs_teams(slugs_named) else {}
        working_groups: dict[str, Group | None] = {
            slug: resolve(self.catalogue, teams, slug) for slug in slugs_named}
        owners = self.directory.groups.owners_of(wg.group for wg in working_groups.values() if wg)
        volunteers = []
        for job in claimed:
            for uid, slugs in job.targets.items():
                person = people.get(uid)
                groups = [working_groups[slug] for slug in slugs]
                known = job.mails.get(uid)
                volunteers.append(Volunteer(
                    uid=uid, action=job.kind,
                    # A deleted account's revoke carries the address Mailman knows it by.
                    mail=person.mail if person else known,
                    display_name=person.display_name if person else None,
                    # A changed address's grant carries the former one, to move off it.
                    previous_mail=known if person and known and known != person.mail else None,
                    forget=job.kind == REVOKE and uid in job.forgotten,
                    groups=[group_entry(wg, layout, coordinator=uid in owners.get(wg.group, ()))
                            for wg in groups if wg is not None],
                ))
        return volunteers

    def _finish(self, claimed: list[queue.Job], run_error: str | None,
                failed: dict[int, str]) -> None:
        now = self.clock()
        with self.store.begin() as connection:
            for job in claimed:
                error = run_error or failed.get(job.id)
                retry_at = None
                if error and job.attempts < job.max_attempts:  # attempts counts this run
                    retry_at = now + self.settings.retry_delay(job.attempts)
                queue.finish(connection, job.id, self.name, succeeded=error is None, error=error,
                             now=now, retry_at=retry_at, own_failure=run_error is None and error is not None)
                log.info("job finished job=%d kind=%s attempt=%d/%d outcome=%s", job.id, job.kind,
                         job.attempts, job.max_attempts,
                         "succeeded" if error is None else "retry" if retry_at else "failed")


def _ids(jobs: Iterable[queue.Job]) -> str:
    return ",".join(str(job.id) for job in jobs) or "-"


class _Heartbeat:
    """Renews the lease of the running jobs every third of the lease."""

    def __init__(self, worker: Worker, job_ids: list[int], lease: timedelta):
        self._worker, self._job_ids, self._lease = worker, job_ids, lease
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self._lease.total_seconds() / 3):
            with self._worker.store.begin() as connection:
                queue.renew_lease(connection, self._job_ids, self._worker.name,
                                  until=self._worker.clock() + self._lease)
