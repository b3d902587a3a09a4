"""The logged-in person as Flask-Login sees them, loaded from the directory on each request."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager, UserMixin

from ..directory import Person
from ..resources import get_portal
from ..workflow import is_sysadmin, resume_session


class User(UserMixin):
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


def load_user(session_token: str) -> User | None:
    """None (logged out) once the session ended or idled, or the account is no longer active."""
    portal = get_portal()
    person = resume_session(portal, session_token)
    return User(person, is_sysadmin(portal, person), session_token) if person else None


def init_app(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please log in to see this page."
    manager.session_protection = "strong"
    manager.user_loader(load_user)
