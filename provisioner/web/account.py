"""A person's own page: their account, working groups and access to each service; the
download of everything the project holds about them, and deleting their account."""

from __future__ import annotations

import json

from flask import Blueprint, Response, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from ..directory import DirectoryError
from ..resources import get_portal
from ..workflow import InvalidInput, WorkflowError, has_totp, working_groups_of
from ..workflow.group_links import group_links
from ..workflow.limits import TooManyAttempts
from ..workflow.own_data import delete_account, own_data
from ..workflow.provisioning import latest_job_of
from .access import service_access
from .forms import PortalForm, refuse
from .language import gettext, shown
from .language import lazy_gettext as _l
from .users import current_user, login_required, logout_user

blueprint = Blueprint("account", __name__, url_prefix="/account")


class DeleteAccountForm(PortalForm):
    password = PasswordField(_l("Your password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    code = StringField(_l("The code of your authenticator app, or a recovery code"),
                       validators=[Length(max=64)], render_kw={"autocomplete": "one-time-code"})


@blueprint.get("")
@login_required
def overview() -> ResponseReturnValue:
    person = current_user.person
    portal = get_portal()
    groups = [portal.catalogue.get(slug) for slug in working_groups_of(portal, person.uid)]
    links = [group_links(portal.services, group) for group in groups if group is not None]
    return render_template("account.html", person=person, working_groups=links,
                           access=service_access(latest_job_of(portal, person.uid)))


@blueprint.get("/data")
@login_required
def download() -> ResponseReturnValue:
    """Everything the project holds about the logged-in person, as a JSON attachment."""
    data = own_data(get_portal(), current_user.uid, actor=current_user.uid)
    # The uid is ASCII letters, digits and hyphens (UID_PATTERN): a safe file name as it is.
    name = f"{current_user.uid}-data.json"
    return Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@blueprint.route("/delete", methods=["GET", "POST"])
@login_required
def delete() -> ResponseReturnValue:
    portal = get_portal()
    uid = current_user.uid
    form = DeleteAccountForm()
    asks_code = has_totp(portal, uid)
    status = 200
    if form.validate_on_submit():
        try:
            delete_account(portal, uid, form.password.data or "", form.code.data or None,
                           actor=uid, remote_addr=request.remote_addr)
        except TooManyAttempts as refused:
            refuse(form.password, refused)
            return (render_template("account_delete.html", form=form, asks_code=asks_code), 429,
                    {"Retry-After": str(refused.retry_after)})
        except InvalidInput as refused:
            for name, reason in refused.errors.items():
                refuse(getattr(form, name), reason)
        except WorkflowError as error:
            flash(shown(error), "error")
        except DirectoryError:
            # Stopped after the store's part: the sessions are gone, the entry and password stay.
            logout_user()
            session.clear()
            flash(gettext("Deleting your account stopped half-way: the directory did not answer as it "
                          "should. Log in and delete it again to finish."), "error")
            return redirect(url_for("auth.login"))
        else:
            logout_user()
            session.clear()
            flash(gettext("Your account is deleted. A mail tells you so; your access to the lists, "
                          "the wiki and Redmine is being taken away."))
            return redirect(url_for("public.index"))
        status = 400
    elif request.method == "POST":
        status = 400
    return render_template("account_delete.html", form=form, asks_code=asks_code), status
