"""Logging in (password, then a TOTP code for those who enrolled) and out.

Between the two steps the person is not logged in: the Flask session holds only
their uid and a deadline, and the server-side session (the token in the cookie)
begins after the second step.
"""

from __future__ import annotations

from typing import TypedDict

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..directory import Person
from ..resources import get_portal
from ..workflow import (
    InvalidInput,
    Portal,
    WorkflowError,
    end_all_sessions,
    end_session,
    is_sysadmin,
    must_enrol,
    start_session,
)
from ..workflow.limits import TooManyAttempts, limited_log_in, limited_second_factor
from ..workflow.totp import LOGIN_CODE_TIME
from .forms import LoginForm, PortalForm, refuse
from .language import gettext, shown
from .language import lazy_gettext as _l
from .security import safe_next
from .users import User, current_user, login_required, login_user, logout_user

blueprint = Blueprint("auth", __name__)
# The Flask session's key for "password accepted, code still to come".
PENDING_LOGIN = "second_factor_pending"


class PendingLogin(TypedDict):
    """What the Flask session holds under PENDING_LOGIN."""

    uid: str
    until: float        # a timestamp: the code must come before
    next: str | None    # where to go after logging in, if safe


class CodeForm(PortalForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=64)],
                       description=_l("6 digits from your authenticator app, or a recovery code"),
                       render_kw={"autocomplete": "one-time-code", "inputmode": "text",
                                  "autocapitalize": "none", "spellcheck": "false"})


def begin_session(portal: Portal, person: Person) -> None:
    """Log the person in on a new server-side session and a cleared cookie session, so
    nothing planted before (session fixation) or left from an earlier step survives."""
    session.clear()
    token = start_session(portal, person, remote_addr=request.remote_addr)
    login_user(User(person, is_sysadmin(portal, person), token))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        portal = get_portal()
        try:
            person = limited_log_in(portal, form.uid.data or "", form.password.data or "",
                                    remote_addr=request.remote_addr)
        except TooManyAttempts as refused:
            refuse(form.password, refused)
            return render_template("login.html", form=form), 429, {"Retry-After": str(refused.retry_after)}
        if person is not None:
            session.clear()
            if person.totp:  # as read by the login, a moment ago
                until = portal.clock() + LOGIN_CODE_TIME
                session[PENDING_LOGIN] = PendingLogin(uid=person.uid, until=until.timestamp(), next=target)
                return redirect(url_for(".second_step"))
            begin_session(portal, person)
            if must_enrol(portal, person):
                return redirect(url_for("totp.enrol", next=target))
            return redirect(target or _home())
        # The same words for everyone (nobody learns who has an account), pointing those
        # whose account ended to the renewal link of the mail that told them so.
        refuse(form.password, gettext("Wrong username or password, or the account is not active yet. "
                                      "If your account has ended, ask for renewal with the link in "
                                      "the mail that said so."))
        return render_template("login.html", form=form), 401
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target or _home())
    return render_template("login.html", form=form), 400 if request.method == "POST" else 200


def _home() -> str:
    """Where a logged-in person lands: the dashboard for a sysadmin, their account for anyone else."""
    return url_for("dashboard.home") if current_user.is_sysadmin else url_for("account.overview")


def _pending_login(portal: Portal) -> PendingLogin | None:
    """The uid (and where to go next) of a password accepted less than 5 minutes ago."""
    pending = session.get(PENDING_LOGIN)
    if (not isinstance(pending, dict) or not isinstance(pending.get("uid"), str)
            or not isinstance(pending.get("until"), int | float)
            or portal.clock().timestamp() > pending["until"]):
        return None
    return PendingLogin(uid=pending["uid"], until=pending["until"], next=pending.get("next"))


@blueprint.route("/login/code", methods=["GET", "POST"])
def second_step() -> ResponseReturnValue:
    portal = get_portal()
    pending = _pending_login(portal)
    if pending is None and current_user.is_authenticated:
        return redirect(url_for("account.overview"))
    if pending is None:
        session.pop(PENDING_LOGIN, None)
        flash(gettext("Please enter your username and password again: the page for the code stays open "
                      "%(minutes)d minutes.", minutes=int(LOGIN_CODE_TIME.total_seconds() // 60)), "error")
        return redirect(url_for(".login"))
    form = CodeForm()
    if not form.validate_on_submit():
        status = 401 if request.method == "POST" else 200
        return render_template("totp/code.html", form=form), status
    try:
        done = limited_second_factor(portal, pending["uid"], form.code.data or "",
                                     remote_addr=request.remote_addr)
    except TooManyAttempts as refused:
        refuse(form.code, refused)
        return render_template("totp/code.html", form=form), 429, {"Retry-After": str(refused.retry_after)}
    except InvalidInput as refused:
        refuse(form.code, refused.errors["code"])
        return render_template("totp/code.html", form=form), 401
    except WorkflowError as error:
        session.pop(PENDING_LOGIN, None)
        flash(shown(error), "error")
        return redirect(url_for(".login"))
    target = safe_next(pending.get("next"))
    begin_session(portal, done.person)
    if done.recovery_code_used:
        flash(gettext("You logged in with a recovery code; %(left)d left, each usable once. If you "
                      "lost your authenticator, set up a new one on the two-step login page.",
                      left=done.recovery_codes_left))
    return redirect(target or _home())


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        end_session(get_portal(), current_user.session_token)
    logout_user()
    session.clear()
    flash(gettext("You are logged out."))
    return redirect(url_for("public.index"))


@blueprint.post("/logout-everywhere")
@login_required
def logout_everywhere() -> ResponseReturnValue:
    """End every session of this person: other browsers, other devices, this one."""
    uid = current_user.uid
    end_all_sessions(get_portal(), uid, actor=uid, remote_addr=request.remote_addr)
    logout_user()
    session.clear()
    flash(gettext("You are logged out everywhere."))
    return redirect(url_for("public.index"))
