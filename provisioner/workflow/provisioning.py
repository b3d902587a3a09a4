"""Provisioning as sysadmins and volunteers see it: the jobs, their progress, retry and cancel,
a person's access to each service, and the health checks.

The views call these only; each sysadmin action checks its actor and audits itself.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy.engine import Connection

from ..directory import DirectoryError
from ..languages import Text
from ..store import StoreUnavailable, audit
from ..store import jobs as queue
from ..store.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, Job
from .context import Portal
from .errors import WorkflowError
from .permissions import require_sysadmin

log = logging.getLogger("provisioner.health")
JOB_STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
__all__ = ["CANCELLED", "FAILED", "JOB_STATES", "QUEUED", "RUNNING", "SUCCEEDED", "Job", "JobUnchanged",
           "NoSuchJob", "cancel_job", "health", "job", "latest_job_of", "recent_jobs",
           "retry_job"]


class NoSuchJob(WorkflowError):
    """The job does not exist (the web answers 404)."""


class JobUnchanged(WorkflowError):
    """The job is not in a state this change applies to; the message says why."""


def recent_jobs(portal: Portal, *, actor: str, state: str | None = None) -> list[Job]:
    """The newest jobs, in one state when `state` names one."""
    require_sysadmin(portal, actor)
    with portal.store.begin() as connection:
        return queue.recent(connection, state=state if state in JOB_STATES else None)


def job(portal: Portal, job_id: int, *, actor: str) -> Job:
    """One job with its results, attempt by attempt."""
    require_sysadmin(portal, actor)
    with portal.store.begin() as connection:
        found = queue.get(connection, job_id)
    if found is None:
        raise NoSuchJob(Text("There is no job %(job)s.", job=job_id))
    return found


class _JobChange(Protocol):
    """queue.retry or queue.cancel: whether the job was changed."""

    def __call__(self, connection: Connection, job_id: int, *, now: datetime) -> bool: ...


def retry_job(portal: Portal, job_id: int, *, actor: str, remote_addr: str | None = None) -> None:
    """Queue a failed or cancelled job again."""
    _change(portal, job_id, queue.retry, "job-retried", actor, remote_addr,
            Text("Job %(job)s can only be retried once it has failed or been cancelled (and a "
                 "repair of the services while no other repair waits or runs).", job=job_id))


def cancel_job(portal: Portal, job_id: int, *, actor: str, remote_addr: str | None = None) -> None:
    """Cancel a job that has not finished."""
    _change(portal, job_id, queue.cancel, "job-cancelled", actor, remote_addr,
            Text("Job %(job)s has already finished.", job=job_id))


def _change(portal: Portal, job_id: int, change: _JobChange, action: str, actor: str, remote_addr: str | None,
            refused: str) -> None:
    job(portal, job_id, actor=actor)
    with portal.store.begin() as connection:
        changed = change(connection, job_id, now=portal.clock())
        if changed:
            audit.record(connection, at=portal.clock(), action=action, actor=actor,
                         detail=f"job {job_id}", remote_addr=remote_addr)
    if not changed:
        raise JobUnchanged(refused)


def latest_job_of(portal: Portal, uid: str) -> Job | None:
    """The newest job about this person: what their own page shows of their access."""
    with portal.store.begin() as connection:
        return queue.latest_for(connection, uid)


def health(portal: Portal) -> dict[str, bool]:
    """Whether the directory and the store answer, for /healthz; why not goes to the log."""
    checks = {}
    for name, ping, failure in (("directory", portal.directory.ping, DirectoryError),
                                ("store", portal.store.ping, StoreUnavailable)):
        try:
            ping()
            checks[name] = True
        except failure as error:
            log.warning("health check: %s: %s", name, error)
            checks[name] = False
    return checks
