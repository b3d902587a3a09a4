"""Pages for everyone: the welcome page, registration, the verification link."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # new in WTForms 3.3; stubs: 3.2

from ..resources import get_catalogue, get_portal
from ..workflow import InvalidInput, LinkInvalid, Registration, register, verify_email
from ..workflow.limits import TooManyAttempts
from .forms import RegistrationForm, refuse
from .language import catalogue_text, get_locale, shown

blueprint = Blueprint("public", __name__)


@blueprint.get("/")
def index() -> ResponseReturnValue:
    return render_template("index.html", catalogue=get_catalogue())


@blueprint.route("/register", methods=["GET", "POST"])
def register_volunteer() -> ResponseReturnValue:
    form = RegistrationForm()
    form.groups.choices = [SelectChoice(wg.slug, catalogue_text(wg.name)) for wg in get_catalogue()]
    if form.validate_on_submit():
        registration = Registration(
            uid=(form.uid.data or "").strip(), display_name=form.display_name.data or "",
            mail=(form.mail.data or "").strip(), password=form.password.data or "",
            groups=tuple(form.groups.data or ()), availability=form.availability.data,
            skills=tuple(s.strip() for s in (form.skills.data or "").split(",") if s.strip()),
            note=form.note.data or "", language=str(get_locale()),
        )
        try:
            register(get_portal(), registration, remote_addr=request.remote_addr)
        except InvalidInput as refused:
            for name, reason in refused.errors.items():
                refuse(getattr(form, name), reason)
        except TooManyAttempts as refused:
            flash(shown(refused), "error")
            return (render_template("register.html", form=form), 429,
                    {"Retry-After": str(refused.retry_after)})
        else:
            return redirect(url_for(".check_inbox"))
    status = 400 if request.method == "POST" else 200
    return render_template("register.html", form=form), status


@blueprint.get("/register/sent")
def check_inbox() -> ResponseReturnValue:
    return render_template("check_inbox.html")


@blueprint.get("/verify/<token>")
def verify(token: str) -> ResponseReturnValue:
    """GET shows a button; only the POST uses the link (mail scanners open links too)."""
    return render_template("verify.html", token=token)


@blueprint.post("/verify/<token>")
def confirm(token: str) -> ResponseReturnValue:
    try:
        verify_email(get_portal(), token, remote_addr=request.remote_addr)
    except LinkInvalid as error:
        return render_template("verify_failed.html", reason=shown(error)), 400
    return render_template("verified.html")
