"""Request-wide protections: headers, safe redirects, the sysadmin gate."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlsplit

from flask import Flask, Response, abort, flash, g, redirect, request, url_for
from flask_login import current_user

from ..resources import get_portal
from ..workflow import must_enrol

HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links in mails carry tokens: never hand the URL to another site.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# Where someone who must set up two-step login (TOTP) may still go before they do.
OPEN_BEFORE_ENROLMENT = frozenset({"static", "auth.login", "auth.second_step", "auth.logout",
                                   "auth.logout_everywhere", "totp.overview", "totp.enrol"})
OPEN_BLUEPRINTS_BEFORE_ENROLMENT = frozenset({"public", "health"})
ENROL_FIRST = ("Sysadmins and working-group coordinators must use two-step login: "
               "set it up here before going on.")


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        REMEMBER_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.before_request(_require_totp_enrolment)
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def must_enrol_first() -> bool:
    """Whether the logged-in person must use TOTP and has not set it up; once a request."""
    if not current_user.is_authenticated:
        return False
    if "must_enrol_first" not in g:
        g.must_enrol_first = must_enrol(get_portal(), current_user.person)
    return g.must_enrol_first


def _require_totp_enrolment():
    """Sysadmins and coordinators without TOTP reach no page but the set-up (and logging out):
    every admin and coordinator page, whoever wrote it, is behind this."""
    if (request.endpoint is None or request.endpoint in OPEN_BEFORE_ENROLMENT
            or request.blueprint in OPEN_BLUEPRINTS_BEFORE_ENROLMENT or not must_enrol_first()):
        return None
    return _to_enrolment()


def _to_enrolment() -> Response:
    flash(ENROL_FIRST, "error")
    # Paths with parts (a token from a mail, a uid) are not carried: they would land in logs.
    target = request.full_path.rstrip("?") if request.method == "GET" and not request.view_args else None
    return redirect(url_for("totp.enrol", next=target))


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return None
    return target


def sysadmin_required(view: Callable) -> Callable:
    """Anonymous people go to the login page; logged-in non-sysadmins get 403.

    A sysadmin (or coordinator) without TOTP is sent to the set-up first; the
    request-wide check does that already, this keeps it true for any admin view."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if must_enrol_first():
            return _to_enrolment()
        if not current_user.is_sysadmin:
            abort(403)
        return view(*args, **kwargs)
    return wrapper
