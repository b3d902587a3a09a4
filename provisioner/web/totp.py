"""Two-step login pages: the person's own set-up and recovery codes, and a sysadmin's reset.

Enrolment keeps the new secret in the Flask session until a first code confirms it;
only then is it stored (in LDAP). The QR code is drawn here, as an SVG data: URI, so
the page makes no request anywhere else.
"""

from __future__ import annotations

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from ..directory import DirectoryError
from ..resources import get_portal
from ..workflow import (
    InvalidInput,
    Portal,
    WorkflowError,
    confirm_enrolment,
    end_session,
    has_totp,
    new_secret,
    provisioning_uri,
    reset_totp,
    totp_required,
    totp_status,
)
from ..workflow.totp import ENROLMENT_TIME
from .auth import CodeForm, begin_session
from .forms import refuse
from .language import gettext, shown
from .security import login_first, safe_next
from .users import current_user, login_required

blueprint = Blueprint("totp", __name__)
# The Flask session's key for a secret shown but not confirmed yet.
PENDING_ENROLMENT = "totp_enrolment"


@blueprint.get("/account/totp")
@login_required
def overview() -> ResponseReturnValue:
    portal = get_portal()
    return render_template("totp/overview.html", status=totp_status(portal, current_user.uid),
                           required=totp_required(portal, current_user.person))


def _pending_secret(portal: Portal) -> str | None:
    """The secret shown to this person less than 15 minutes ago, if they are still setting up."""
    pending = session.get(PENDING_ENROLMENT)
    if (not isinstance(pending, dict) or pending.get("uid") != current_user.uid
            or not isinstance(pending.get("until"), int | float)
            or portal.clock().timestamp() > pending["until"]):
        return None
    return pending.get("secret")


@blueprint.route("/account/totp/enrol", methods=["GET", "POST"])
@login_required
def enrol() -> ResponseReturnValue:
    portal = get_portal()
    target = safe_next(request.args.get("next"))
    secret = _pending_secret(portal)
    form = CodeForm()
    form.code.description = gettext("The 6 digits the app shows now")
    if request.method == "POST" and secret is None:
        flash(gettext("This set-up took too long and starts again: add the new key below to your app."),
              "error")
    elif secret is not None and form.validate_on_submit():
        person, old_session = current_user.person, current_user.session_token
        try:
            codes = confirm_enrolment(portal, person.uid, secret, form.code.data or "",
                                      remote_addr=request.remote_addr)
        except InvalidInput as refused:
            refuse(form.code, refused.errors["code"])
        except WorkflowError as error:
            flash(shown(error), "error")
            secret = None
        else:
            # A new session once the second factor is confirmed; the old one ends.
            end_session(portal, old_session)
            begin_session(portal, person)
            return render_template("totp/recovery_codes.html", codes=codes,
                                   target=target or url_for("account.overview"))
    if secret is None:
        secret = new_secret()
        until = portal.clock() + ENROLMENT_TIME
        session[PENDING_ENROLMENT] = {"uid": current_user.uid, "secret": secret, "until": until.timestamp()}
    uri = provisioning_uri(secret, current_user.uid, current_app.config["OCCUPATION_NAME"])
    return render_template(
        "totp/enrol.html", form=form, qr_code=segno.make(uri, error="m").svg_data_uri(scale=5),
        secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
        replacing=has_totp(portal, current_user.uid),
    ), 400 if request.method == "POST" else 200


@blueprint.post("/admin/people/<uid>/reset-totp")
@login_first
def reset(uid: str) -> ResponseReturnValue:
    try:
        reset_totp(get_portal(), uid, actor=current_user.uid, remote_addr=request.remote_addr)
    except (WorkflowError, DirectoryError) as error:
        flash(gettext("%(uid)s: two-step login not reset: %(reason)s", uid=uid, reason=shown(error)), "error")
    else:
        flash(gettext("%(uid)s's two-step login is reset: they are logged out everywhere and were told "
                      "by mail.", uid=uid))
    return redirect(url_for("admin.people"))

