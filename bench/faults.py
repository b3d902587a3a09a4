"""A batch through faults: slapd, Mailman, Redmine and the worker each killed once, mid-run.

On the services bench's stack (private slapd, Mailman, DokuWiki, Redmine on loopback),
N = 1000 volunteers (30 with --quick), each active in two working groups, each granted
by a job of their own, as approvals queue them, run by a real `provisioner worker`:

- baseline: N jobs queued, a worker started, timed until every job has succeeded;
- faulted: N other volunteers the same way, while at random moments (seeded: the seed
  is printed and recorded) slapd, Mailman and Redmine are each SIGKILLed and started
  again on their port and data, and the worker is SIGKILLed and a new one started;
- the check, through the services' own APIs: each volunteer a member of each of their
  two lists exactly once (Mailman's rosters), one Redmine account with their login and
  one membership in each of their projects, the wiki letting them edit their namespaces
  (aclCheck); nobody missing or doubled; each job succeeded, once.

The worker's settings make faults end in success within minutes: a retry 2 s after a
failed run (doubling), up to 10 runs a job, and a 15 s lease, so the jobs of a killed
worker are taken over 15 s after its last heartbeat at most. Faults strike between 1 s
and 70% of the baseline's time into the run (each one delays the run, so all of them
strike while jobs are left).
"""

from __future__ import annotations

import random
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from bench_stack import BENCH, app_config, bench_stack
from fault_injection import FAULTS, Fault, FaultInjector, WorkerProcess
from figures import Row, Spread
from provisioning import GROUPS
from service_counts import list_members, redmine_accounts, wiki_refusals
from services import WIKI_ADMIN, WIKI_ADMIN_PASSWORD, Services, Volunteers

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import NewPerson
from provisioner.private_services.stack import WikiAdmin, write_inventory
from provisioner.resources import get_catalogue, get_directory, get_store
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import jobs
from provisioner.workflow import create_sysadmin, initialise_directory

VOLUNTEERS, QUICK_VOLUNTEERS = 1000, 30
# The worker's settings for the bench (config.py's defaults: 5 runs, 30 s, 300 s).
JOB_SETTINGS = {"JOB_MAX_ATTEMPTS": 10, "JOB_RETRY_SECONDS": 2, "JOB_LEASE_SECONDS": 15,
                "WORKER_POLL_SECONDS": 0.5}
FIRST_FAULT_SECONDS, LAST_FAULT_SHARE = 1.0, 0.7
POLL_SECONDS = 0.5
TIMEOUT_PER_VOLUNTEER = 3.0          # a batch that takes longer than this has hung
MIN_TIMEOUT = 900.0                  # (on a shared 2-core machine, 100 took 200 s without faults)
PROGRESS_SECONDS = 30.0


def queue_grants(store: Store, people: list[NewPerson]) -> list[int]:
    """One grant job per volunteer, as approvals queue them."""
    with store.begin() as connection:
        found = [queue.enqueue(connection, "grant", {person.uid: GROUPS}, created_by="bench", now=utc_now(),
                               max_attempts=JOB_SETTINGS["JOB_MAX_ATTEMPTS"]) for person in people]
    return [job_id for job_id in found if job_id is not None]


def states(store: Store, job_ids: list[int]) -> dict[str, int]:
    with store.begin() as connection:
        rows = connection.execute(sa.select(jobs.c.state, sa.func.count()).where(jobs.c.id.in_(job_ids))
                                  .group_by(jobs.c.state)).all()
    return {state: count for state, count in rows}


class Batch:
    """Queues a job per volunteer, starts a worker, waits until every job has ended."""

    def __init__(self, store: Store, settings: dict, folder: Path):
        self.store, self.settings, self.folder = store, settings, folder

    def run(self, people: list[NewPerson], name: str, faults: list[Fault],
            injector_of: Callable[[WorkerProcess], FaultInjector] | None = None) -> dict:
        job_ids = queue_grants(self.store, people)
        worker = WorkerProcess(self.settings, self.folder / f"worker-{name}.log")
        injector = injector_of(worker) if injector_of else None
        pending = sorted(faults, key=lambda fault: fault.planned_at)
        timeout = max(MIN_TIMEOUT, TIMEOUT_PER_VOLUNTEER * len(people))
        started = reported = time.monotonic()
        worker.start()
        try:
            while True:
                counts = states(self.store, job_ids)
                unfinished = sum(counts.get(state, 0) for state in queue.UNFINISHED)
                seconds = time.monotonic() - started
                if not unfinished:
                    break
                if pending and seconds >= pending[0].planned_at:
                    fault = pending.pop(0)
                    fault.during_run = True
                    injector.strike(fault, started)
                    print(f"  {fault.name} killed at {fault.killed_at:.1f} s, back at {fault.back_at:.1f} s",
                          file=sys.stderr, flush=True)
                    continue
                worker.check_alive()
                if time.monotonic() - reported >= PROGRESS_SECONDS:
                    reported = time.monotonic()
                    print(f"  {name}: {seconds:.0f} s, jobs {counts}", file=sys.stderr, flush=True)
                if seconds > timeout:
                    raise RuntimeError(f"{name}: jobs unfinished after {timeout:.0f} s: {counts}")
                time.sleep(POLL_SECONDS)
        finally:
            worker.stop()
        print(f"  {name}: every job ended after {seconds:.1f} s: {counts}", file=sys.stderr, flush=True)
        return {"seconds": seconds, "jobs": job_ids, "states": counts, "workers_started": worker.started,
                "errors": self.errors(job_ids)}

    def errors(self, job_ids: list[int]) -> list[str]:
        """The messages of jobs that did not succeed (at most 10)."""
        with self.store.begin() as connection:
            rows = connection.execute(sa.select(jobs.c.id, jobs.c.state, jobs.c.error).where(
                jobs.c.id.in_(job_ids), jobs.c.state != queue.SUCCEEDED).limit(10)).all()
        return [f"job {job_id} {state}: {error}" for job_id, state, error in rows]


def attempts(store: Store, job_ids: list[int]) -> dict[int, int]:
    """How many jobs took how many runs."""
    with store.begin() as connection:
        rows = connection.execute(sa.select(jobs.c.attempts, sa.func.count()).where(jobs.c.id.in_(job_ids))
                                  .group_by(jobs.c.attempts)).all()
    return {runs: count for runs, count in rows}


def check(services: Services, store: Store, people: list[NewPerson], job_ids: list[int]) -> dict:
    """Who is provisioned exactly once in every service, through the services' APIs; and the jobs."""
    members = {slug: list_members(services, f"wg-{slug}.{BENCH.list_domain}") for slug in GROUPS}
    accounts, memberships = redmine_accounts(services, [f"wg-{slug}" for slug in GROUPS])
    refused = set(wiki_refusals(services, (WIKI_ADMIN, WIKI_ADMIN_PASSWORD), people,
                                [f"wg:{slug}" for slug in GROUPS]))
    problems: dict[str, list[str]] = {}
    for person in people:
        found = [f"list wg-{slug}: {members[slug][person.mail]}" for slug in GROUPS
                 if members[slug][person.mail] != 1]
        found += [f"Redmine accounts: {accounts[person.uid]}"] if accounts[person.uid] != 1 else []
        found += [f"Redmine project wg-{slug}: {memberships[f'wg-{slug}'][person.uid]}" for slug in GROUPS
                  if memberships[f"wg-{slug}"][person.uid] != 1]
        found += [f"wiki: {refusal}" for refusal in refused if refusal.startswith(f"{person.uid} ")]
        if found:
            problems[person.uid] = found
    with store.begin() as connection:
        job_rows = connection.execute(sa.select(jobs.c.id, jobs.c.state).where(jobs.c.id.in_(job_ids))).all()
    not_succeeded = [f"job {job_id}: {state}" for job_id, state in job_rows if state != queue.SUCCEEDED]
    return {"volunteers": len(people), "exactly_once": len(people) - len(problems),
            "jobs": len(job_rows), "jobs_succeeded": len(job_rows) - len(not_succeeded),
            "problems": dict(list(problems.items())[:20]), "jobs_not_succeeded": not_succeeded[:20]}


def plan(seed: int, baseline_seconds: float) -> list[Fault]:
    """Each fault once, at a moment drawn from the seed, within the first 70% of the baseline's time."""
    chance = random.Random(seed)      # noqa: S311 - a schedule to replay from its seed, not a secret
    latest = max(FIRST_FAULT_SECONDS + 1, LAST_FAULT_SHARE * baseline_seconds)
    return [Fault(name, chance.uniform(FIRST_FAULT_SECONDS, latest)) for name in FAULTS]


def run(quick: bool = False) -> tuple[list[Row], dict]:
    size = QUICK_VOLUNTEERS if quick else VOLUNTEERS
    seed = secrets.randbelow(2**31)
    print(f"faults: seed {seed}", file=sys.stderr, flush=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    try:
        with bench_stack(folder, WikiAdmin(WIKI_ADMIN, WIKI_ADMIN_PASSWORD)) as stack:
            services = Services(stack.slapd(), stack.mailman(), stack.wiki(), stack.redmine())
            offered = (services.mailman, services.wiki, services.redmine)
            settings = app_config(stack, INVENTORY=str(write_inventory(folder / "inventory", *offered)),
                                  **JOB_SETTINGS)
            app = create_app(settings)
            with app.app_context():
                directory, store = get_directory(), get_store()
                initialise_directory(directory, get_catalogue(), BENCH.name)
                create_sysadmin(directory, WIKI_ADMIN, "wikibot@example.org", "Wiki Robot",
                                WIKI_ADMIN_PASSWORD)
                volunteers = Volunteers(directory)
                batch = Batch(store, settings, folder)
                batch.run(volunteers.enrol(1), "warm-up", [])     # the lists, namespaces and projects
                baseline_people = volunteers.enrol(size)
                baseline = batch.run(baseline_people, "baseline", [])
                faults = plan(seed, baseline["seconds"])
                faulted_people = volunteers.enrol(size)
                faulted = batch.run(faulted_people, "faulted", faults,
                                    injector_of=lambda worker: FaultInjector(services, worker))
                faulted["attempts"] = attempts(store, faulted["jobs"])
                checked = check(services, store, faulted_people, faulted["jobs"])
                baseline_checked = check(services, store, baseline_people, baseline["jobs"])
                directory.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    for result in (baseline, faulted):
        del result["jobs"]
    details = {"volunteers": size, "seed": seed, "job_settings": JOB_SETTINGS, "baseline": baseline,
               "faulted": faulted, "faults": [fault.as_dict() for fault in faults],
               "check": checked, "baseline_check": baseline_checked}
    met = (checked["exactly_once"] == size and checked["jobs_succeeded"] == size
           and all(fault.during_run for fault in faults))
    details["targets"] = [{
        "name": f"{size} volunteers through faults: every volunteer provisioned exactly once",
        "value": f"{checked['exactly_once']} of {size}", "target": f"{size} of {size}", "met": met}]
    return rows(size, baseline, faulted, faults, checked, met), details


def rows(size: int, baseline: dict, faulted: dict, faults: list[Fault], checked: dict,
         met: bool) -> list[Row]:
    def one(value: float) -> Spread:
        return Spread.of([value])

    found = [Row("faults", f"N={size}: provisioned exactly once in every service, through faults",
                 one(checked["exactly_once"]), "volunteers", f"{size}", met),
             Row("faults", f"N={size}: baseline, no faults", one(baseline["seconds"]), "s"),
             Row("faults", f"N={size}: with the 4 faults", one(faulted["seconds"]), "s"),
             Row("faults", f"N={size}: seconds the faults added",
                 one(faulted["seconds"] - baseline["seconds"]), "s")]
    for fault in faults:
        if fault.killed_at is not None and fault.back_at is not None:
            found.append(Row("faults", f"N={size}: {fault.name} killed at {fault.killed_at:.0f} s, down for",
                             one(fault.back_at - fault.killed_at), "s"))
    return found
