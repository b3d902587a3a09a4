"""A person's own page: their account, working groups and access to each service."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ..resources import get_portal
from ..workflow import working_groups_of
from ..workflow.group_links import group_links
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
    links = [group_links(portal.services, group) for group in groups if group is not None]
    return render_template("account.html", person=person, working_groups=links,
                           access=service_access(latest_job_of(portal, person.uid)))
