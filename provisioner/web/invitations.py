"""Invitations: sysadmins and coordinators invite, list and withdraw; sysadmins import a
sign-up sheet; the invited person accepts on the link's page. The workflow checks the actor."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import BooleanField, DateField, EmailField, FileField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; stubs: 3.2
from wtforms.validators import DataRequired, Length, Optional

from ..directory import DirectoryError
from ..resources import get_portal
from ..workflow import InvalidInput, LinkInvalid, WorkflowError
from ..workflow.invitation_acceptance import Acceptance, accept_invitation, invitation_for_link
from ..workflow.invitations import invitable_groups, invitation_list, invite, withdraw
from ..workflow.permissions import require_sysadmin
from ..workflow.sign_up_sheet import (
    MAX_SHEET_BYTES,
    MAX_SHEET_ROWS,
    SheetInvalid,
    import_sheet,
)
from .forms import CheckboxesField, InvitationAcceptForm, PortalForm, refuse
from .language import gettext, shown
from .security import login_first
from .users import current_user

blueprint = Blueprint("invitations", __name__)


class InviteForm(PortalForm):
    mail = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    display_name = StringField("Their name (optional: filled in on the form for them)",
                               validators=[Length(max=128)])
    groups = CheckboxesField("Working groups", choices=[])
    until = DateField("Last day of the account (optional)", validators=[Optional()],
                      description="Leave empty for an account that stays")


class ImportForm(PortalForm):
    sheet = FileField("Sign-up sheet (CSV)", validators=[DataRequired()],
                      description=f"A header row with name, email, groups and optionally end_date; "
                                  f"up to {MAX_SHEET_ROWS} people and {MAX_SHEET_BYTES // 1000} KB")
    dry_run = BooleanField("Only check the file and show what would be sent")


def _invite_form() -> InviteForm:
    form = InviteForm()
    form.groups.choices = [SelectChoice(group.slug, group.name)
                           for group in invitable_groups(get_portal(), current_user.uid)]
    return form


@blueprint.get("/invitations")
@login_first
def overview() -> ResponseReturnValue:
    return _page(_invite_form())


def _page(form: InviteForm, status: int = 200) -> ResponseReturnValue:
    lines = invitation_list(get_portal(), actor=current_user.uid)
    return render_template("invitations/list.html", form=form, lines=lines), status


@blueprint.post("/invitations")
@login_first
def send() -> ResponseReturnValue:
    form = _invite_form()
    if not form.validate():
        return _page(form, 400)
    try:
        invitation = invite(get_portal(), form.mail.data or "", form.groups.data or [],
                            until=form.until.data, actor=current_user.uid,
                            display_name=form.display_name.data or "", remote_addr=request.remote_addr)
    except InvalidInput as refused:
        for name, reason in refused.errors.items():
            refuse(getattr(form, name), reason)
        return _page(form, 400)
    except (WorkflowError, DirectoryError) as error:  # the address is in use, mostly
        refuse(form.mail, str(error))
        return _page(form, 400)
    flash(f"Invitation {invitation.id} is sent to {invitation.mail}.")
    return redirect(url_for(".overview"))


@blueprint.post("/invitations/<int:invitation_id>/withdraw")
@login_first
def withdraw_one(invitation_id: int) -> ResponseReturnValue:
    try:
        withdrawn = withdraw(get_portal(), invitation_id, actor=current_user.uid,
                             remote_addr=request.remote_addr)
    except WorkflowError as error:
        flash(str(error), "error")
    else:
        flash(f"Invitation {withdrawn.id} to {withdrawn.mail} is withdrawn: its link no longer works.")
    return redirect(url_for(".overview"))


@blueprint.route("/invitations/import", methods=["GET", "POST"])
@login_first
def import_page() -> ResponseReturnValue:
    require_sysadmin(get_portal(), current_user.uid)
    form = ImportForm()
    outcomes, problems, status = None, None, 200
    if request.method == "POST":
        status = 400
        if form.validate():
            data = form.sheet.data.read(MAX_SHEET_BYTES + 1) if form.sheet.data else b""
            try:
                outcomes = import_sheet(get_portal(), data, actor=current_user.uid,
                                        dry_run=bool(form.dry_run.data), remote_addr=request.remote_addr)
                status = 200
            except SheetInvalid as invalid:
                problems = invalid.problems
    return render_template("invitations/import.html", form=form, outcomes=outcomes,
                           problems=problems), status


# The invited person's page.

@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
def accept(token: str) -> ResponseReturnValue:
    """GET shows the form (opening the link changes nothing: mail scanners open links too)."""
    portal = get_portal()
    try:
        invitation = invitation_for_link(portal, token)
    except LinkInvalid as error:
        return render_template("invitations/link_failed.html", reason=shown(error)), 400
    form = InvitationAcceptForm()
    if request.method == "GET" and invitation.display_name:
        form.display_name.data = invitation.display_name
    if form.validate_on_submit():
        acceptance = Acceptance(uid=(form.uid.data or "").strip(), display_name=form.display_name.data or "",
                                password=form.password.data or "")
        try:
            person = accept_invitation(portal, token, acceptance, remote_addr=request.remote_addr)
        except LinkInvalid as error:
            return render_template("invitations/link_failed.html", reason=shown(error)), 400
        except InvalidInput as refused:
            for name, reason in refused.errors.items():
                refuse(getattr(form, name), reason)
        except (WorkflowError, DirectoryError) as error:
            flash(shown(error), "error")
        else:
            flash(gettext("Your account %(uid)s is ready: log in with it.", uid=person.uid))
            return redirect(url_for("auth.login"))
    status = 400 if request.method == "POST" else 200
    groups = [group.name for slug in invitation.groups if (group := portal.catalogue.get(slug))]
    return render_template("invitations/accept.html", form=form, invitation=invitation,
                           groups=groups), status
