"""Sysadmin pages for provisioning jobs: the list, one job's progress, retry and cancel."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ..resources import get_portal, get_store
from ..store import jobs
from .access import JOB_STATE_LABELS, SERVICE_LABELS
from .security import sysadmin_required

blueprint = Blueprint("jobs", __name__, url_prefix="/admin/jobs")
STATES = tuple(JOB_STATE_LABELS)


@blueprint.get("")
@sysadmin_required
def job_list():
    state = request.args.get("state")
    with get_store().begin() as connection:
        found = jobs.recent(connection, state=state if state in STATES else None)
    return render_template("admin/jobs.html", jobs=found, state=state, states=JOB_STATE_LABELS)


def _job_or_404(job_id: int) -> jobs.Job:
    with get_store().begin() as connection:
        job = jobs.get(connection, job_id)
    if job is None:
        abort(404)
    return job


@blueprint.get("/<int:job_id>")
@sysadmin_required
def job_page(job_id: int):
    return render_template("admin/job.html", job=_job_or_404(job_id), states=JOB_STATE_LABELS,
                           services=SERVICE_LABELS)


@blueprint.get("/<int:job_id>.json")
@sysadmin_required
def job_progress(job_id: int):
    """What the job page's script polls while the job is unfinished."""
    job = _job_or_404(job_id)
    return jsonify(
        state=job.state, state_label=JOB_STATE_LABELS[job.state], attempts=job.attempts,
        error=job.error, finished=job.state not in jobs.UNFINISHED,
        results=[{"attempt": r.attempt, "uid": r.uid,
                  "service": SERVICE_LABELS.get(r.service, r.service), "task": r.task,
                  "status": r.status, "message": r.message} for r in job.results],
    )


@blueprint.post("/<int:job_id>/retry")
@sysadmin_required
def retry(job_id: int):
    return _change_job(job_id, jobs.retry, "job-retried", f"Job {job_id} is queued again.",
                       f"Job {job_id} can only be retried once it has failed or been cancelled.")


@blueprint.post("/<int:job_id>/cancel")
@sysadmin_required
def cancel(job_id: int):
    return _change_job(job_id, jobs.cancel, "job-cancelled", f"Job {job_id} is cancelled.",
                       f"Job {job_id} has already finished.")


def _change_job(job_id: int, change: Callable, audit_action: str, done: str, refused: str):
    portal = get_portal()
    with portal.store.begin() as connection:
        changed = change(connection, job_id, now=portal.clock())
    if changed:
        portal.audit(audit_action, actor=current_user.uid, detail=f"job {job_id}")
        flash(done)
    else:
        flash(refused, "error")
    return redirect(url_for(".job_page", job_id=job_id))
