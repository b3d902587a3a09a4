"""The sysadmins' drift page: the last check of the services against the directory, and
the button that queues its repair. The workflow checks the actor and audits."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..resources import get_portal
from ..workflow.drift import NothingToRepair, last_drift_check, repair_last_check
from .access import SERVICE_LABELS
from .language import gettext, shown
from .security import login_first
from .users import current_user

blueprint = Blueprint("drift", __name__, url_prefix="/admin/drift")


@blueprint.get("")
@login_first
def overview() -> ResponseReturnValue:
    return render_template("admin/drift.html", check=last_drift_check(get_portal(), actor=current_user.uid),
                           services=SERVICE_LABELS)


@blueprint.post("/repair")
@login_first
def repair() -> ResponseReturnValue:
    try:
        queued = repair_last_check(get_portal(), actor=current_user.uid, remote_addr=request.remote_addr)
    except NothingToRepair as refused:
        flash(shown(refused), "error")
        return redirect(url_for(".overview"))
    flash(gettext("The repair is queued as job %(job)s.", job=queued.job_id) if queued.queued
          else gettext("A repair is already queued or running: job %(job)s.", job=queued.job_id))
    return redirect(url_for("jobs.job_page", job_id=queued.job_id))
