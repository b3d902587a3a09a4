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
from ..workflow.coordinators import CoordinatorChange, coordinated_groups_listed
from .forms import PortalForm
from .language import catalogue_text, gettext, shown
from .language import lazy_gettext as _l
from .security import login_first
from .users import current_user

blueprint = Blueprint("coordinators", __name__, url_prefix="/admin/coordinators")


class AppointForm(PortalForm):
    uid = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)],
                      description=_l("An active account; someone not in the group becomes a member too"))
    group = SelectField(_l("Working group or team"), choices=[])


def _appoint_form() -> AppointForm:
    form = AppointForm()
    form.group.choices = [(group.slug, catalogue_text(group.title))
                          for group in coordinated_groups_listed(get_portal())]
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
        flash("; ".join(shown(reason) for reason in error.errors.values()), "error")
    except (WorkflowError, DirectoryError) as error:
        flash(shown(error), "error")
    else:
        flash(_summary(change))


def _summary(change: CoordinatorChange) -> str:
    """The change's summary in the page's language, the group named as the page names it."""
    group = catalogue_text(change.group.title)
    return " ".join(gettext(said.msgid, **{**said.values, "group": group}) for said in change.sentences())
