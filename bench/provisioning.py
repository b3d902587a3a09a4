"""How much one playbook run for a whole batch saves over one run per volunteer.

For N = 10, 100 and 1000 volunteers, each active in LDAP and in two working groups,
on a private slapd and an SQLite store in a temporary folder, everything on loopback:

- batched: one grant job for all N volunteers, timed over `Worker.run_once()`
  (one playbook run); per volunteer = time / N;
- single: one job for one volunteer, timed over `Worker.run_once()`, on
  k = min(N, 15) volunteers (1000 single runs, at about 3 s each, would take an hour).

The ratio (one run each)/batched per volunteer is the median single run over each batched
run, with min and max; it comes first, as absolute times are noisy. The inventory offers
no service (inventory/local): this is the cost of Ansible, the worker and the store."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench_stack import BENCH, app_config, bench_stack
from figures import Row, Spread

from provisioner import create_app
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import GRANT, Worker, queue_access
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from provisioner.runner import PlaybookRunner
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import job_results, job_targets, jobs
from provisioner.workflow import initialise_directory

BATCHED_REPEATS = {10: 5, 100: 5, 1000: 3}      # N -> batched runs
QUICK_BATCHED_REPEATS = {100: 2}               # --quick: N = 100 only, where the target is held
MAX_SINGLE_RUNS, QUICK_SINGLE_RUNS = 15, 3
SPEED_UP_TARGET = 50          # the issue's: batched at least 50x cheaper per volunteer...
SPEED_UP_TARGET_FROM = 100    # ...for batches this large and up (a batch of 10 can save 10x at most)
GROUPS = ["kitchen", "tech"]


def add_volunteers(directory: Directory, start: int, stop: int) -> dict[str, list[str]]:
    """Active accounts vol0000... in the two working groups: uid -> slugs."""
    targets = {}
    for number in range(start, stop):
        uid = f"vol{number:04d}"
        directory.people.add(NewPerson(uid=uid, display_name=f"Volunteer {number}",
                                       mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
        for slug in GROUPS:
            directory.groups.add_member(f"wg-{slug}", uid)
        targets[uid] = GROUPS
    return targets


class Bench:
    """Queues a grant job, times the worker's run of it, and clears up after it."""

    def __init__(self, worker: Worker, store: Store, runner_dir: Path):
        self.worker, self.store, self.runner_dir = worker, store, runner_dir

    def time_run(self, targets: dict[str, list[str]]) -> float:
        """Seconds for `run_once` on one job for these volunteers, which must succeed."""
        job_id = queue_access(self.store, GRANT, targets, actor="bench", now=self.worker.clock(),
                              settings=self.worker.settings)
        started = time.perf_counter()
        ran = self.worker.run_once()
        seconds = time.perf_counter() - started
        with self.store.begin() as connection:
            job = queue.get(connection, job_id)
            # Every repetition starts from an empty queue and no run artifacts.
            for table in (job_results, job_targets, jobs):
                connection.execute(table.delete())
        shutil.rmtree(self.runner_dir / "artifacts", ignore_errors=True)
        if ran != 1 or job.state != queue.SUCCEEDED:
            raise RuntimeError(f"the benchmark job did not succeed: {job.state}, {job.error}")
        return seconds


def measure(bench: Bench, targets: dict[str, list[str]], repeats: int, single_runs: int) -> dict:
    size = len(targets)
    batched = [bench.time_run(targets) / size for _ in range(repeats)]
    single = [bench.time_run({uid: groups}) for uid, groups in list(targets.items())[:single_runs]]
    return {"volunteers": size, "batched_seconds_per_volunteer": batched, "single_seconds": single}


def run(quick: bool = False) -> tuple[list[Row], dict]:
    repeats = QUICK_BATCHED_REPEATS if quick else BATCHED_REPEATS
    single_runs = QUICK_SINGLE_RUNS if quick else MAX_SINGLE_RUNS
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    try:
        with bench_stack(folder) as stack:
            app = create_app(app_config(stack))
            with app.app_context():
                directory = get_directory()
                initialise_directory(directory, get_catalogue(), BENCH.name)
                worker = Worker(get_store(), directory, get_catalogue(),
                                PlaybookRunner(runner_settings(app)), job_settings(app.config))
                bench = Bench(worker, get_store(), Path(app.config["RUNNER_DIR"]))
                targets = add_volunteers(directory, 0, 1)
                bench.time_run(targets)                     # warm-up: Python and Ansible caches
                measured = []
                for size, size_repeats in repeats.items():
                    targets |= add_volunteers(directory, len(targets), size)
                    measured.append(measure(bench, targets, size_repeats, min(size, single_runs)))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return rows(measured), {"runs": measured}


def rows(measured: list[dict]) -> list[Row]:
    found = []
    for size in measured:
        count, batched = size["volunteers"], size["batched_seconds_per_volunteer"]
        single = statistics.median(size["single_seconds"])
        speed_up = Spread.of([single / seconds for seconds in batched])
        target, met = "", None
        if count >= SPEED_UP_TARGET_FROM:
            target, met = f"≥ {SPEED_UP_TARGET}×", speed_up.median >= SPEED_UP_TARGET
        found += [
            Row("provisioning", f"N={count}: per volunteer, one run each / batched "
                f"(one run each: median of {len(size['single_seconds'])})", speed_up, "×", target, met),
            Row("provisioning", f"N={count}: batched, per volunteer (no services offered)",
                Spread.of([1000 * seconds for seconds in batched]), "ms"),
        ]
    return found


