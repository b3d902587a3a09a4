"""Logging in and out."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..resources import get_portal
from ..workflow import end_all_sessions, end_session, is_sysadmin, log_in, start_session
from .forms import LoginForm
from .security import safe_next
from .users import User

blueprint = Blueprint("auth", __name__)


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    target = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        portal = get_portal()
        person = log_in(portal, form.uid.data, form.password.data, remote_addr=request.remote_addr)
        if person is not None:
            session.clear()  # a new session at login: nothing planted before survives
            token = start_session(portal, person, remote_addr=request.remote_addr)
            login_user(User(person, is_sysadmin(portal, person), token))
            return redirect(target or url_for("account.overview"))
        form.password.errors.append("Wrong username or password, or the account is not active yet.")
        return render_template("login.html", form=form), 401
    if current_user.is_authenticated and request.method == "GET":
        return redirect(target or url_for("account.overview"))
    return render_template("login.html", form=form)


@blueprint.post("/logout")
def logout():
    if current_user.is_authenticated:
        end_session(get_portal(), current_user.session_token)
    logout_user()
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("public.index"))


@blueprint.post("/logout-everywhere")
@login_required
def logout_everywhere():
    """End every session of this person: other browsers, other devices, this one."""
    uid = current_user.uid
    end_all_sessions(get_portal(), uid, actor=uid, remote_addr=request.remote_addr)
    logout_user()
    session.clear()
    flash("You are logged out everywhere.")
    return redirect(url_for("public.index"))
