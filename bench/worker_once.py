"""The provisioning worker's `run_once()`, in a process of its own so its memory is its own.

bench/services.py starts it with the portal's settings in PROVISIONER_* variables, after
queuing the job. It prints JSON: the jobs run, the seconds `run_once()` took, its peak
RSS, and the peak RSS of the largest process it started and waited for (ansible-playbook
or a module it ran), in MB.
"""

from __future__ import annotations

import json
import resource
import time

from processes import peak_rss_mb

from provisioner import create_app
from provisioner.jobs import Worker
from provisioner.resources import get_catalogue, get_directory, get_store, job_settings, runner_settings
from provisioner.runner import PlaybookRunner


def main() -> None:
    app = create_app()
    with app.app_context():
        worker = Worker(get_store(), get_directory(), get_catalogue(),
                        PlaybookRunner(runner_settings(app)), job_settings(app.config))
        started = time.perf_counter()
        ran = worker.run_once()
        seconds = time.perf_counter() - started
    print(json.dumps({"ran": ran, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
                      # Linux gives kB; for the children, the largest one reaped, its own children included.
                      "children_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
