"""Shared pieces of the attack suite: accounts to attack, and the state that must not change."""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from provisioner.directory import NewPerson, Status
from provisioner.resources import get_store
from provisioner.store import schema

from portal_actions import VOLUNTEER_PASSWORD, Visitor, given_totp

# Tables an attack must leave alone (the audit log and sessions may record the attempt).
GUARDED_TABLES = (schema.used_tokens, schema.jobs, schema.job_targets, schema.group_requests,
                  schema.totp_recovery_codes, schema.invitations)


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def make_account(app, directory):
    """make_account(uid, groups=(), coordinates=(), log_in=True): an active account, owner of
    `coordinates` (with TOTP, as coordinators must), logged in in a browser of its own."""
    def make(uid: str, *, groups=(), coordinates=(), log_in: bool = True) -> Visitor | None:
        directory.people.add(NewPerson(uid=uid, display_name=f"{uid.title()} Person",
                                       mail=f"{uid}@example.org", status=Status.ACTIVE), pending=False)
        directory.people.set_password(uid, VOLUNTEER_PASSWORD)
        for slug in groups:
            directory.groups.add_member(f"wg-{slug}", uid)
        for slug in coordinates:
            directory.groups.add_owner(f"wg-{slug}", uid)
        if coordinates:
            given_totp(app, uid)
        if not log_in:
            return None
        browser = Visitor(app.test_client())
        assert browser.log_in(uid, VOLUNTEER_PASSWORD).status_code == 302
        return browser
    return make


@pytest.fixture
def store_rows(app):
    """store_rows(): every row of the guarded tables, to compare before and after an attack."""
    def rows() -> dict[str, list]:
        with app.app_context(), get_store().begin() as connection:
            return {table.name: sorted(map(repr, connection.execute(sa.select(table)).all()))
                    for table in GUARDED_TABLES}
    return rows
