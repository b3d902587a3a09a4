"""Whether the provisioning run grows linearly with its batch: N = 100, 1000 and 10,000.

Each volunteer is active in LDAP and in two working groups, on a private slapd and an
SQLite store in a temporary folder, on `inventory/local`, which offers no service: only
the project's own cost counts (the directory look-ups, the directory check, Ansible,
the batch modules, the worker, the store writes). One grant job for all N, timed over
`Worker.run_once()` in a process of its own (worker_once.py), so its peak memory is
its own. Per volunteer = time / N.

The issue's targets: the per-volunteer cost at 10,000 at most 1.2x that at 1000, and the
worker's peak memory at 10,000 under 200 MB. --quick leaves the 10,000 out (its set-up
alone takes minutes), and with it the targets.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import ldap3
from bench_stack import BENCH, app_config, bench_stack
from figures import Row, Spread
from processes import environment_for
from provisioning import GROUPS

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import GRANT, queue_access
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import job_results, job_targets, jobs
from provisioner.workflow import initialise_directory

REPEATS = {100: 3, 1000: 3, 10_000: 2}       # N -> runs
QUICK_REPEATS = {100: 1, 1000: 1}
COST_TARGET = 1.2                            # per volunteer at 10,000 / at 1000, at most
MEMORY_TARGET_MB = 200                       # the worker's peak at 10,000, under
LARGEST, REFERENCE = 10_000, 1000
MEMBERS_PER_WRITE = 1000                     # member values added to a group per modify
WORKER_ONCE = Path(__file__).resolve().parent / "worker_once.py"


def enrol(directory: Directory, settings: dict, start: int, stop: int) -> dict[str, list[str]]:
    """Active accounts vol00000... in the two working groups: uid -> slugs.

    The entries through the directory layer, one add each; the memberships a thousand to
    a modify, on one connection bound as the portal (the set-up of 10,000 stays minutes short)."""
    uids = [f"vol{number:05d}" for number in range(start, stop)]
    for number, uid in zip(range(start, stop), uids, strict=True):
        directory.people.add(NewPerson(uid=uid, display_name=f"Volunteer {number}",
                                       mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
    layout = directory.layout
    connection = ldap3.Connection(ldap3.Server(settings["LDAP_URL"], get_info=ldap3.NONE),
                                  settings["LDAP_BIND_DN"], settings["LDAP_BIND_PASSWORD"],
                                  auto_bind=True, raise_exceptions=True)
    try:
        for slug in GROUPS:
            group = layout.group_dn(f"wg-{slug}")
            for first in range(0, len(uids), MEMBERS_PER_WRITE):
                members = [layout.person_dn(uid) for uid in uids[first:first + MEMBERS_PER_WRITE]]
                connection.modify(group, {"member": [(ldap3.MODIFY_ADD, members)]})
    finally:
        connection.unbind()
    return {uid: GROUPS for uid in uids}


def run_worker(settings: dict, store: Store, job_settings: dict, targets: dict[str, list[str]]) -> dict:
    """One grant job for these volunteers, run by a worker process, which must succeed:
    its seconds and peak memory (MB), its own and its largest child's."""
    job_id = queue_access(store, GRANT, targets, actor="bench", now=utc_now(), settings=job_settings)
    result = subprocess.run([sys.executable, str(WORKER_ONCE)], env=environment_for(settings),
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the worker failed: {result.stderr[-2000:]}")
    worker = json.loads(result.stdout.splitlines()[-1])
    with store.begin() as connection:
        job = queue.get(connection, job_id)
        for table in (job_results, job_targets, jobs):       # the next run starts from an empty queue
            connection.execute(table.delete())
    shutil.rmtree(Path(settings["RUNNER_DIR"]) / "artifacts", ignore_errors=True)
    if worker["ran"] != 1 or job.state != queue.SUCCEEDED:
        raise RuntimeError(f"the benchmark job did not succeed: {job.state}, {job.error}")
    return {"seconds": worker["seconds"], "worker_peak_rss_mb": worker["peak_rss_mb"],
            "children_peak_rss_mb": worker["children_peak_rss_mb"]}


def run(quick: bool = False) -> tuple[list[Row], dict]:
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    measured = []
    try:
        with bench_stack(folder) as stack:
            settings = app_config(stack)
            app = create_app(settings)
            with app.app_context():
                directory, store = get_directory(), get_store()
                initialise_directory(directory, get_catalogue(), BENCH.name)
                jobs_config = job_settings(app.config)
                targets = enrol(directory, settings, 0, 1)
                run_worker(settings, store, jobs_config, targets)     # warm-up: Python's and Ansible's caches
                for size, repeats in (QUICK_REPEATS if quick else REPEATS).items():
                    targets |= enrol(directory, settings, len(targets), size)
                    runs = [run_worker(settings, store, jobs_config, targets) for _ in range(repeats)]
                    measured.append({"volunteers": size, "runs": runs})
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows(measured), {"runs": measured, "targets": targets_met(measured)}


def per_volunteer_ms(size: dict) -> list[float]:
    return [1000 * run["seconds"] / size["volunteers"] for run in size["runs"]]


def targets_met(measured: list[dict]) -> list[dict]:
    """The issue's two targets, when the run went to 10,000 (--quick does not)."""
    by_size = {size["volunteers"]: size for size in measured}
    if LARGEST not in by_size or REFERENCE not in by_size:
        return []
    growth = (statistics.median(per_volunteer_ms(by_size[LARGEST]))
              / statistics.median(per_volunteer_ms(by_size[REFERENCE])))
    memory = max(run["worker_peak_rss_mb"] for run in by_size[LARGEST]["runs"])
    return [{"name": "per-volunteer cost at 10,000 / at 1000", "value": round(growth, 2),
             "target": COST_TARGET, "met": growth <= COST_TARGET},
            {"name": "worker peak memory at 10,000 volunteers, MB", "value": round(memory, 1),
             "target": MEMORY_TARGET_MB, "met": memory < MEMORY_TARGET_MB}]


def rows(measured: list[dict]) -> list[Row]:
    found, by_size = [], {size["volunteers"]: size for size in measured}
    if LARGEST in by_size and REFERENCE in by_size:
        reference = statistics.median(per_volunteer_ms(by_size[REFERENCE]))
        growth = Spread.of([cost / reference for cost in per_volunteer_ms(by_size[LARGEST])])
        found.append(Row("scale", f"per volunteer: N={LARGEST} / N={REFERENCE} (its median)", growth, "×",
                         f"≤ {COST_TARGET}×", growth.median <= COST_TARGET))
    for size in measured:
        count, runs = size["volunteers"], size["runs"]
        memory = Spread.of([run["worker_peak_rss_mb"] for run in runs])
        found += [
            Row("scale", f"N={count}: per volunteer (no services offered)",
                Spread.of(per_volunteer_ms(size)), "ms"),
            Row("scale", f"N={count}: whole run", Spread.of([run["seconds"] for run in runs]), "s"),
            Row("memory", f"worker: peak RSS, N={count}, no services offered", memory, "MB",
                *((f"< {MEMORY_TARGET_MB} MB", memory.high < MEMORY_TARGET_MB) if count == LARGEST else ())),
        ]
    return found
