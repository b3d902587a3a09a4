"""Counts over the job tables for the sysadmins' dashboard: each person's latest outcome on
each service, who has a job still to run, and the jobs that ended on each of the last days.

Each is one query, however many people and jobs there are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .jobs import FAILED, SUCCEEDED, UNFINISHED
from .schema import job_results, job_targets, jobs


def latest_statuses(connection: Connection) -> dict[tuple[str, str], str]:
    """(uid, service) -> the status of the newest result recorded for it (ok, changed,
    failed, not_offered), whatever job it came from."""
    newest = (sa.select(sa.func.max(job_results.c.id).label("id"))
              .group_by(job_results.c.uid, job_results.c.service).subquery())
    rows = connection.execute(sa.select(job_results.c.uid, job_results.c.service, job_results.c.status)
                              .join(newest, newest.c.id == job_results.c.id))
    return {(uid, service): status for uid, service, status in rows}


def waiting(connection: Connection) -> set[str]:
    """The uids a job still to run (queued or running) is for."""
    return set(connection.execute(
        sa.select(job_targets.c.uid).distinct().join(jobs, jobs.c.id == job_targets.c.job_id)
        .where(jobs.c.state.in_(UNFINISHED))).scalars())


@dataclass(frozen=True)
class DayOfJobs:
    day: date
    succeeded: int
    failed: int


def ended_per_day(connection: Connection, *, today: date, days: int) -> list[DayOfJobs]:
    """The jobs that succeeded and failed on each of the last `days` days (UTC), oldest first,
    a day without any included."""
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = connection.execute(sa.select(jobs.c.finished_at, jobs.c.state)
                              .where(jobs.c.finished_at >= since, jobs.c.state.in_((SUCCEEDED, FAILED))))
    counted: Counter[tuple[date, str]] = Counter((finished.date(), state) for finished, state in rows)
    return [DayOfJobs(day, counted[(day, SUCCEEDED)], counted[(day, FAILED)])
            for day in (first + timedelta(days=n) for n in range(days))]

