"""The sysadmins' home: each service's people by state and the last days' jobs, as small
SVG charts drawn here with the numbers beside them."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ..languages import Text
from ..resources import get_portal
from ..workflow.dashboard import dashboard
from .access import SERVICE_LABELS
from .charts import bars, columns
from .security import login_first
from .users import current_user

blueprint = Blueprint("dashboard", __name__, url_prefix="/admin")


@blueprint.get("")
@login_first
def home() -> ResponseReturnValue:
    found = dashboard(get_portal(), actor=current_user.uid)
    services = [(SERVICE_LABELS[counts.service], counts.offered,
                 bars([(Text("Provisioned"), counts.provisioned), (Text("Waiting"), counts.waiting),
                       (Text("Failed"), counts.failed)]
                      + ([(Text("Drifted"), counts.drifted)] if counts.drifted is not None else []),
                      found.people))
                for counts in found.services]
    days = columns([(day.day, day.succeeded, day.failed) for day in found.days])
    return render_template("admin/dashboard.html", people=found.people, services=services, days=days,
                           last_check=found.last_check)
