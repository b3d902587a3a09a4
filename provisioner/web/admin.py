"""Sysadmin pages: the approval queue, people, the audit log. The workflow checks the actor."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import partial
from typing import Literal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ..directory import DirectoryError
from ..resources import get_catalogue, get_portal
from ..workflow import (
    AVAILABILITY,
    InvalidInput,
    WorkflowError,
    accounts,
    approve,
    enrolled_uids,
    reinstate,
    reject,
    suspend,
    verified_requests,
)
from ..workflow.approval import ByAvailability, default_end_date
from ..workflow.provisioning import audit_entries
from ..workflow.terms import parse_end_date
from .security import login_first
from .users import current_user

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
MAX_SELECTED = 100   # more than a queue page shows
MAX_MESSAGE = 300


@blueprint.get("/requests")
@login_first
def requests() -> ResponseReturnValue:
    portal = get_portal()
    waiting = verified_requests(portal, actor=current_user.uid)
    return render_template("admin/requests.html", requests=waiting,
                           catalogue=get_catalogue(), availability=AVAILABILITY,
                           end_dates={person.uid: default_end_date(portal, person) for person in waiting},
                           today=portal.clock().date())


@blueprint.post("/requests/<uid>/approve")
@login_first
def approve_one(uid: str) -> ResponseReturnValue:
    """With the form's end date (empty: none); a form without the field gets the default."""
    if "end_date" not in request.form:
        _approve([uid], request.form.getlist("groups"))
        return redirect(url_for(".requests"))
    try:
        end_date = parse_end_date(request.form["end_date"], today=get_portal().clock().date())
    except InvalidInput as error:
        flash(_bounded(f"{uid}: not approved: {'; '.join(error.errors.values())}"), "error")
    else:
        _approve([uid], request.form.getlist("groups"), end_date)
    return redirect(url_for(".requests"))


@blueprint.post("/requests/approve-selected")
@login_first
def approve_selected() -> ResponseReturnValue:
    uids = list(dict.fromkeys(request.form.getlist("uid")))
    if not uids:
        flash("Select at least one request.", "error")
    elif len(uids) > MAX_SELECTED:
        flash(f"Select at most {MAX_SELECTED} requests at a time.", "error")
    else:
        _approve(uids, None)
    return redirect(url_for(".requests"))


def _approve(uids: list[str], groups: list[str] | None,
             end_date: date | None | Literal[ByAvailability.DEFAULT] = ByAvailability.DEFAULT) -> None:
    """Approve each; one failing does not stop the others, and each outcome is shown."""
    portal = get_portal()
    for uid in uids:
        _attempt(uid, "approved", f"{uid} is approved.",
                 partial(approve, portal, uid, groups, actor=current_user.uid,
                         remote_addr=request.remote_addr, end_date=end_date))


def _attempt(uid: str, verb: str, done: str, action: Callable[[], object]) -> None:
    """Run a sysadmin's action and flash its outcome in words, whatever it is."""
    try:
        action()
    except InvalidInput as error:
        flash(_bounded(f"{uid}: not {verb}: {'; '.join(error.errors.values())}"), "error")
    except (WorkflowError, DirectoryError) as error:
        flash(_bounded(f"{uid}: not {verb}: {error}"), "error")
    else:
        flash(done)


def _bounded(message: str) -> str:
    """A message that may quote what someone sent stays short (it travels in the session)."""
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


@blueprint.post("/requests/<uid>/reject")
@login_first
def reject_one(uid: str) -> ResponseReturnValue:
    _attempt(uid, "rejected", f"{uid}'s request is rejected and they have been told why.",
             lambda: reject(get_portal(), uid, request.form.get("reason", ""),
                            actor=current_user.uid, remote_addr=request.remote_addr))
    return redirect(url_for(".requests"))


@blueprint.get("/people")
@login_first
def people() -> ResponseReturnValue:
    portal = get_portal()
    return render_template("admin/people.html", people=accounts(portal, actor=current_user.uid),
                           totp_enrolled=enrolled_uids(portal), today=portal.clock().date(), back="people")


@blueprint.post("/people/<uid>/suspend")
@login_first
def suspend_person(uid: str) -> ResponseReturnValue:
    _attempt(uid, "suspended",
             f"{uid} is suspended: their account is locked and their access is being removed.",
             lambda: suspend(get_portal(), uid, request.form.get("reason", ""),
                             actor=current_user.uid, remote_addr=request.remote_addr))
    return redirect(url_for(".people"))


@blueprint.post("/people/<uid>/reinstate")
@login_first
def reinstate_person(uid: str) -> ResponseReturnValue:
    _attempt(uid, "reinstated", f"{uid} is reinstated: their access is being set up again.",
             lambda: reinstate(get_portal(), uid, actor=current_user.uid,
                               remote_addr=request.remote_addr))
    return redirect(url_for(".people"))


@blueprint.get("/audit")
@login_first
def audit_log() -> ResponseReturnValue:
    person = request.args.get("person", "").strip()[:64] or None
    entries = audit_entries(get_portal(), actor=current_user.uid, person=person)
    return render_template("admin/audit.html", entries=entries, person=person or "")
