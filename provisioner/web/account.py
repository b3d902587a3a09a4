"""A person's own page: their account, working groups and access to each service."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ..resources import get_catalogue, get_portal, get_store
from ..store import jobs
from .access import service_access

blueprint = Blueprint("account", __name__, url_prefix="/account")


@blueprint.get("")
@login_required
def overview():
    person = current_user.person
    catalogue = get_catalogue()
    memberships = [catalogue.get(name.removeprefix("wg-"))
                   for name in get_portal().directory.groups.of(person.uid) if name.startswith("wg-")]
    with get_store().begin() as connection:
        latest = jobs.latest_for(connection, person.uid)
    return render_template("account.html", person=person,
                           working_groups=[wg for wg in memberships if wg is not None],
                           access=service_access(latest))
