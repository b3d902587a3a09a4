"""Invitations: sysadmins and coordinators invite, list and withdraw; sysadmins import a
sign-up sheet; the invited person accepts on the link's page. The workflow checks the actor."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import BooleanField, DateField, EmailField, FileField, SelectField, StringField
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; stubs: 3.2
from wtforms.validators import DataRequired, Length, Optional

from .. import languages
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
from .language import catalogue_text, gettext, open_in, page_language_code, shown
from .language import lazy_gettext as _l
from .security import login_first
from .users import current_user

blueprint = Blueprint("invitations", __name__)


def _language_field() -> SelectField:
    """The invitation's language; the workflow refuses one without a catalogue, in its words."""
    return SelectField(_l("Language of the invitation"), validate_choice=False,
                       description=_l("Its mail, the page that accepts it and the account are in "
                                      "this language"))


class InviteForm(PortalForm):
    mail = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    display_name = StringField(_l("Their name (optional: filled in on the form for them)"),
                               validators=[Length(max=128)])
    groups = CheckboxesField(_l("Working groups"), choices=[])
    until = DateField(_l("Last day of the account (optional)"), validators=[Optional()],
                      description=_l("Leave empty for an account that stays"))
    language = _language_field()


class ImportForm(PortalForm):
    sheet = FileField(_l("Sign-up sheet (CSV)"), validators=[DataRequired()],
                      description=_l("A header row with name, email, groups and optionally end_date; "
                                     "up to %(rows)d people and %(kilobytes)d KB",
                                     rows=MAX_SHEET_ROWS, kilobytes=MAX_SHEET_BYTES // 1000))
    dry_run = BooleanField(_l("Only check the file and show what would be sent"))
    language = _language_field()


def _offer_languages(field: SelectField) -> None:
    """Each language in its own name; the page's is chosen unless another was sent."""
    field.choices = [(code, languages.own_name(code)) for code in languages.available()]
    if field.data is None:
        field.data = page_language_code()


def _invite_form() -> InviteForm:
    form = InviteForm()
    _offer_languages(form.language)
    form.groups.choices = [SelectChoice(group.slug, catalogue_text(group.name))
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
                            display_name=form.display_name.data or "",
                            language=form.language.data or "", remote_addr=request.remote_addr)
    except InvalidInput as refused:
        for name, reason in refused.errors.items():
            refuse(getattr(form, name), reason)
        return _page(form, 400)
    except (WorkflowError, DirectoryError) as error:  # the address is in use, mostly
        refuse(form.mail, error)
        return _page(form, 400)
    flash(gettext("Invitation %(number)d is sent to %(mail)s.", number=invitation.id, mail=invitation.mail))
    return redirect(url_for(".overview"))


@blueprint.post("/invitations/<int:invitation_id>/withdraw")
@login_first
def withdraw_one(invitation_id: int) -> ResponseReturnValue:
    try:
        withdrawn = withdraw(get_portal(), invitation_id, actor=current_user.uid,
                             remote_addr=request.remote_addr)
    except WorkflowError as error:
        flash(shown(error), "error")
    else:
        flash(gettext("Invitation %(number)d to %(mail)s is withdrawn: its link no longer works.",
                      number=withdrawn.id, mail=withdrawn.mail))
    return redirect(url_for(".overview"))


@blueprint.route("/invitations/import", methods=["GET", "POST"])
@login_first
def import_page() -> ResponseReturnValue:
    require_sysadmin(get_portal(), current_user.uid)
    form = ImportForm()
    _offer_languages(form.language)
    outcomes, problems, status = None, None, 200
    if request.method == "POST":
        status = 400
        if form.validate():
            data = form.sheet.data.read(MAX_SHEET_BYTES + 1) if form.sheet.data else b""
            try:
                outcomes = import_sheet(get_portal(), data, actor=current_user.uid,
                                        dry_run=bool(form.dry_run.data), language=form.language.data or "",
                                        remote_addr=request.remote_addr)
                status = 200
            except SheetInvalid as invalid:
                problems = invalid.problems
            except InvalidInput as refused:
                refuse(form.language, refused.errors["language"])
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
    open_in(invitation.language)
    form = InvitationAcceptForm()
    if request.method == "GET" and invitation.display_name:
        form.display_name.data = invitation.display_name
    if form.validate_on_submit():
        acceptance = Acceptance(uid=(form.uid.data or "").strip(), display_name=form.display_name.data or "",
                                password=form.password.data or "", language=page_language_code())
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
