"""Approval previews: asked by a sysadmin, run by the worker in check mode, read by the page."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .schema import previews

WAITING, RUNNING, DONE, FAILED = "waiting", "running", "done", "failed"


@dataclass(frozen=True)
class PreviewOutcome:
    service: str
    task: str
    status: str
    message: str | None


@dataclass(frozen=True)
class Preview:
    uid: str
    asked_by: str
    asked_at: datetime
    state: str
    finished_at: datetime | None
    fingerprint: str | None
    outcomes: tuple[PreviewOutcome, ...]
    error: str | None


def _preview(row: Row[Any]) -> Preview:
    values = row._mapping
    outcomes = tuple(PreviewOutcome(**item) for item in json.loads(values["outcomes"] or "[]"))
    return Preview(uid=values["uid"], asked_by=values["asked_by"], asked_at=values["asked_at"],
                   state=values["state"], finished_at=values["finished_at"],
                   fingerprint=values["fingerprint"], outcomes=outcomes, error=values["error"])


def ask(connection: Connection, uid: str, *, asked_by: str, now: datetime) -> None:
    """A preview of this request, waiting for the worker; one asked before is replaced, and a
    run answering that one finds it asked again (`finish` drops its answer).

    Two clicks at once both find no row to replace on PostgreSQL: the second insert waits for
    the first, then meets its key, so it replaces the row the first made instead.
    """
    asked = {"asked_by": asked_by, "asked_at": now, "state": WAITING, "worker": None,
             "started_at": None, "finished_at": None, "fingerprint": None, "outcomes": None,
             "error": None}
    replace = previews.update().where(previews.c.uid == uid).values(**asked)
    if connection.execute(replace).rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(previews.insert().values(uid=uid, **asked))
    except sa.exc.IntegrityError:
        connection.execute(replace)


def get(connection: Connection, uid: str) -> Preview | None:
    row = connection.execute(sa.select(previews).where(previews.c.uid == uid)).first()
    return _preview(row) if row else None


def _runnable(now: datetime, lease: timedelta) -> sa.ColumnElement[bool]:
    return sa.or_(previews.c.state == WAITING,
                  sa.and_(previews.c.state == RUNNING, previews.c.started_at < now - lease))


def claim(connection: Connection, worker: str, *, now: datetime, lease: timedelta) -> list[str]:
    """The uids of every waiting preview (or one whose worker died), now this worker's."""
    candidates = connection.execute(sa.select(previews.c.uid).where(_runnable(now, lease))
                                    .order_by(previews.c.asked_at).with_for_update(skip_locked=True)
                                    ).scalars().all()
    return [uid for uid in candidates if connection.execute(
        previews.update().where(previews.c.uid == uid, _runnable(now, lease))
        .values(state=RUNNING, worker=worker, started_at=now)).rowcount == 1]


def finish(connection: Connection, uid: str, worker: str, *, now: datetime, fingerprint: str | None,
           outcomes: list[PreviewOutcome], error: str | None) -> None:
    """The run's answer; dropped if the preview was asked again meanwhile (another row)."""
    connection.execute(previews.update().where(
        previews.c.uid == uid, previews.c.state == RUNNING, previews.c.worker == worker,
    ).values(state=FAILED if error else DONE, finished_at=now, fingerprint=fingerprint, error=error,
             outcomes=json.dumps([outcome.__dict__ for outcome in outcomes])))


def prune(connection: Connection, *, before: datetime) -> int:
    """Delete previews asked before `before`: they are long out of date and hold an address."""
    return connection.execute(previews.delete().where(previews.c.asked_at < before)).rowcount
