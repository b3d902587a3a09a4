"""The logged-in person as Flask-Login sees them, loaded from the directory on each request.

The one module that imports Flask-Login: it ships no type information (and typeshed
has no stubs for it), so the names the views use are typed here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec

import flask_login  # type: ignore[import-untyped]  # no py.typed marker, no stubs
from flask import Flask
from flask.typing import ResponseReturnValue

from ..directory import Person
from ..languages import Text
from ..resources import get_portal
from ..workflow import is_sysadmin, resume_session

P = ParamSpec("P")


class User(flask_login.UserMixin):  # type: ignore[misc]  # UserMixin is untyped (Flask-Login)
    """The logged-in person, known by their session's token (Flask-Login's "alternative
    token"), so ending the session in the store logs them out at once."""

    def __init__(self, person: Person, sysadmin: bool, session_token: str):
        self.person = person
        self.is_sysadmin = sysadmin
        self.session_token = session_token

    def get_id(self) -> str:
        return self.session_token

    @property
    def uid(self) -> str:
        return self.person.uid


# Flask-Login's proxy. It is a User in the views behind `login_required` or
# security.login_first; anywhere else ask `current_user.is_authenticated` first, since an
# anonymous visitor is Flask-Login's anonymous user, with none of User's own attributes.
current_user: User = flask_login.current_user


def login_required(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
    """Flask-Login's decorator: anonymous visitors go to the login page first."""
    wrapped: Callable[P, ResponseReturnValue] = flask_login.login_required(view)
    return wrapped


login_user: Callable[[User], bool] = flask_login.login_user
logout_user: Callable[[], bool] = flask_login.logout_user


def load_user(session_token: str) -> User | None:
    """None (logged out) once the session ended or idled, or the account is no longer active."""
    portal = get_portal()
    person = resume_session(portal, session_token)
    return User(person, is_sysadmin(portal, person), session_token) if person else None


def init_app(app: Flask, *, localize: Callable[[str], str]) -> None:
    """`localize` translates the flash that sends anonymous visitors to log in."""
    manager = flask_login.LoginManager(app)
    manager.localize_callback = localize
    manager.login_view = "auth.login"
    manager.login_message = Text("Please log in to see this page.")
    manager.session_protection = "strong"
    manager.user_loader(load_user)
