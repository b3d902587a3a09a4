"""Several workers share one queue on a real PostgreSQL server and never run the same job."""

from __future__ import annotations

import signal
import threading
import time
from datetime import timedelta

import pytest

from provisioner import create_app
from provisioner.clock import utc_now
from provisioner.jobs import GRANT
from provisioner.store import Store, jobs

from job_helpers import add_volunteers, queue, start_worker, worker_environment
from suite_config import app_config


@pytest.fixture
def pg_store(postgres_url):
    store = Store(postgres_url)
    store.create_schema()
    yield store
    store.dispose()


def test_concurrent_claims_never_take_the_same_job(pg_store):
    now = utc_now()
    with pg_store.begin() as connection:
        job_ids = {jobs.enqueue(connection, GRANT, {f"vol{n:04d}": ["kitchen"]}, created_by=None,
                                now=now, max_attempts=1) for n in range(300)}
    claimed: dict[str, list[int]] = {"a": [], "b": []}
    start = threading.Barrier(2)

    def claim_all(worker: str) -> None:
        start.wait()
        while True:
            with pg_store.begin() as connection:
                batch = jobs.claim(connection, worker, now=now, lease=timedelta(minutes=5), limit=5)
            if not batch:
                return
            claimed[worker].extend(job.id for job in batch)

    threads = [threading.Thread(target=claim_all, args=(name,)) for name in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(claimed["a"]) & set(claimed["b"])
    assert set(claimed["a"]) | set(claimed["b"]) == job_ids
    assert len(claimed["a"]) + len(claimed["b"]) == len(job_ids)


def test_two_worker_processes_share_the_queue(directory, slapd_server, postgres_url, tmp_path):
    app = create_app(app_config(slapd_server, postgres_url, runner_dir=str(tmp_path / "runner")))
    environment = worker_environment(app, slapd_server, tmp_path, WORKER_POLL_SECONDS=0.1)
    workers = [start_worker(environment) for _ in range(2)]
    try:
        job_ids = []
        for round_number in range(6):   # jobs keep arriving while both workers poll
            targets = add_volunteers(directory, 3, prefix=f"r{round_number}v")
            job_ids += [queue(app, GRANT, {uid: groups}) for uid, groups in targets.items()]
            time.sleep(0.4)
        deadline = time.monotonic() + 120
        with app.app_context():
            store = app.extensions["store"]
            while True:
                with store.begin() as connection:
                    finished = [jobs.get(connection, job_id) for job_id in job_ids]
                if all(job.state == "succeeded" for job in finished):
                    break
                assert time.monotonic() < deadline, [(job.id, job.state, job.error) for job in finished]
                time.sleep(0.2)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [worker.communicate(timeout=60)[0] for worker in workers]
        app.extensions["store"].dispose()
    assert all(worker.returncode == 0 for worker in workers), outputs
    for job in finished:
        assert job.attempts == 1
        assert len({result.worker for result in job.results}) == 1
