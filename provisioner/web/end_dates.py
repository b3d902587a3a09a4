"""End dates and renewal: setting or extending an end date (sysadmins on the people page,
coordinators on the join-requests page), the renewal link of the mails, asking from the
account page, and deciding renewals. The workflow checks who acts."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from .. import languages
from ..directory import DirectoryError
from ..resources import get_portal
from ..workflow import InvalidInput, LinkInvalid, WorkflowError
from ..workflow.end_dates import set_end_date
from ..workflow.renewals import (
    MAX_NOTE,
    check_renewal_link,
    decline_renewal,
    renew,
    request_renewal,
    request_renewal_by_link,
)
from ..workflow.terms import parse_end_date
from .language import gettext, page_language_code, shown
from .security import login_first
from .users import current_user, login_required

blueprint = Blueprint("end_dates", __name__)
# Where a form may send its sender back to: the page it is on.
BACK = {"people": "admin.people", "groups": "groups.requests_to_decide_page"}


def _back() -> ResponseReturnValue:
    return redirect(url_for(BACK.get(request.form.get("back", ""), BACK["groups"])))


def _refused(what: str, error: Exception) -> None:
    """`what` is the refusal's start, in the page's language ("Not renewed")."""
    said = error.errors.values() if isinstance(error, InvalidInput) else [error]
    reasons = "; ".join(map(shown, said))
    flash(f"{what}: {reasons}"[:300], "error")


@blueprint.post("/people/<uid>/end-date")
@login_first
def change(uid: str) -> ResponseReturnValue:
    try:
        day = parse_end_date(request.form.get("end_date", ""), today=get_portal().clock().date())
        renewed = set_end_date(get_portal(), uid, day, actor=current_user.uid,
                               remote_addr=request.remote_addr)
    except (WorkflowError, DirectoryError) as error:
        _refused(gettext("%(uid)s's end date is unchanged", uid=uid), error)
    else:
        flash(_end_date_changed(uid, day, renewed=renewed))
    return _back()


def _end_date_changed(uid: str, day: date | None, *, renewed: bool) -> str:
    if day is None:
        return gettext("%(uid)s's account has no end date.", uid=uid)
    if renewed:
        return gettext("%(uid)s's account ends on %(day)s. It is active again; their access is "
                       "being set up.", uid=uid, day=_day(day))
    return gettext("%(uid)s's account ends on %(day)s.", uid=uid, day=_day(day))


def _day(day: date) -> str:
    return languages.day(day, page_language_code())


@blueprint.get("/renew/<token>")
def renewal_page(token: str) -> ResponseReturnValue:
    try:
        person = check_renewal_link(get_portal(), token)
    except LinkInvalid as error:
        return render_template("renewal/link_failed.html", reason=shown(error)), 400
    return render_template("renewal/ask.html", person=person, token=token, max_note=MAX_NOTE)


@blueprint.post("/renew/<token>")
def ask_by_link(token: str) -> ResponseReturnValue:
    try:
        _, made = request_renewal_by_link(get_portal(), token, request.form.get("note", ""),
                                          remote_addr=request.remote_addr)
    except LinkInvalid as error:
        return render_template("renewal/link_failed.html", reason=shown(error)), 400
    except InvalidInput as error:
        person = check_renewal_link(get_portal(), token)
        return render_template("renewal/ask.html", person=person, token=token, max_note=MAX_NOTE,
                               errors={name: shown(reason) for name, reason in error.errors.items()}), 400
    return render_template("renewal/asked.html", made=made)


@blueprint.post("/account/renewal")
@login_required
def ask_from_account() -> ResponseReturnValue:
    try:
        _, made = request_renewal(get_portal(), current_user.uid, request.form.get("note", ""),
                                  actor=current_user.uid, remote_addr=request.remote_addr)
    except WorkflowError as error:
        _refused(gettext("Not asked"), error)
    else:
        flash(gettext("Your request to renew your account is sent to your working groups' coordinators.")
              if made else gettext("You asked already: your request is waiting for a decision."))
    return redirect(url_for("account.overview"))


@blueprint.post("/groups/renewals/<int:request_id>/renew")
@login_first
def renew_request(request_id: int) -> ResponseReturnValue:
    try:
        day = parse_end_date(request.form.get("end_date", ""), today=get_portal().clock().date())
        decided = renew(get_portal(), request_id, day, actor=current_user.uid,
                        remote_addr=request.remote_addr)
    except (WorkflowError, DirectoryError) as error:
        _refused(gettext("Not renewed"), error)
    else:
        flash(gettext("%(uid)s's account is renewed until %(day)s.", uid=decided.uid, day=_day(day))
              if day else gettext("%(uid)s's account is renewed with no end date.", uid=decided.uid))
    return _back()


@blueprint.post("/groups/renewals/<int:request_id>/decline")
@login_first
def decline_request(request_id: int) -> ResponseReturnValue:
    try:
        decided = decline_renewal(get_portal(), request_id, request.form.get("reason", ""),
                                  actor=current_user.uid, remote_addr=request.remote_addr)
    except (WorkflowError, DirectoryError) as error:
        _refused(gettext("Not declined"), error)
    else:
        flash(gettext("%(uid)s's renewal is declined and they have been told why.", uid=decided.uid))
    return _back()
