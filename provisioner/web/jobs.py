"""Sysadmin pages for provisioning jobs: the list, one job's progress, retry and cancel."""

from __future__ import annotations

from typing import Protocol

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from ..resources import get_portal
from ..workflow import Portal
from ..workflow.provisioning import JobUnchanged, cancel_job, job, recent_jobs, retry_job
from .access import JOB_STATE_LABELS, SERVICE_LABELS
from .language import gettext, shown
from .security import login_first
from .users import current_user

blueprint = Blueprint("jobs", __name__, url_prefix="/admin/jobs")


@blueprint.get("")
@login_first
def job_list() -> ResponseReturnValue:
    state = request.args.get("state")
    found = recent_jobs(get_portal(), actor=current_user.uid, state=state)
    return render_template("admin/jobs.html", jobs=found, state=state, states=JOB_STATE_LABELS)


@blueprint.get("/<int:job_id>")
@login_first
def job_page(job_id: int) -> ResponseReturnValue:
    return render_template("admin/job.html", job=job(get_portal(), job_id, actor=current_user.uid),
                           states=JOB_STATE_LABELS, services=SERVICE_LABELS)


@blueprint.get("/<int:job_id>.json")
@login_first
def job_progress(job_id: int) -> ResponseReturnValue:
    """What the job page's script polls while the job is unfinished."""
    found = job(get_portal(), job_id, actor=current_user.uid)
    return jsonify(
        state=found.state, state_label=shown(JOB_STATE_LABELS[found.state]), attempts=found.attempts,
        error=found.error, finished=found.state in ("succeeded", "failed", "cancelled"),
        results=[{"attempt": r.attempt, "uid": r.uid,
                  "service": shown(SERVICE_LABELS.get(r.service, r.service)), "task": r.task,
                  "status": r.status, "message": r.message} for r in found.results],
    )


@blueprint.post("/<int:job_id>/retry")
@login_first
def retry(job_id: int) -> ResponseReturnValue:
    return _change(job_id, retry_job, gettext("Job %(job)s is queued again.", job=job_id))


@blueprint.post("/<int:job_id>/cancel")
@login_first
def cancel(job_id: int) -> ResponseReturnValue:
    return _change(job_id, cancel_job, gettext("Job %(job)s is cancelled.", job=job_id))


class _JobAction(Protocol):
    """retry_job or cancel_job."""

    def __call__(self, portal: Portal, job_id: int, *, actor: str,
                 remote_addr: str | None = None) -> None: ...


def _change(job_id: int, change: _JobAction, done: str) -> BaseResponse:
    try:
        change(get_portal(), job_id, actor=current_user.uid, remote_addr=request.remote_addr)
    except JobUnchanged as refused:
        flash(shown(refused), "error")
    else:
        flash(done)
    return redirect(url_for(".job_page", job_id=job_id))
