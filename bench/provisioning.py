"""How much one playbook run for a whole batch saves over one run per volunteer.

For N = 10, 100 and 1000 volunteers, each active in LDAP and in two working groups,
on a private slapd and an SQLite store in a temporary folder, everything on loopback:

- batched: one grant job for all N volunteers, timed over `Worker.run_once()`
  (one playbook run); per volunteer = time / N;
- single: one job for one volunteer, timed over `Worker.run_once()`, on
  k = min(N, 15) volunteers (1000 single runs, at about 3 s each, would take an hour).

Each figure is the median of its repetitions (or of the k single runs), with min and
max. The ratio single/batched per volunteer comes first: absolute times are noisy.
Prints a table and writes the same as JSON to var/bench/provisioning.json.

Run: .venv/bin/python bench/provisioning.py   (or: make bench)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from provisioner import create_app
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import GRANT, Worker, queue_access
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from provisioner.runner import PlaybookRunner
from provisioner.slapd import PrivateSlapd
from provisioner.store import Store
from provisioner.store import jobs as queue
from provisioner.store.schema import job_results, job_targets, jobs
from provisioner.workflow import initialise_directory

SIZES = (10, 100, 1000)
BATCHED_REPEATS = {10: 5, 100: 5, 1000: 3}
MAX_SINGLE_RUNS = 15
GROUPS = ["kitchen", "tech"]
BASE_DN = "dc=bench,dc=occupy"
RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench" / "provisioning.json"


def app_config(slapd: PrivateSlapd, folder: Path) -> dict:
    return {
        "SECRET_KEY": "bench-secret-key-not-for-production",
        "LDAP_URL": slapd.url,
        "LDAP_BASE_DN": slapd.base_dn,
        "LDAP_BIND_DN": slapd.root_dn,
        "LDAP_BIND_PASSWORD": slapd.root_password,
        "DATABASE_URL": f"sqlite:///{folder / 'store.sqlite'}",
        "RUNNER_DIR": str(folder / "runner"),
        "SMTP_PORT": 9,
    }


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


def summary(per_volunteer_seconds: list[float]) -> dict:
    milliseconds = [1000 * seconds for seconds in per_volunteer_seconds]
    return {"runs": len(milliseconds), "median_ms": statistics.median(milliseconds),
            "min_ms": min(milliseconds), "max_ms": max(milliseconds)}


def measure(bench: Bench, targets: dict[str, list[str]]) -> dict:
    size = len(targets)
    batched = summary([bench.time_run(targets) / size for _ in range(BATCHED_REPEATS[size])])
    single = summary([bench.time_run({uid: groups})
                      for uid, groups in list(targets.items())[:MAX_SINGLE_RUNS]])
    return {"volunteers": size, "ratio": single["median_ms"] / batched["median_ms"],
            "batched": batched, "single": single}


def table(rows: list[dict]) -> str:
    def cell(figure: dict) -> str:
        return f"{figure['median_ms']:.1f} ({figure['min_ms']:.1f}–{figure['max_ms']:.1f})"

    lines = [
        "| N | single/batched | batched ms/volunteer (min–max) | runs "
        "| single ms/volunteer (min–max) | single runs (k) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [f"| {row['volunteers']} | {row['ratio']:.1f}× | {cell(row['batched'])} "
              f"| {row['batched']['runs']} | {cell(row['single'])} | {row['single']['runs']} |"
              for row in rows]
    return "\n".join(lines)


def main() -> None:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="bench-"))   # short: the ldapi socket path must stay short
    slapd = PrivateSlapd(folder / "slapd", BASE_DN, fast_writes=True)
    try:
        slapd.start()
        app = create_app(app_config(slapd, folder))
        with app.app_context():
            directory = get_directory()
            initialise_directory(directory, get_catalogue(), "Bench")
            worker = Worker(get_store(), directory, get_catalogue(),
                            PlaybookRunner(runner_settings(app)), job_settings(app.config))
            bench = Bench(worker, get_store(), folder / "runner")
            targets = add_volunteers(directory, 0, 1)
            bench.time_run(targets)                     # warm-up: Python and Ansible caches
            rows = []
            for size in SIZES:
                targets |= add_volunteers(directory, len(targets), size)
                rows.append(measure(bench, targets))
    finally:
        slapd.stop()
        shutil.rmtree(folder, ignore_errors=True)
    total = time.monotonic() - started
    print(f"Provisioning: one playbook run per batch vs one per volunteer "
          f"({date.today()}, {os.cpu_count()} cores, {total:.0f} s in all)")
    print(f"single = one run per volunteer, median of k = min(N, {MAX_SINGLE_RUNS}) runs, "
          "not N; batched = one run for all N, median of the runs shown\n")
    print(table(rows))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"date": str(date.today()), "cores": os.cpu_count(),
                                   "total_seconds": round(total, 1), "results": rows}, indent=2) + "\n")
    print(f"\nWritten to {RESULTS}")


if __name__ == "__main__":
    main()
