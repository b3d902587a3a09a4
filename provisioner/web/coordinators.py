"""Sysadmins appoint and remove the coordinators of working groups and teams; the workflow
checks the actor."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..directory import DirectoryError
from ..resources import get_portal
from ..workflow import InvalidInput, WorkflowError, coordinators, set_coordinator
from ..workflow.coordinators import coordinated_groups_listed
from .forms import PortalForm
from .security import login_first
from .users import current_user

blueprint = Blueprint("coordinators", __name__, url_prefix="/admin/coordinators")


class AppointForm(PortalForm):
    uid = StringField("Username", validators=[DataRequired(), Length(max=64)],
                      description="An active account; someone not in the group becomes a member too")
    group = SelectField("Working group or team", choices=[])


def _appoint_form() -> AppointForm:
    form = AppointForm()
    form.group.choices = [(group.slug, group.title) for group in coordinated_groups_listed(get_portal())]
    return form


@blueprint.get("")
@login_first
def overview() -> ResponseReturnValue:
    return _page(_appoint_form())


def _page(form: AppointForm, status: int = 200) -> ResponseReturnValue:
    groups = coordinators(get_portal(), actor=current_user.uid)
    return render_template("admin/coordinators.html", groups=groups, form=form), status


@blueprint.post("")
@login_first
def appoint() -> ResponseReturnValue:
    form = _appoint_form()
    if not form.validate():
        return _page(form, 400)
    _change(form.uid.data or "", form.group.data or "", coordinates=True)
    return redirect(url_for(".overview"))


@blueprint.post("/<slug>/<uid>/remove")
@login_first
def remove(slug: str, uid: str) -> ResponseReturnValue:
    _change(uid, slug, coordinates=False)
    return redirect(url_for(".overview"))


def _change(uid: str, slug: str, *, coordinates: bool) -> None:
    """Ask the workflow, and flash what it did or why not, in words."""
    try:
        change = set_coordinator(get_portal(), uid, slug, coordinates=coordinates, actor=current_user.uid,
                                 remote_addr=request.remote_addr)
    except InvalidInput as error:
        flash("; ".join(error.errors.values()), "error")
    except (WorkflowError, DirectoryError) as error:
        flash(str(error), "error")
    else:
        flash(change.summary())
