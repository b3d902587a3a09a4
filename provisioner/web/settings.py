"""Password reset by email, and a person's own changes: name, email address, password."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..resources import get_portal
from ..workflow import (
    InvalidInput,
    LinkInvalid,
    WorkflowError,
    change_display_name,
    change_password,
    check_email_change_link,
    check_reset_link,
    confirm_email_change,
    request_email_change,
    request_password_reset,
    reset_password,
)
from .forms import PortalForm, refuse
from .language import gettext, shown
from .language import lazy_gettext as _l
from .users import current_user, login_required

blueprint = Blueprint("settings", __name__)

NEW_PASSWORD = {"autocomplete": "new-password"}
CURRENT_PASSWORD = {"autocomplete": "current-password"}


class ResetRequestForm(PortalForm):
    mail = EmailField(_l("Your account's email address"), validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(PortalForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                             description=_l("At least 12 characters; a few unusual words work well"),
                             render_kw=NEW_PASSWORD)
    password_again = PasswordField(_l("New password again"), render_kw=NEW_PASSWORD, validators=[
        DataRequired(), EqualTo("password", message=_l("the two passwords differ"))])


class ChangePasswordForm(NewPasswordForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)],
                                 render_kw=CURRENT_PASSWORD)


class DisplayNameForm(PortalForm):
    display_name = StringField(_l("Your name, as others will see it"),
                               validators=[DataRequired(), Length(max=128)])


class EmailChangeForm(PortalForm):
    mail = EmailField(_l("New email address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)],
                             description=_l("To be sure it is you asking"), render_kw=CURRENT_PASSWORD)


def _reset_lifetime() -> timedelta:
    return timedelta(minutes=current_app.config["RESET_LINK_MINUTES"])


def _show_refused(form: PortalForm, refused: InvalidInput) -> None:
    for name, reason in refused.errors.items():
        refuse(getattr(form, name), reason)


def _link_failed(error: LinkInvalid, retry: str) -> tuple[str, int]:
    return render_template("settings/link_failed.html", reason=shown(error), retry=retry), 400


# Password reset: for people who are not logged in.

@blueprint.route("/reset", methods=["GET", "POST"])
def reset_request() -> ResponseReturnValue:
    form = ResetRequestForm()
    if form.validate_on_submit():
        try:
            request_password_reset(get_portal(), form.mail.data or "", lifetime=_reset_lifetime(),
                                   remote_addr=request.remote_addr)
        except InvalidInput as refused:
            _show_refused(form, refused)
        else:
            return redirect(url_for(".reset_sent"))
    status = 400 if request.method == "POST" else 200
    return render_template("settings/reset_request.html", form=form), status


@blueprint.get("/reset/sent")
def reset_sent() -> ResponseReturnValue:
    return render_template("settings/reset_sent.html",
                           minutes=current_app.config["RESET_LINK_MINUTES"])


@blueprint.route("/reset/<token>", methods=["GET", "POST"])
def reset_with_link(token: str) -> ResponseReturnValue:
    """GET checks the link and shows the form; only the POST uses it."""
    form = NewPasswordForm()
    portal = get_portal()
    try:
        person = check_reset_link(portal, token, lifetime=_reset_lifetime())
        if form.validate_on_submit():
            reset_password(portal, token, form.password.data or "", lifetime=_reset_lifetime(),
                           remote_addr=request.remote_addr)
            flash(gettext("Your new password is set and you are logged out everywhere. Log in with it."))
            return redirect(url_for("auth.login"))
    except LinkInvalid as error:
        return _link_failed(error, url_for(".reset_request"))
    except InvalidInput as refused:
        _show_refused(form, refused)
    status = 400 if request.method == "POST" else 200
    return render_template("settings/reset_form.html", form=form, person=person), status


# Changes to one's own account.

@blueprint.route("/account/name", methods=["GET", "POST"])
@login_required
def name() -> ResponseReturnValue:
    form = DisplayNameForm(data={"display_name": current_user.person.display_name})
    if form.validate_on_submit():
        try:
            change_display_name(get_portal(), current_user.uid, form.display_name.data or "",
                                remote_addr=request.remote_addr)
        except InvalidInput as refused:
            _show_refused(form, refused)
        except WorkflowError as error:
            flash(shown(error), "error")
        else:
            flash(gettext("Your name is changed."))
            return redirect(url_for("account.overview"))
    status = 400 if request.method == "POST" else 200
    return render_template("settings/name.html", form=form), status


@blueprint.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> ResponseReturnValue:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            ended = change_password(get_portal(), current_user.uid, form.old_password.data or "",
                                    form.password.data or "", keep_session=current_user.session_token,
                                    remote_addr=request.remote_addr)
        except InvalidInput as refused:
            _show_refused(form, refused)
        except WorkflowError as error:
            flash(shown(error), "error")
        else:
            flash(gettext("Your password is changed. %(num)d other session(s) were logged out.", num=ended)
                  if ended else gettext("Your password is changed."))
            return redirect(url_for("account.overview"))
    status = 400 if request.method == "POST" else 200
    return render_template("settings/password.html", form=form), status


@blueprint.route("/account/email", methods=["GET", "POST"])
@login_required
def email() -> ResponseReturnValue:
    form = EmailChangeForm()
    if form.validate_on_submit():
        portal = get_portal()
        try:
            new_mail = request_email_change(portal, current_user.uid, form.mail.data or "",
                                            form.password.data or "", remote_addr=request.remote_addr)
        except InvalidInput as refused:
            _show_refused(form, refused)
        except WorkflowError as error:
            flash(shown(error), "error")
        else:
            flash(gettext("We sent a link to %(new_mail)s. Open it within %(hours)d hours to confirm the "
                          "address; until then your address stays %(mail)s.", new_mail=new_mail,
                          hours=portal.verify_link_hours, mail=current_user.person.mail))
            return redirect(url_for("account.overview"))
    status = 400 if request.method == "POST" else 200
    return render_template("settings/email.html", form=form), status


@blueprint.route("/account/email/<token>", methods=["GET", "POST"])
def email_confirm(token: str) -> ResponseReturnValue:
    """The link mailed to the new address: GET shows a button, the POST changes the address.

    No login is asked for: the link itself proves the new mailbox, and it names the account.
    """
    portal = get_portal()
    try:
        person, new_mail = check_email_change_link(portal, token)
        if request.method == "POST":  # CSRFProtect has checked the form's token already
            confirm_email_change(portal, token, remote_addr=request.remote_addr)
            return render_template("settings/email_changed.html", new_mail=new_mail)
    except LinkInvalid as error:
        return _link_failed(error, url_for(".email"))
    return render_template("settings/email_confirm.html", token=token, person=person,
                           new_mail=new_mail)

