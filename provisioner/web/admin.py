"""Sysadmin pages: the approval queue and the audit log. Every view is behind sysadmin_required."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from ..directory import DirectoryError, Status
from ..resources import get_catalogue, get_portal, get_store
from ..store import audit
from ..workflow import (
    AVAILABILITY,
    InvalidInput,
    WorkflowError,
    approve,
    reinstate,
    reject,
    suspend,
    verified_requests,
)
from .security import sysadmin_required

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
AUDIT_PAGE_SIZE = 200


@blueprint.get("/requests")
@sysadmin_required
def requests():
    return render_template("admin/requests.html", requests=verified_requests(get_portal()),
                           catalogue=get_catalogue(), availability=AVAILABILITY)


@blueprint.post("/requests/<uid>/approve")
@sysadmin_required
def approve_one(uid: str):
    _approve([uid], request.form.getlist("groups"))
    return redirect(url_for(".requests"))


@blueprint.post("/requests/approve-selected")
@sysadmin_required
def approve_selected():
    uids = request.form.getlist("uid")
    if not uids:
        flash("Select at least one request.", "error")
    _approve(uids, None)
    return redirect(url_for(".requests"))


def _approve(uids: list[str], groups: list[str] | None) -> None:
    """Approve each; one failing does not stop the others, and each outcome is shown."""
    portal = get_portal()
    for uid in uids:
        try:
            approve(portal, uid, groups, actor=current_user.uid, remote_addr=request.remote_addr)
        except (WorkflowError, DirectoryError) as error:
            flash(f"{uid}: not approved: {error}", "error")
        else:
            flash(f"{uid} is approved.")


@blueprint.post("/requests/<uid>/reject")
@sysadmin_required
def reject_one(uid: str):
    try:
        reject(get_portal(), uid, request.form.get("reason", ""), actor=current_user.uid,
               remote_addr=request.remote_addr)
    except InvalidInput as error:
        flash(f"{uid}: not rejected: {error.errors['reason']}", "error")
    except (WorkflowError, DirectoryError) as error:
        flash(f"{uid}: not rejected: {error}", "error")
    else:
        flash(f"{uid}'s request is rejected and they have been told why.")
    return redirect(url_for(".requests"))


@blueprint.get("/people")
@sysadmin_required
def people():
    directory = get_portal().directory
    accounts = [person for status in (Status.ACTIVE, Status.SUSPENDED)
                for person in directory.people.with_status(status)]
    return render_template("admin/people.html", people=sorted(accounts, key=lambda p: p.uid))


@blueprint.post("/people/<uid>/suspend")
@sysadmin_required
def suspend_person(uid: str):
    try:
        suspend(get_portal(), uid, request.form.get("reason", ""), actor=current_user.uid,
                remote_addr=request.remote_addr)
    except InvalidInput as error:
        flash(f"{uid}: not suspended: {error.errors['reason']}", "error")
    except (WorkflowError, DirectoryError) as error:
        flash(f"{uid}: not suspended: {error}", "error")
    else:
        flash(f"{uid} is suspended: their account is locked and their access is being removed.")
    return redirect(url_for(".people"))


@blueprint.post("/people/<uid>/reinstate")
@sysadmin_required
def reinstate_person(uid: str):
    try:
        reinstate(get_portal(), uid, actor=current_user.uid, remote_addr=request.remote_addr)
    except (WorkflowError, DirectoryError) as error:
        flash(f"{uid}: not reinstated: {error}", "error")
    else:
        flash(f"{uid} is reinstated: their access is being set up again.")
    return redirect(url_for(".people"))


@blueprint.get("/audit")
@sysadmin_required
def audit_log():
    person = request.args.get("person", "").strip()[:64] or None
    with get_store().begin() as connection:
        entries = audit.entries(connection, person=person, limit=AUDIT_PAGE_SIZE)
    return render_template("admin/audit.html", entries=entries, person=person or "")
