"""Running the real provisioning worker from tests: volunteers in LDAP, jobs in the store."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask

from provisioner.clock import utc_now
from provisioner.directory import Directory, NewPerson, Status
from provisioner.jobs import Worker, queue_access
from provisioner.resources import get_catalogue, get_store, job_settings, runner_settings
from provisioner.runner import PlaybookRunner
from provisioner.store import jobs

from suite_config import app_config


class Clock:
    """A clock a test moves forward, to reach a retry time or the end of a lease."""

    def __init__(self):
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


def add_volunteers(directory: Directory, count: int, groups=("kitchen", "tech"),
                   prefix: str = "vol") -> dict[str, list[str]]:
    """Active accounts in their working groups, as approval leaves them: uid -> slugs."""
    targets = {}
    for number in range(count):
        uid = f"{prefix}{number:04d}"
        directory.people.add(NewPerson(uid=uid, display_name=f"Volunteer {number}",
                                       mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
        for slug in groups:
            directory.groups.add_member(f"wg-{slug}", uid)
        targets[uid] = list(groups)
    return targets


def make_worker(app: Flask, directory: Directory, clock: Clock | None = None, *, sends_mail: bool = False,
                **settings) -> Worker:
    """The worker as `provisioner worker` makes it; with `sends_mail`, it sends the app's outbox."""
    with app.app_context():
        defaults = job_settings(app.config)
        return Worker(get_store(), directory, get_catalogue(), PlaybookRunner(runner_settings(app)),
                      replace(defaults, **settings), clock=clock or utc_now,
                      mailer=app.extensions["mailer"] if sends_mail else None)


def queue(app: Flask, kind: str, targets: dict[str, list[str]], now: datetime | None = None,
          max_attempts: int = 5) -> int:
    with app.app_context():
        settings = replace(job_settings(app.config), max_attempts=max_attempts)
        return queue_access(get_store(), kind, targets, actor="test", now=now or utc_now(),
                            settings=settings)


def job(app: Flask, job_id: int) -> jobs.Job:
    with app.app_context(), get_store().begin() as connection:
        return jobs.get(connection, job_id)


def runs(app: Flask) -> list[Path]:
    """One folder per ansible-runner run, under the runner's artifacts, oldest first."""
    artifacts = Path(app.config["RUNNER_DIR"]) / "artifacts"
    return sorted(artifacts.iterdir(), key=lambda run: run.stat().st_mtime) if artifacts.exists() else []


def worker_environment(app, slapd_server, tmp_path, **extra) -> dict[str, str]:
    """A sysadmin's set-up: everything through PROVISIONER_* variables, secrets included."""
    config = app_config(slapd_server, app.config["DATABASE_URL"], runner_dir=app.config["RUNNER_DIR"])
    env = {key: value for key, value in os.environ.items() if not key.startswith("PROVISIONER_")}
    env.update({f"PROVISIONER_{name}": str(value) for name, value in config.items()
                if name not in ("TESTING",)})
    env.update({f"PROVISIONER_{name}": str(value) for name, value in extra.items()})
    return env


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen:
    command = Path(sys.executable).parent / "provisioner"
    return subprocess.Popen([str(command), "worker", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
