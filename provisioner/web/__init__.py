"""HTTP: one blueprint per concern. Views validate input and call the workflow."""

from __future__ import annotations

from flask import Flask, current_app, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect  # type: ignore[import-untyped]  # no py.typed, no stubs
from werkzeug.exceptions import HTTPException, NotFound

from ..directory import DirectoryUnavailable
from ..mail import MailError
from ..workflow import NotAllowed, StoreUnavailable
from ..workflow.provisioning import NoSuchJob
from . import (
    account,
    admin,
    auth,
    coordinators,
    dashboard,
    drift,
    end_dates,
    form_errors,
    groups,
    health,
    invitations,
    jobs,
    language,
    public,
    security,
    settings,
    totp,
    users,
)
from .language import gettext as _
from .language import shown

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    security.init_app(app)
    csrf.init_app(app)
    users.init_app(app, localize=language.gettext)
    form_errors.init_app(app)
    language.init_app(app)
    for module in (health, public, auth, account, dashboard, admin, coordinators, jobs, groups, settings,
                   totp, invitations, end_dates, drift):
        app.register_blueprint(module.blueprint)
    app.register_error_handler(CSRFError, _csrf_failed)
    for error in (DirectoryUnavailable, StoreUnavailable, MailError):
        app.register_error_handler(error, _back_end_failed)
    app.register_error_handler(NotAllowed, _not_allowed)
    app.register_error_handler(NoSuchJob, lambda _error: _http_error(NotFound()))
    for status in (403, 404, 413):
        app.register_error_handler(status, _http_error)


def _csrf_failed(error: CSRFError) -> ResponseReturnValue:
    return render_template("error.html", title=_("Form expired"),
                           message=_("This form was too old or not sent from this site. "
                                     "Go back, reload the page and send it again.")), 400


def _back_end_failed(error: Exception) -> ResponseReturnValue:
    current_app.logger.error("back end failed: %s", error)
    return render_template("error.html", title=_("Please try again in a few minutes"),
                           message=_("Part of the portal is not reachable right now, so nothing "
                                     "was saved. The error is logged for the sysadmins.")), 503


def _not_allowed(error: NotAllowed) -> ResponseReturnValue:
    return render_template("error.html", title=_("Forbidden"), message=shown(error)), 403


def _http_error(error: HTTPException) -> ResponseReturnValue:
    messages = {403: (_("Forbidden"), _("You may not open this page.")),
                404: (_("Not Found"), _("There is no such page.")),
                413: (_("Request Entity Too Large"), _("What you sent is too large."))}
    code = error.code or 500  # each exception registered above has its code
    title, message = messages[code]
    return render_template("error.html", title=title, message=message), code
