"""A person's own page: their account, working groups and access to each service."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ..resources import get_portal
from ..workflow import working_groups_of
from ..workflow.provisioning import latest_job_of
from .access import service_access
from .users import current_user, login_required

blueprint = Blueprint("account", __name__, url_prefix="/account")


@blueprint.get("")
@login_required
def overview() -> ResponseReturnValue:
    person = current_user.person
    portal = get_portal()
    groups = [portal.catalogue.get(slug) for slug in working_groups_of(portal, person.uid)]
    return render_template("account.html", person=person,
                           working_groups=[wg for wg in groups if wg is not None],
                           access=service_access(latest_job_of(portal, person.uid)))
