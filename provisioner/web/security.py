"""Request-wide protections: headers, where forms come from, safe redirects, the sysadmin gate."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, redirect, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from ..resources import get_portal
from ..workflow import must_enrol
from .users import current_user

HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; object-src 'none'; "
                                "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Links in mails carry tokens: never hand the URL to another site. Not "no-referrer":
    # under it browsers send `Origin: null` with the portal's own forms (Fetch standard),
    # which _refuse_other_sites cannot tell from a forged request.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
# Where someone who must set up two-step login (TOTP) may still go before they do.
OPEN_BEFORE_ENROLMENT = frozenset({"static", "auth.login", "auth.second_step", "auth.logout",
                                   "auth.logout_everywhere", "totp.overview", "totp.enrol"})
OPEN_BLUEPRINTS_BEFORE_ENROLMENT = frozenset({"public", "health"})
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DEFAULT_PORTS = {"http": 80, "https": 443}

P = ParamSpec("P")


def init_app(app: Flask) -> None:
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        REMEMBER_COOKIE_SECURE=app.config["SECURE_COOKIES"],
        REMEMBER_COOKIE_HTTPONLY=True,
        MAX_CONTENT_LENGTH=256 * 1024,
        # Flask-WTF's own Referer check over HTTPS refused a form without a Referer as
        # "Form expired"; the Origin, else Referer, check below does that job for every
        # request, and with neither header the token decides, over HTTP and HTTPS alike.
        WTF_CSRF_SSL_STRICT=False,
    )
    # First of all request hooks: a forged request reaches no session, enrolment or view.
    app.before_request(_refuse_other_sites)
    app.before_request(_require_totp_enrolment)
    app.after_request(_add_headers)


def _add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


class SentFromAnotherSite(Exception):
    """A state-changing request that a page of another site sent: refused, nothing done."""


def _refuse_other_sites() -> None:
    """Refuse (SentFromAnotherSite) a state-changing request that a page of another site sent.

    Browsers send Origin with every POST (or, some older ones, only Referer); either must
    name the public URL's scheme, host and port. `Origin: null` (sandboxed frames, some
    redirects, file:// pages) is refused too. With neither header, as behind some privacy
    tools that strip both, Flask-WTF's CSRF token, checked on every such request after
    this, is the protection, as it always is.
    """
    if request.method not in STATE_CHANGING_METHODS:
        return None
    sender = request.headers.get("Origin") or request.headers.get("Referer")
    if not sender:
        return None
    public = _origin_of(current_app.config["PUBLIC_URL"])
    if public is not None and _origin_of(sender) == public:
        return None
    raise SentFromAnotherSite()


def _origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, default ports filled in; None when it has none."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range
        return None
    return scheme, parts.hostname, DEFAULT_PORTS[scheme] if port is None else port


def must_enrol_first() -> bool:
    """Whether the logged-in person must use TOTP and has not set it up; once a request."""
    if not current_user.is_authenticated:
        return False
    if "must_enrol_first" not in g:
        g.must_enrol_first = must_enrol(get_portal(), current_user.person)
    must: bool = g.must_enrol_first
    return must


def _require_totp_enrolment() -> BaseResponse | None:
    """Sysadmins and coordinators without TOTP reach no page but the set-up (and logging out):
    every admin and coordinator page, whoever wrote it, is behind this."""
    if (request.endpoint is None or request.endpoint in OPEN_BEFORE_ENROLMENT
            or request.blueprint in OPEN_BLUEPRINTS_BEFORE_ENROLMENT or not must_enrol_first()):
        return None
    return _to_enrolment()


def _to_enrolment() -> BaseResponse:
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


def login_first(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Anonymous visitors go to the login page, and come back after it.

    Who may do what is the workflow's to check (workflow/permissions.py): its
    NotAllowed answers 403. Someone who must set up TOTP first is sent there by the
    request-wide check above."""
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapper
