"""Sysadmin pages: the approval queue, people, the audit log. The workflow checks the actor.

The lists filter by GET parameters named after the workflow's query fields, so a page's
address keeps its filters and page links carry them on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import date
from functools import partial
from typing import Any, Literal

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from ..directory import DirectoryError, Status
from ..languages import Text
from ..resources import get_catalogue, get_portal
from ..workflow import (
    AVAILABILITY,
    InvalidInput,
    WorkflowError,
    approve,
    enrolled_uids,
    reinstate,
    reject,
    suspend,
)
from ..workflow.approval import MAX_SELECTED, ByAvailability, Outcome, default_end_date, reject_selected
from ..workflow.approval_preview import WORKING, approval_preview, ask_preview
from ..workflow.audit_log import AuditQuery, audit_actions, audit_csv, audit_page
from ..workflow.finding import ACCOUNT_STATUSES, PeopleQuery, RequestFilter, find_people, request_queue
from ..workflow.terms import parse_end_date
from .access import SERVICE_LABELS
from .language import catalogue_text, gettext, shown
from .language import lazy_gettext as _l
from .security import login_first
from .users import current_user

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
MAX_MESSAGE = 300
MAX_REFUSALS_SHOWN = 10  # one message each; the rest are named together
PREVIEW_REFRESH_SECONDS = 2  # how often a preview's page reloads while the worker runs it
STATUS_LABELS = {Status.ACTIVE: Text("active"), Status.SUSPENDED: Text("suspended"),
                 Status.EXPIRED: Text("expired")}
# Why an action on a person was not done, whole sentences translated when flashed.
NOT_APPROVED = _l("%(uid)s: not approved: %(reasons)s")
NOT_REJECTED = _l("%(uid)s: not rejected: %(reasons)s")
NOT_SUSPENDED = _l("%(uid)s: not suspended: %(reasons)s")
NOT_REINSTATED = _l("%(uid)s: not reinstated: %(reasons)s")


@blueprint.get("/requests")
@login_first
def requests() -> ResponseReturnValue:
    portal = get_portal()
    which = RequestFilter(group=_arg("group"), availability=_arg("availability"))
    try:
        page, errors = request_queue(portal, which, actor=current_user.uid, page=_page()), {}
    except InvalidInput as error:
        page, errors = None, error.errors
    return render_template("admin/requests.html", page=page, errors=errors,
                           filters=_kept(which, errors), select_all=request.args.get("select") == "all",
                           catalogue=get_catalogue(), availability=_availability(),
                           group_choices=_group_choices(),
                           end_dates={person.uid: default_end_date(portal, person)
                                      for person in (page.items if page else [])},
                           today=portal.clock().date())


@blueprint.post("/requests/<uid>/approve")
@login_first
def approve_one(uid: str) -> ResponseReturnValue:
    """With the form's end date (empty: none); a form without the field gets the default."""
    if "end_date" not in request.form:
        _approve([uid], request.form.getlist("groups"))
        return _to_queue()
    try:
        end_date = parse_end_date(request.form["end_date"], today=get_portal().clock().date())
    except InvalidInput as error:
        flash(_bounded(NOT_APPROVED % {"uid": uid, "reasons": _reasons(error)}), "error")
    else:
        _approve([uid], request.form.getlist("groups"), end_date)
    return _to_queue()


@blueprint.post("/requests/approve-selected")
@login_first
def approve_selected() -> ResponseReturnValue:
    uids = list(dict.fromkeys(request.form.getlist("uid")))
    if not uids:
        flash(gettext("Select at least one request."), "error")
    elif len(uids) > MAX_SELECTED:
        flash(gettext("Select at most %(most)d requests at a time.", most=MAX_SELECTED), "error")
    else:
        _approve(uids, None)
    return _to_queue()


@blueprint.post("/requests/reject-selected")
@login_first
def reject_selected_requests() -> ResponseReturnValue:
    try:
        outcomes = reject_selected(get_portal(), request.form.getlist("uid"), request.form.get("reason", ""),
                                   actor=current_user.uid, remote_addr=request.remote_addr)
    except InvalidInput as error:
        flash(_bounded(gettext("Nothing was rejected: %(reasons)s.", reasons=_reasons(error))), "error")
    else:
        _flash_rejections(outcomes)
    return _to_queue()


def _to_queue() -> BaseResponse:
    """Back to the queue's page the form was on: the forms post to addresses that carry its
    filters and page, and only those are read back."""
    kept: dict[str, Any] = {name: value for name in ("group", "availability", "page")
                            if (value := request.args.get(name))}
    return redirect(url_for(".requests", **kept))


def _flash_rejections(outcomes: list[Outcome]) -> None:
    """The requests rejected in one message, each refusal in its own (a few; the rest named
    together): everything flashed travels in the session cookie, which must stay small."""
    if succeeded := [outcome.uid for outcome in outcomes if outcome.refused is None]:
        flash(_bounded(gettext("%(count)d rejected, each told why by mail: %(uids)s.",
                               count=len(succeeded), uids=", ".join(succeeded))))
    refused = [outcome for outcome in outcomes if outcome.refused is not None]
    for outcome in refused[:MAX_REFUSALS_SHOWN]:
        flash(_bounded(NOT_REJECTED % {"uid": outcome.uid, "reasons": shown(outcome.refused)}), "error")
    if rest := refused[MAX_REFUSALS_SHOWN:]:
        also = ", ".join(outcome.uid for outcome in rest)
        flash(_bounded(gettext("Also not rejected: %(uids)s.", uids=also)), "error")


def _approve(uids: list[str], groups: list[str] | None,
             end_date: date | None | Literal[ByAvailability.DEFAULT] = ByAvailability.DEFAULT) -> None:
    """Approve each; one failing does not stop the others, and each outcome is shown."""
    portal = get_portal()
    for uid in uids:
        _attempt(uid, NOT_APPROVED, gettext("%(uid)s is approved.", uid=uid),
                 partial(approve, portal, uid, groups, actor=current_user.uid,
                         remote_addr=request.remote_addr, end_date=end_date))


def _attempt(uid: str, not_done: str, done: str, action: Callable[[], object]) -> None:
    """Run a sysadmin's action and flash its outcome in words, whatever it is; `not_done`
    says why not from %(uid)s and %(reasons)s."""
    try:
        action()
    except InvalidInput as error:
        flash(_bounded(not_done % {"uid": uid, "reasons": _reasons(error)}), "error")
    except (WorkflowError, DirectoryError) as error:
        flash(_bounded(not_done % {"uid": uid, "reasons": shown(error)}), "error")
    else:
        flash(done)


def _reasons(error: InvalidInput) -> str:
    """The refused fields' reasons, in the page's language."""
    return "; ".join(shown(reason) for reason in error.errors.values())


def _bounded(message: str) -> str:
    """A message that may quote what someone sent stays short (it travels in the session)."""
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


@blueprint.post("/requests/<uid>/preview")
@login_first
def ask_preview_of(uid: str) -> ResponseReturnValue:
    """Ask the worker what approving would do; its page shows the answer when it comes."""
    try:
        ask_preview(get_portal(), uid, actor=current_user.uid)
    except WorkflowError as error:
        flash(_bounded(gettext("%(uid)s: no preview: %(reason)s", uid=uid, reason=shown(error))), "error")
        return _to_queue()
    return redirect(url_for(".preview", uid=uid))


@blueprint.get("/requests/<uid>/preview")
@login_first
def preview(uid: str) -> ResponseReturnValue:
    """The preview: "working…" (the page reloads itself, no script) until the worker answers."""
    try:
        found = approval_preview(get_portal(), uid, actor=current_user.uid)
    except WorkflowError as error:
        return render_template("error.html", title=gettext("No preview"), message=shown(error)), 409
    return render_template("admin/preview.html", preview=found, working=found.state == WORKING,
                           refresh_seconds=PREVIEW_REFRESH_SECONDS, services=SERVICE_LABELS)


@blueprint.post("/requests/<uid>/reject")
@login_first
def reject_one(uid: str) -> ResponseReturnValue:
    _attempt(uid, NOT_REJECTED,
             gettext("%(uid)s's request is rejected and they have been told why.", uid=uid),
             lambda: reject(get_portal(), uid, request.form.get("reason", ""),
                            actor=current_user.uid, remote_addr=request.remote_addr))
    return _to_queue()


@blueprint.get("/people")
@login_first
def people() -> ResponseReturnValue:
    portal = get_portal()
    query = PeopleQuery(text=_arg("text"), group=_arg("group"), status=_arg("status"),
                        availability=_arg("availability"))
    try:
        page, errors = find_people(portal, query, actor=current_user.uid, page=_page()), {}
    except InvalidInput as error:
        page, errors = None, error.errors
    return render_template("admin/people.html", page=page, errors=errors, filters=_kept(query, errors),
                           totp_enrolled=enrolled_uids(portal), group_choices=_group_choices(),
                           status_choices=[(status, shown(STATUS_LABELS[status]))
                                           for status in ACCOUNT_STATUSES],
                           statuses=STATUS_LABELS, availability=_availability(),
                           today=portal.clock().date(), back="people")


@blueprint.post("/people/<uid>/suspend")
@login_first
def suspend_person(uid: str) -> ResponseReturnValue:
    _attempt(uid, NOT_SUSPENDED,
             gettext("%(uid)s is suspended: their account is locked and their access is being removed.",
                     uid=uid),
             lambda: suspend(get_portal(), uid, request.form.get("reason", ""),
                             actor=current_user.uid, remote_addr=request.remote_addr))
    return redirect(url_for(".people"))


@blueprint.post("/people/<uid>/reinstate")
@login_first
def reinstate_person(uid: str) -> ResponseReturnValue:
    _attempt(uid, NOT_REINSTATED,
             gettext("%(uid)s is reinstated: their access is being set up again.", uid=uid),
             lambda: reinstate(get_portal(), uid, actor=current_user.uid,
                               remote_addr=request.remote_addr))
    return redirect(url_for(".people"))


@blueprint.get("/audit")
@login_first
def audit_log() -> ResponseReturnValue:
    portal = get_portal()
    query = _audit_query()
    try:
        page, errors = audit_page(portal, query, actor=current_user.uid, page=_page()), {}
    except InvalidInput as error:
        page, errors = None, error.errors
    return render_template("admin/audit.html", page=page, errors=errors, filters=_kept(query, errors),
                           actions=audit_actions(portal, actor=current_user.uid))


@blueprint.get("/audit.csv")
@login_first
def audit_export() -> ResponseReturnValue:
    """The audit log as CSV, with the page's filters; sent as it is read."""
    try:
        lines = audit_csv(get_portal(), _audit_query(), actor=current_user.uid,
                          remote_addr=request.remote_addr)
    except InvalidInput as error:
        message = gettext("Fix the filter first: %(reasons)s.", reasons=_reasons(error))
        return render_template("error.html", title=gettext("Nothing exported"), message=message), 400
    return Response(stream_with_context(lines), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="audit-log.csv"'})


def _audit_query() -> AuditQuery:
    return AuditQuery(person=_arg("person"), action=_arg("action"), first_day=_arg("first_day"),
                      last_day=_arg("last_day"))


def _group_choices() -> list[tuple[str, str]]:
    return [(group.slug, catalogue_text(group.name)) for group in get_catalogue()]


def _availability() -> dict[str, str]:
    """The times people give, in the page's language."""
    return {value: shown(label) for value, label in AVAILABILITY.items()}


def _arg(name: str) -> str:
    return request.args.get(name, "").strip()


def _page() -> int:
    page: int = request.args.get("page", 1, type=int)
    return page


def _kept(query: object, errors: dict[str, str]) -> dict[str, str]:
    """The filters to show again and carry in page links: those given, less those refused
    (a refused value may be a flood, never shown again)."""
    return {name: value for name, value in asdict(query).items()  # type: ignore[call-overload]
            if value and name not in errors}
