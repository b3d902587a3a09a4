"""The logged-in person as Flask-Login sees them, loaded from the directory on each request."""

from __future__ import annotations

from flask import Flask
from flask_login import LoginManager, UserMixin

from ..directory import Person, Status
from ..resources import get_portal
from ..workflow import is_sysadmin


class User(UserMixin):
    def __init__(self, person: Person, sysadmin: bool):
        self.person = person
        self.is_sysadmin = sysadmin

    def get_id(self) -> str:
        return self.person.uid

    @property
    def uid(self) -> str:
        return self.person.uid


def load_user(uid: str) -> User | None:
    """None (logged out) once the account is gone, suspended or no longer active."""
    portal = get_portal()
    person = portal.directory.people.find(uid)
    if person is None or person.pending or person.status != Status.ACTIVE:
        return None
    return User(person, is_sysadmin(portal, person))


def init_app(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "auth.login"
    manager.login_message = "Please log in to see this page."
    manager.session_protection = "strong"
    manager.user_loader(load_user)
