"""People acting on end dates in tests: a coordinator logged in, the page a form sends back to."""

from __future__ import annotations

import html

from flask import Flask
from werkzeug.test import TestResponse

from provisioner.directory import Directory

from job_helpers import add_volunteers
from portal_actions import ADMIN_PASSWORD, Visitor, given_totp


def coordinator(app: Flask, directory: Directory, group: str = "kitchen") -> Visitor:
    """cora0000, a coordinator of `group` (with two-step login, as coordinators must), logged in."""
    add_volunteers(directory, 1, groups=(group,), prefix="cora")
    directory.people.set_password("cora0000", ADMIN_PASSWORD)
    directory.groups.add_owner(f"wg-{group}", "cora0000")
    given_totp(app, "cora0000")
    cora = Visitor(app.test_client())
    assert cora.log_in("cora0000", ADMIN_PASSWORD).status_code == 302
    return cora


def flashed(visitor: Visitor, response: TestResponse) -> str:
    """The page the response sends back to, as a person reads it."""
    return html.unescape(visitor.client.get(response.location).get_data(as_text=True))
