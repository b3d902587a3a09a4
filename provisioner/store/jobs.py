"""The job queue's SQL: queue, claim under a lease, record results, finish, retry, cancel.

A claim is a conditional UPDATE that only one worker can win, on SQLite and on
PostgreSQL alike; on PostgreSQL the candidate rows are also locked with
FOR UPDATE SKIP LOCKED, so workers on several hosts never wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .schema import job_results, job_targets, jobs

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
# A repair of drift (issue 17): the whole directory against the services, in a run of its own.
RECONCILE = "reconcile"
UNFINISHED = (QUEUED, RUNNING)


@dataclass(frozen=True)
class JobResult:
    job_id: int
    attempt: int
    worker: str
    uid: str
    service: str
    task: str
    status: str
    message: str | None
    at: datetime


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    state: str
    attempts: int
    max_attempts: int
    not_before: datetime
    created_at: datetime
    created_by: str | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    lease_owner: str | None
    lease_expires: datetime | None
    runs_alone: bool = False     # failed for its own volunteers' data once: never in a shared run
    targets: dict[str, list[str]] = field(default_factory=dict)  # uid -> working-group slugs
    # uid -> the address the services may know the volunteer by when it is not the directory's:
    # a deleted account's for a revoke, a changed account's former address for a grant
    mails: dict[str, str] = field(default_factory=dict, repr=False)
    # uid -> the pseudonym of a deleted account, whose rows of this job take it once it ends
    forgotten: dict[str, str] = field(default_factory=dict, repr=False)
    results: list[JobResult] = field(default_factory=list)
    services: tuple[str, ...] = ()   # a reconcile's services; empty for a grant or revoke


def enqueue(connection: Connection, kind: str, targets: Mapping[str, Iterable[str]], *,
            created_by: str | None, now: datetime, max_attempts: int,
            mails: Mapping[str, str] | None = None,
            forget_as: Mapping[str, str] | None = None) -> int | None:
    """Queue a job; None if nobody is left to queue.

    `mails` gives the address the services may know a volunteer by when it is not the
    directory's: a deleted account's (its entry gone when a revoke runs), or a changed
    account's former address (a grant moves them off it). The job carries it until it
    succeeds (a retry of a failed one needs it). `forget_as` gives a deleted account's
    pseudonym: the services forget them, and the job's rows take the pseudonym when it
    succeeds.

    Volunteers already waiting in a queued job of the same kind with the same groups
    are left out (approving twice never queues twice); the waiting job takes their
    address from `mails` if it carries none (the first address it carries is the one
    the services know). A queued job of the other kind
    for the same volunteers loses the working groups this one names: the newest
    decision about each group wins, and decisions about their other groups stand
    (granting kitchen then revoking tech must still grant kitchen).
    """
    wanted = {uid: sorted(groups) for uid, groups in targets.items()}
    mails = mails or {}
    forget_as = forget_as or {}
    _supersede(connection, wanted, kind, now)
    waiting = connection.execute(
        sa.select(job_targets.c.job_id, job_targets.c.uid, job_targets.c.groups, job_targets.c.mail,
                  job_targets.c.forget_as)
        .join(jobs, jobs.c.id == job_targets.c.job_id)
        .where(jobs.c.kind == kind, jobs.c.state == QUEUED, job_targets.c.uid.in_(list(wanted)))
    ).all()
    for waiting_job, uid, groups, mail, forgotten in waiting:
        if wanted.get(uid) == groups.split():
            del wanted[uid]
            carried = {"mail": mails[uid]} if mail is None and uid in mails else {}
            if forgotten is None and uid in forget_as:
                carried["forget_as"] = forget_as[uid]
            if carried:
                connection.execute(job_targets.update().where(
                    job_targets.c.job_id == waiting_job, job_targets.c.uid == uid).values(**carried))
    if not wanted:
        return None
    key = connection.execute(jobs.insert().values(
        kind=kind, state=QUEUED, attempts=0, max_attempts=max_attempts, not_before=now,
        created_at=now, created_by=created_by,
    )).inserted_primary_key
    assert key is not None          # SQLAlchemy reports the key of a one-row insert
    job_id: int = key[0]
    connection.execute(job_targets.insert(), [
        {"job_id": job_id, "uid": uid, "groups": " ".join(groups), "mail": mails.get(uid),
         "forget_as": forget_as.get(uid)}
        for uid, groups in wanted.items()
    ])
    return job_id


def enqueue_reconcile(connection: Connection, services: Iterable[str], *, created_by: str | None,
                      now: datetime, max_attempts: int) -> tuple[int, bool]:
    """Queue a repair of these services: (its job id, True), or (the id of the one already
    queued or running, False); the database keeps to one (two asked at once queue one).

    It has no targets: the worker builds its batch from the whole directory when it runs,
    and it always runs alone. A waiting one takes on the services it did not name yet."""
    wanted = sorted(set(services))
    try:
        with connection.begin_nested():
            key = connection.execute(jobs.insert().values(
                kind=RECONCILE, state=QUEUED, attempts=0, max_attempts=max_attempts, not_before=now,
                created_at=now, created_by=created_by, runs_alone=True, services=" ".join(wanted),
            )).inserted_primary_key
            assert key is not None
            return key[0], True
    except sa.exc.IntegrityError:   # one is queued or running already
        pass
    waiting = connection.execute(sa.select(jobs.c.id, jobs.c.state, jobs.c.services).where(
        jobs.c.kind == RECONCILE, jobs.c.state.in_(UNFINISHED))).one()
    widened = sorted(set(wanted) | set((waiting.services or "").split()))
    if waiting.state == QUEUED and widened != (waiting.services or "").split():
        connection.execute(jobs.update().where(jobs.c.id == waiting.id, jobs.c.state == QUEUED)
                           .values(services=" ".join(widened)))
    return waiting.id, False


def _supersede(connection: Connection, wanted: Mapping[str, list[str]], kind: str,
               now: datetime) -> None:
    superseded = connection.execute(
        sa.select(job_targets.c.job_id, job_targets.c.uid, job_targets.c.groups)
        .join(jobs, jobs.c.id == job_targets.c.job_id)
        .where(jobs.c.kind != kind, jobs.c.state == QUEUED, job_targets.c.uid.in_(list(wanted)))
    ).all()
    touched: set[int] = set()
    for job_id, uid, groups in superseded:
        remaining = [group for group in groups.split() if group not in wanted[uid]]
        if remaining == groups.split() and groups:
            continue  # no group in common: both decisions stand
        touched.add(job_id)
        target = job_targets.c.job_id == job_id, job_targets.c.uid == uid
        if remaining:
            connection.execute(job_targets.update().where(*target).values(groups=" ".join(remaining)))
        else:
            connection.execute(job_targets.delete().where(*target))
    emptied = touched - set(connection.execute(
        sa.select(job_targets.c.job_id).where(job_targets.c.job_id.in_(list(touched)))).scalars())
    if emptied:
        connection.execute(jobs.update().where(jobs.c.id.in_(emptied)).values(
            state=CANCELLED, finished_at=now, error=f"superseded by a newer {kind}"))


def _runnable(now: datetime) -> sa.ColumnElement[bool]:
    return sa.or_(
        sa.and_(jobs.c.state == QUEUED, jobs.c.not_before <= now),
        sa.and_(jobs.c.state == RUNNING, jobs.c.lease_expires < now),
    )


def claim(connection: Connection, worker: str, *, now: datetime, lease: timedelta,
          limit: int = 10_000) -> list[Job]:
    """Take every runnable job (queued and due, or running with an expired lease).

    A volunteer appears in at most one claimed job: a later job for the same person
    waits for the next run, so a grant and a revoke are never mixed in one run.
    """
    candidates = connection.execute(
        sa.select(jobs.c.id).where(_runnable(now)).order_by(jobs.c.id).limit(limit)
        .with_for_update(skip_locked=True)
    ).scalars().all()
    claimed: list[int] = []
    seen: set[str] = set()
    for job_id in candidates:
        uids = set(connection.execute(
            sa.select(job_targets.c.uid).where(job_targets.c.job_id == job_id)).scalars())
        if uids & seen:
            continue
        won = connection.execute(
            jobs.update().where(jobs.c.id == job_id, _runnable(now)).values(
                state=RUNNING, lease_owner=worker, lease_expires=now + lease,
                attempts=jobs.c.attempts + 1, started_at=now, finished_at=None,
            )
        ).rowcount == 1
        if won:
            seen |= uids
            claimed.append(job_id)
    return [job for job_id in claimed if (job := get(connection, job_id, with_results=False)) is not None]


def renew_lease(connection: Connection, job_ids: Iterable[int], worker: str, *,
                until: datetime) -> None:
    connection.execute(jobs.update().where(
        jobs.c.id.in_(list(job_ids)), jobs.c.state == RUNNING, jobs.c.lease_owner == worker,
    ).values(lease_expires=until))


def record_results(connection: Connection, results: list[JobResult]) -> None:
    if results:
        connection.execute(job_results.insert(), [
            # an extra of a reconcile is named by the service (an address): cut to the column
            {**asdict(result), "uid": result.uid[:64], "task": result.task[:200]} for result in results])


def finish(connection: Connection, job_id: int, worker: str, *, succeeded: bool, error: str | None,
           now: datetime, retry_at: datetime | None, own_failure: bool = False) -> bool:
    """Close a run of this job: succeeded, failed, or queued again at `retry_at`.

    `own_failure`: it failed for its own volunteers' data, not with the whole run; it
    runs alone from then on. Only the worker holding the lease may; False when the job
    was cancelled or taken over meanwhile.
    """
    values: dict[str, object]
    if succeeded:
        values = {"state": SUCCEEDED, "error": None, "finished_at": now}
    elif retry_at is not None:
        values = {"state": QUEUED, "error": error, "not_before": retry_at}
    else:
        values = {"state": FAILED, "error": error, "finished_at": now}
    if own_failure:
        values["runs_alone"] = True
    finished = connection.execute(jobs.update().where(
        jobs.c.id == job_id, jobs.c.state == RUNNING, jobs.c.lease_owner == worker,
    ).values(lease_owner=None, lease_expires=None, **values)).rowcount == 1
    if finished and succeeded:   # kept no longer than needed, and until then for a retry
        connection.execute(job_targets.update().where(
            job_targets.c.job_id == job_id, job_targets.c.mail.is_not(None)).values(mail=None))
        _forget_targets(connection, job_id)
    return finished


def _forget_targets(connection: Connection, job_id: int) -> None:
    """A succeeded job's rows of deleted accounts: under their pseudonyms, without messages
    (a service's words may quote the address)."""
    for uid, name in connection.execute(sa.select(job_targets.c.uid, job_targets.c.forget_as).where(
            job_targets.c.job_id == job_id, job_targets.c.forget_as.is_not(None))).all():
        rename_rows(connection, uid, name, job_ids=[job_id])
        connection.execute(job_targets.update().where(
            job_targets.c.job_id == job_id, job_targets.c.uid == name).values(forget_as=None))


def rename_rows(connection: Connection, uid: str, name: str, *, job_ids: Iterable[int]) -> None:
    """`uid`'s target and result rows of these jobs: under `name`, results without messages."""
    ids = list(job_ids)
    connection.execute(job_results.update().where(
        job_results.c.job_id.in_(ids), job_results.c.uid == uid).values(uid=name, message=None))
    connection.execute(job_targets.update().where(
        job_targets.c.job_id.in_(ids), job_targets.c.uid == uid).values(uid=name))


def finished_of(connection: Connection, uid: str) -> list[int]:
    """The jobs for `uid` that have ended (succeeded, failed or cancelled)."""
    return list(connection.execute(
        sa.select(job_targets.c.job_id).join(jobs, jobs.c.id == job_targets.c.job_id)
        .where(job_targets.c.uid == uid, jobs.c.state.not_in(UNFINISHED))).scalars())


def retry(connection: Connection, job_id: int, *, now: datetime) -> bool:
    """A sysadmin's retry of a failed or cancelled job: queued now, with fresh attempts.

    False too for a reconcile while another is queued or running (that one repairs)."""
    try:
        with connection.begin_nested():
            return connection.execute(jobs.update().where(
                jobs.c.id == job_id, jobs.c.state.in_((FAILED, CANCELLED)),
            ).values(state=QUEUED, attempts=0, not_before=now, finished_at=None)).rowcount == 1
    except sa.exc.IntegrityError:
        return False


def cancel(connection: Connection, job_id: int, *, now: datetime) -> bool:
    """Cancel a job that has not finished; a run in progress finishes but is not recorded as done."""
    return connection.execute(jobs.update().where(
        jobs.c.id == job_id, jobs.c.state.in_((QUEUED, RUNNING, FAILED)),
    ).values(state=CANCELLED, finished_at=now, lease_owner=None, lease_expires=None)).rowcount == 1


def all_cancelled(connection: Connection, job_ids: Iterable[int]) -> bool:
    """Whether every one of these jobs is cancelled."""
    states = connection.execute(sa.select(jobs.c.state).where(jobs.c.id.in_(list(job_ids)))).scalars()
    return all(state == CANCELLED for state in states)


def _job(row: Row[Any], targets: dict[str, list[str]] | None = None,
         results: list[JobResult] | None = None, mails: dict[str, str] | None = None,
         forgotten: dict[str, str] | None = None) -> Job:
    columns = {name: row._mapping[name] for name in (
        "id", "kind", "state", "attempts", "max_attempts", "not_before", "created_at",
        "created_by", "started_at", "finished_at", "error", "lease_owner", "lease_expires",
        "runs_alone")}
    return Job(**columns, targets=targets or {}, results=results or [], mails=mails or {},
               forgotten=forgotten or {}, services=tuple((row._mapping["services"] or "").split()))


def get(connection: Connection, job_id: int, *, with_results: bool = True) -> Job | None:
    row = connection.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        return None
    rows = connection.execute(
        sa.select(job_targets.c.uid, job_targets.c.groups, job_targets.c.mail, job_targets.c.forget_as)
        .where(job_targets.c.job_id == job_id).order_by(job_targets.c.uid)).all()
    targets = {row.uid: row.groups.split() for row in rows}
    mails = {row.uid: row.mail for row in rows if row.mail}
    forgotten = {row.uid: row.forget_as for row in rows if row.forget_as}
    results: list[JobResult] = []
    if with_results:
        results = [JobResult(**{k: v for k, v in r._mapping.items() if k != "id"})
                   for r in connection.execute(sa.select(job_results)
                                               .where(job_results.c.job_id == job_id)
                                               .order_by(job_results.c.id))]
    return _job(row, targets, results, mails, forgotten)


def recent(connection: Connection, *, limit: int = 100, state: str | None = None) -> list[Job]:
    """Newest first, with their targets (not their results)."""
    query = sa.select(jobs).order_by(jobs.c.id.desc()).limit(limit)
    if state:
        query = query.where(jobs.c.state == state)
    rows = connection.execute(query).all()
    targets: dict[int, dict[str, list[str]]] = {row.id: {} for row in rows}
    for job_id, uid, groups in connection.execute(
            sa.select(job_targets.c.job_id, job_targets.c.uid, job_targets.c.groups)
            .where(job_targets.c.job_id.in_(list(targets)))):
        targets[job_id][uid] = groups.split()
    return [_job(row, targets[row.id]) for row in rows]


def latest_for(connection: Connection, uid: str) -> Job | None:
    """The newest job for this person, with their own results only."""
    job_id = connection.execute(
        sa.select(job_targets.c.job_id).where(job_targets.c.uid == uid)
        .order_by(job_targets.c.job_id.desc()).limit(1)).scalar()
    if job_id is None:
        return None
    job = get(connection, job_id)
    if job is None:
        return None
    return replace(job, results=[result for result in job.results if result.uid == uid])
